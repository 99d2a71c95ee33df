"""Stored files follow the database transaction they were written in.

Photos are written to storage inside the action's transaction, before its rows are committed:
written after the commit, a crash in between would leave a committed row pointing at a file that
never arrived (and an idempotent retry would then answer with a case whose photo is lost). So
the file goes first, and if the transaction (or the savepoint it was written in) rolls back, the
file is deleted: nothing refers to it any more.

Django has no rollback hook, but it does keep the `on_commit` callbacks of an open transaction
and drops them when it rolls back: all of them on a rollback of the whole transaction, those
registered inside a savepoint on a rollback to it, and all of them when the connection is
closed. Each file written in a transaction is therefore registered as the `on_commit` callback
`_Keep`; a commit calls it (the file stays), a rollback drops it uncalled, and the finalizer
that runs as soon as the dropped callback is gone deletes the file. CPython frees an object the
moment nothing refers to it, so this happens inside the rollback itself.

What is left: a process killed between writing a file and committing (SIGKILL, power loss)
leaves the file with no row. `gridcity prune-orphan-files` deletes such files once they are
older than any transaction could be.
"""

import logging
import weakref

from django.core.files.storage import FileSystemStorage as DjangoFileSystemStorage
from django.db import transaction

logger = logging.getLogger(__name__)


class _Keep:
    """The on_commit callback standing for one written file."""

    __slots__ = ("kept", "__weakref__")

    def __init__(self) -> None:
        self.kept = [False]

    def __call__(self) -> None:
        self.kept[0] = True


def _discard_unless_kept(storage, name: str, kept: list[bool]) -> None:
    if kept[0]:
        return
    try:
        storage.delete(name)
    except Exception:  # a rollback must not fail because a file could not be removed
        logger.exception("could not delete %s after its transaction rolled back", name)


def follow_transaction(storage, name: str, using: str | None = None) -> None:
    """Delete `name` from `storage` if the transaction open now does not commit."""
    if not transaction.get_connection(using).in_atomic_block:
        return  # autocommit: whatever referred to the file is committed already, or never will be
    keep = _Keep()
    weakref.finalize(keep, _discard_unless_kept, storage, name, keep.kept)
    transaction.on_commit(keep, using=using)


class FilesFollowTransactionMixin:
    """For a storage backend: every file saved inside a transaction is deleted again if that
    transaction rolls back."""

    def save(self, name, content, max_length=None):
        name = super().save(name, content, max_length=max_length)
        follow_transaction(self, name)
        return name


class FileSystemStorage(FilesFollowTransactionMixin, DjangoFileSystemStorage):
    pass
