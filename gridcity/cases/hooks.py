"""What the case loop tells the apps above it.

`cases` sits below the domain apps (campaigns, open311, sensors, evaluation) and never imports
them. An app that must react to a case (tag it to a campaign, move a ledger row, send a webhook)
subscribes here from its own `AppConfig.ready()`. Subscribers run once the change has been
committed, each on its own: one failing subscriber is logged and never undoes the case's change
nor stops the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

# The actions announced besides the workflow's transitions (see workflow.TRANSITIONS).
CREATED = "create"  # a new case from an intake
SPLIT = "split"  # a report unlinked from a case became a case of its own
OVERDUE = "overdue"  # the current step passed its deadline
SUPERVISED = "supervise"  # a supervision order (督办) was raised


@dataclass(frozen=True)
class CaseChange:
    case: object  # cases.models.Case: typed loosely so this module imports no models
    action: str  # a transition's action, or one of the constants above
    from_status: str = ""
    to_status: str = ""
    data: dict = field(default_factory=dict)


Subscriber = Callable[[CaseChange], None]
_subscribers: list[Subscriber] = []


def subscribe(fn: Subscriber) -> Subscriber:
    """Register `fn` to hear every committed change of a case; usable as a decorator.
    Idempotent, so a reloaded AppConfig does not subscribe twice."""
    if fn not in _subscribers:
        _subscribers.append(fn)
    return fn


def announce(change: CaseChange) -> None:
    """Call inside the transaction that makes the change."""
    for fn in list(_subscribers):
        transaction.on_commit(lambda fn=fn: fn(change), robust=True)
