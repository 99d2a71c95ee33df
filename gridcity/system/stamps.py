"""Configuration stamps: one row per piece of configuration that processes keep in memory.

A change writes a new stamp in its own transaction; every process on every node compares its
stamp at most every GRIDCITY_STAMP_CHECK_SECONDS and reloads when it moved (lib.stamped)."""

import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gridcity.lib.stamped import StampedValue
from gridcity.system.models import ConfigStamp

DISPATCH = "dispatch"  # responsibility rules, departments, areas, categories
CALENDAR = "calendar"  # working calendar days and step limits


def bump(name: str) -> None:
    """A new stamp for `name`, committed with the change that caused it."""
    ConfigStamp.objects.update_or_create(
        name=name, defaults={"token": uuid.uuid4().hex, "changed_at": timezone.now()}
    )


def read(name: str) -> str:
    return ConfigStamp.objects.filter(pk=name).values_list("token", flat=True).first() or ""


def stamped(name: str, load: Callable) -> StampedValue:
    """A per-process value of `load()`, reloaded when the stamp `name` changes."""
    return StampedValue(
        load,
        lambda: read(name),
        check_every=lambda: settings.GRIDCITY_STAMP_CHECK_SECONDS,
    )


def changed(name: str, value: StampedValue) -> None:
    """Call from a save or delete signal: stamp the change for the other processes and drop this
    process's copy once the change is committed."""
    bump(name)
    transaction.on_commit(value.forget)
    value.forget()
