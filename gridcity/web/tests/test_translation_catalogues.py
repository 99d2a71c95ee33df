"""The English catalogues are complete: every string marked for translation in a template, in
Python or in a script under gridcity/ has its English text in a compiled catalogue, and no
template holds Chinese outside a translation tag.

The strings are extracted as Django does it (makemessages, which runs GNU xgettext on the
templates' `templatize` output, the Python files and the scripts), from a copy of the package,
so the checkout's catalogues are never touched. The copy also gets a probe of each kind that
nobody translated: the check must name those, or it could not fail."""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polib
import pytest
from django.core.management import call_command
from django.template.base import Lexer, TokenType
from django.utils.translation.trans_real import DjangoTranslation

PACKAGE = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")

# Tests, migrations and fixtures are not interface; vendored scripts bring their own strings.
IGNORED = ["tests", "security_tests", "migrations", "testing.py", "testenv.py", "vendor"]

# Strings nobody translated, planted in the copy only: (path in the package, text, msgid line).
PROBES = {
    "web/templates/web/translation_probe.html": (
        '<h1>{% load i18n %}</h1>\n<p>{% translate "探针：未翻译的模板文字" %}</p>\n',
        2,
        "探针：未翻译的模板文字",
    ),
    "web/translation_probe.py": (
        'from django.utils.translation import gettext as _\n\nLABEL = _("探针：未翻译的代码文字")\n',
        3,
        "探针：未翻译的代码文字",
    ),
    "web/static/web/translation_probe.js": (
        '"use strict";\nconst label = gettext("探针：未翻译的脚本文字");\n',
        2,
        "探针：未翻译的脚本文字",
    ),
}


@dataclass(frozen=True)
class Untranslated:
    place: str  # "web/templates/web/x.html:12"
    msgid: str

    def __str__(self) -> str:
        return f"{self.place}: {self.msgid}"


def copy_sources(target: Path) -> Path:
    """The package's sources without its catalogues, plus the probes; returns the copy."""
    copy = target / "gridcity"
    shutil.copytree(
        PACKAGE,
        copy,
        ignore=shutil.ignore_patterns("__pycache__", "locale", "*.po", "*.mo", "*.png", "*.jpg"),
    )
    (copy / "locale").mkdir()
    for relative, (text, _line, _msgid) in PROBES.items():
        (copy / relative).write_text(text, encoding="utf-8")
    return copy


