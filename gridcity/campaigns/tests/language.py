"""What a page says in its own words: the text of its <main> (with the labels, titles and
placeholders a screen reader or a phone shows) after every value stored in the database is
taken out. Data stays as entered, so only what is left is the interface's language."""

import html
import re

from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.utils.translation import override

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
# Latin words a Chinese page may show: file formats, units and code-like tokens.
LATIN_IN_CHINESE = {"XLSX", "PDF", "Word", "YYYY", "DOCX", "JPEG", "PNG", "WebP", "GPS"}
ATTRIBUTES = re.compile(r'\s(?:title|alt|aria-label|placeholder)="([^"]*)"')
# A stored value is also shown cut short (truncatechars) or as its first line.
CUTS = (30, 40, 60)


def compile_catalogues() -> None:
    """The English catalogues are compiled from the .po files before a page is rendered."""
    call_command("compile-translations", verbosity=0)


def _strings(value) -> list[str]:
    """The strings in a value, a row or a JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def stored_values() -> list[str]:
    """Every text stored in the database (and every object's name), longest first."""
    values: set[str] = set()
    for model in apps.get_models():
        names = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        if names:
            for row in model._default_manager.values_list(*names):
                values.update(_strings(row))
    with override("zh-hans"):
        for model in (apps.get_model("accounts", "User"), apps.get_model("accounts", "Department")):
            values.update(str(o) for o in model._default_manager.all())
    for value in list(values):
        values.update(value[: n - 1] for n in CUTS if len(value) > n)
        values.update(value.splitlines())
    return sorted((v.strip() for v in values if len(v.strip()) >= 2), key=len, reverse=True)


def interface_text(page: str, data: list[str]) -> str:
    """The words of <main> that are not data."""
    start = page.find('<main id="main">')
    main = page[start : page.index("</main>", start)] if start >= 0 else page
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    words = " ".join(ATTRIBUTES.findall(main)) + " " + re.sub(r"<[^>]+>", " ", main)
    words = re.sub(r"https?://\S+", " ", html.unescape(words))
    for value in data:
        words = words.replace(value, " ")
    return re.sub(r"\s+", " ", words)


def chinese_left(page: str, data: list[str]) -> list[str]:
    """The stretches of Chinese an English page still shows outside data, with context."""
    text = interface_text(page, data)
    return [text[max(m.start() - 20, 0) : m.end() + 20] for m in CJK.finditer(text)]


def english_left(page: str, data: list[str]) -> set[str]:
    """The Latin words a Chinese page shows outside data and file formats."""
    return set(LATIN_WORD.findall(interface_text(page, data))) - LATIN_IN_CHINESE


def headings(page: str, data: list[str]) -> list[str]:
    """The page's own words in its <h1>/<h2> headings (data taken out)."""
    found = re.findall(r"<h[12]\b[^>]*>(.*?)</h[12]>", page, flags=re.S)
    texts = [interface_text(re.sub(r"<[^>]+>", " ", h), data).strip() for h in found]
    return [t for t in texts if re.search(r"[^\W\d_]", t)]


def english_client(client: Client) -> Client:
    client.cookies["django_language"] = "en"
    return client
