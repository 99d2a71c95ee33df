"""`gridcity compile-translations`: every gettext catalogue under gridcity/ (…/LC_MESSAGES/*.po)
to its .mo, with polib, so that a clean machine needs no GNU gettext (Django's compilemessages
calls msgfmt). Fuzzy and untranslated entries are left out, as msgfmt does."""

import os
import tempfile
from pathlib import Path

import polib
from django.core.management.base import BaseCommand, CommandError

PACKAGE_DIR = Path(__file__).resolve().parents[3]


def compile_catalogue(po_path: Path) -> bool:
    """Write the .mo next to `po_path`; False when it was already up to date."""
    try:
        binary = polib.pofile(str(po_path), check_for_duplicates=True).to_binary()
    except (OSError, ValueError) as e:
        raise CommandError(f"{po_path}: {e}") from e
    mo_path = po_path.with_suffix(".mo")
    if mo_path.exists() and mo_path.read_bytes() == binary:
        return False
    # Written aside and renamed: test workers compiling at the same time never read half a file.
    fd, tmp = tempfile.mkstemp(dir=po_path.parent, prefix=".django-", suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(binary)
        os.chmod(tmp, 0o644)
        os.replace(tmp, mo_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


class Command(BaseCommand):
    help = "把 gridcity/ 下所有翻译文件（.po）编译为 .mo（用 polib，不需要 GNU gettext）。"
    # Runs before migrate and on a machine with no database yet.
    requires_system_checks = []

    def handle(self, *args, **options) -> None:
        catalogues = sorted(PACKAGE_DIR.rglob("LC_MESSAGES/*.po"))
        changed = [p for p in catalogues if compile_catalogue(p)]
        for p in changed:
            self.stdout.write(f"已编译 {p.relative_to(PACKAGE_DIR.parent).with_suffix('.mo')}")
        if options["verbosity"] >= 2 and not changed:
            self.stdout.write(f"{len(catalogues)} 个翻译文件均已是最新")
