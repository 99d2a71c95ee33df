"""`make lint` holds the layers with import-linter (pyproject.toml, [tool.importlinter]). These
tests run it on the code as it is, and on a copy with one import that breaks a contract, so a
contract that stopped checking anything would fail here."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _copy_tree(dest: Path) -> Path:
    """The package's Python files and the contracts, without data, static files or caches."""
    shutil.copytree(
        ROOT / "gridcity",
        dest / "gridcity",
        ignore=lambda folder, names: (
            [n for n in names if not (n.endswith(".py") or (Path(folder) / n).is_dir())]
            + ["__pycache__", "locale", "static", "templates", "data"]
        ),
    )
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_contract(tmp_path):
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "names"),
    [
        # the core importing a domain app, even lazily inside a function
        (
            "gridcity/cases/late_hook.py",
            "def tag(case):\n    from gridcity.campaigns import actions\n    return actions\n",
            ["gridcity.cases.late_hook -> gridcity.campaigns.actions"],
        ),
        # the lowest layer importing an app
        (
            "gridcity/lib/shortcut.py",
            "from gridcity.cases.models import Case  # noqa\n",
            ["gridcity.lib.shortcut -> gridcity.cases.models"],
        ),
        # two modules of one app importing each other
        (
            "gridcity/evaluation/circle.py",
            "from gridcity.evaluation import circle_back  # noqa\n",
            ["gridcity.evaluation"],
        ),
    ],
)
def test_an_import_against_a_contract_fails_lint(tmp_path, module, source, names):
    tree = _copy_tree(tmp_path)
    (tree / module).write_text(source, encoding="utf-8")
    if module.endswith("circle.py"):
        (tree / "gridcity/evaluation/circle_back.py").write_text(
            "from gridcity.evaluation import circle  # noqa\n", encoding="utf-8"
        )
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    for name in names:
        assert name in result.stdout.replace("\n", " "), result.stdout