def extract(copy: Path) -> dict[str, polib.POFile]:
    """makemessages over the copy, in its own interpreter so that the copy's settings (and so
    its LOCALE_PATHS) are the ones loaded: {domain: the extracted catalogue}."""
    env = {
        **os.environ,
        "PYTHONPATH": str(copy.parent),
        "DJANGO_SETTINGS_MODULE": "gridcity.settings",
        "GRIDCITY_DATA_DIR": str(copy.parent / "var"),
    }
    ignores = [arg for pattern in IGNORED for arg in ("--ignore", pattern)]
    for domain, extensions in (("django", "html,txt,py"), ("djangojs", "js")):
        subprocess.run(
            [sys.executable, "-m", "django", "makemessages", "--locale", "en"]
            + ["--domain", domain, "--extension", extensions, "--no-wrap", *ignores],
            cwd=copy,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    found = {}
    for domain in ("django", "djangojs"):
        po = copy / "locale" / "en" / "LC_MESSAGES" / f"{domain}.po"
        found[domain] = polib.pofile(str(po))
    return found


def untranslated(catalogue: polib.POFile, domain: str) -> list[Untranslated]:
    """Entries of the extracted `catalogue` with no English in the compiled catalogues."""
    english = DjangoTranslation("en", domain=domain)._catalog
    missing = []
    for entry in catalogue:
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if entry.msgid_plural:
            key = (key, 0)
        if key in english:
            continue
        for path, line in entry.occurrences:
            missing.append(Untranslated(f"{Path(path).as_posix()}:{line}", entry.msgid))
    return sorted(missing, key=lambda m: m.place)


@pytest.fixture(scope="module")
def findings(tmp_path_factory) -> list[Untranslated]:
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext (xgettext) is needed to extract the strings: apt install gettext")
    call_command("compile-translations", verbosity=0)
    copy = copy_sources(tmp_path_factory.mktemp("sources"))
    catalogues = extract(copy)
    return [m for domain, po in catalogues.items() for m in untranslated(po, domain)]


def test_it_names_a_string_nobody_translated(findings):
    for relative, (_text, line, msgid) in PROBES.items():
        assert Untranslated(f"{relative}:{line}", msgid) in findings


def test_it_finds_an_english_translation_for_every_interface_string(findings):
    missing = [str(m) for m in findings if m.place.split(":")[0] not in PROBES]
    assert not missing, f"{len(missing)} strings without English:\n" + "\n".join(missing)


# --- Chinese outside translation tags ---------------------------------------------------------

# Template text that is data, not interface: (path in the package, a fragment of the text).
DATA_IN_TEMPLATES = {
    # Suggested extensions are written in the notation the server reads (lib/workcalendar.py).
    ("web/templates/web/office/_action_form.html", '<option value="4工作时">'),
}

MARKED_ARGUMENT = re.compile(r"""_\(\s*(?:"[^"]*"|'[^']*')\s*\)""")
OPENS_BLOCK = ("blocktranslate", "blocktrans")
CLOSES_BLOCK = ("endblocktranslate", "endblocktrans")


def unmarked_chinese(source: str) -> list[tuple[int, str]]:
    """(line, text) of Chinese in a template that no translation tag carries."""
    found = []
    in_translation = in_comment = False
    for token in Lexer(source).tokenize():
        text = token.contents.strip()
        word = text.split(" ", 1)[0] if token.token_type == TokenType.BLOCK else ""
        if word == "comment":
            in_comment = True
        elif word == "endcomment":
            in_comment = False
        elif word in OPENS_BLOCK:
            in_translation = True
        elif word in CLOSES_BLOCK:
            in_translation = False
        if in_comment or token.token_type == TokenType.COMMENT:
            continue
        if token.token_type == TokenType.TEXT and in_translation:
            continue
        if token.token_type == TokenType.BLOCK and word in ("translate", "trans", *OPENS_BLOCK):
            text = re.sub(r"""^\S+\s+(?:"[^"]*"|'[^']*')""", "", text)
        text = MARKED_ARGUMENT.sub("", text)
        if CJK.search(text):
            found.append((token.lineno, text))
    return found


def test_it_finds_no_unmarked_chinese_in_a_template():
    found = []
    for template in sorted(PACKAGE.glob("*/templates/**/*.html")):
        relative = template.relative_to(PACKAGE).as_posix()
        for line, text in unmarked_chinese(template.read_text(encoding="utf-8")):
            if not any(p == relative and f in text for p, f in DATA_IN_TEMPLATES):
                found.append(f"{relative}:{line}: {text[:80]}")
    assert not found, "Chinese outside translation tags:\n" + "\n".join(found)


def test_it_catches_chinese_written_straight_into_a_template():
    source = (
        "{% load i18n %}<h1>{% translate '案件' %}</h1>\n"
        "{% blocktranslate with n=count %}共 {{ n }} 件{% endblocktranslate %}\n"
        "{# 注释不是界面 #}<th>状态</th>\n"
        '{% include "x.html" with title=_("标题") %}{{ value|default:"无" }}\n'
    )
    assert unmarked_chinese(source) == [(3, "<th>状态</th>"), (4, 'value|default:"无"')]


# Scripts: Chinese in a string literal that gettext() does not carry.
GETTEXT_CALL = re.compile(
    r"""\b(?:n|p|np)?gettext\(\s*(?:(?:"[^"]*"|'[^']*')\s*,\s*)*(?:"[^"]*"|'[^']*')"""
)
JS_COMMENT = re.compile(r"(?<![:\\])//[^\n]*|/\*.*?\*/", re.MULTILINE | re.DOTALL)


def unmarked_chinese_in_script(source: str) -> list[tuple[int, str]]:
    # Comments go, their line breaks stay: the line numbers still point into the file.
    code = JS_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), source)
    return [
        (number, line.strip())
        for number, line in enumerate(code.splitlines(), start=1)
        if CJK.search(GETTEXT_CALL.sub("", line))
    ]


def test_it_finds_no_unmarked_chinese_in_a_script():
    found = []
    for script in sorted(PACKAGE.glob("*/static/**/*.js")):
        if "vendor" in script.parts:
            continue
        relative = script.relative_to(PACKAGE).as_posix()
        for line, text in unmarked_chinese_in_script(script.read_text(encoding="utf-8")):
            found.append(f"{relative}:{line}: {text[:80]}")
    assert not found, "Chinese outside gettext() in scripts:\n" + "\n".join(found)
