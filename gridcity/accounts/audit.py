"""One audit trail for every record outside the case loop.

Call `record` inside the transaction of the change it describes, so that the change and its
audit row are committed together or not at all."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import QuerySet
from django.utils import timezone

from gridcity.accounts.models import AuditEntry, User


def object_type(obj: models.Model | type[models.Model]) -> str:
    return obj._meta.label_lower


def record(
    obj: models.Model,
    action: str,
    *,
    actor: User | None,
    summary: str = "",
    data: dict | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        at=at or timezone.now(),
        actor=actor,
        actor_role=(actor.role if actor is not None else ""),
        action=action,
        object_type=object_type(obj),
        object_id=str(obj.pk),
        summary=summary[:200],
        data=data or {},
    )


def history_of(obj: models.Model) -> QuerySet[AuditEntry]:
    """Newest first, for a record's "操作记录" panel."""
    return AuditEntry.objects.filter(
        object_type=object_type(obj), object_id=str(obj.pk)
    ).select_related("actor")
