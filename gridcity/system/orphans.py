"""Stored files that no row refers to: what a process killed between writing a photo and
committing its transaction leaves behind (a rollback deletes its files itself, see
gridcity/lib/txfiles.py). Only the folders the file fields upload to are looked at, and only
files older than `hours`, so a transaction still open is never robbed of its file."""

from datetime import timedelta

from django.apps import apps
from django.core.files.storage import default_storage
from django.db.models import FileField
from django.utils import timezone


def _file_fields() -> list[tuple[type, FileField]]:
    return [
        (model, f)
        for model in apps.get_models()
        if not model._meta.proxy and model._meta.managed
        for f in model._meta.local_concrete_fields
        if isinstance(f, FileField)
    ]


def _walk(storage, folder: str):
    try:
        dirs, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{folder}/{name}"
    for d in dirs:
        yield from _walk(storage, f"{folder}/{d}")


def prune_orphan_files(*, hours: float = 24, dry_run: bool = False, storage=None) -> list[str]:
    storage = storage or default_storage
    fields = _file_fields()
    referenced: set[str] = set()
    folders: set[str] = set()
    for model, f in fields:
        if isinstance(f.upload_to, str) and f.upload_to.strip("/"):
            folders.add(f.upload_to.strip("/").split("/")[0])
        names = model._default_manager.exclude(**{f.name: ""}).values_list(f.name, flat=True)
        referenced.update(names.iterator())
    cutoff = timezone.now() - timedelta(hours=hours)
    pruned = []
    for folder in sorted(folders):
        for name in _walk(storage, folder):
            if name in referenced or storage.get_modified_time(name) > cutoff:
                continue
            if not dry_run:
                storage.delete(name)
            pruned.append(name)
    return pruned
