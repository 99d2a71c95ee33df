"""Tasks run by `gridcity db_worker`, and the evaluation's periodic job.

The dependency points one way: tasks use the actions, the actions know nothing of the worker."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django_tasks import task

from gridcity.accounts.models import User
from gridcity.cases.facts import refresh_stale_days
from gridcity.evaluation.actions import (
    check_freezable,
    do_freeze_period,
    too_big_to_freeze_inline,
)
from gridcity.evaluation.models import EvaluationPeriod
from gridcity.system.scheduling import periodic


@task()
def freeze_period(period_key: str, user_id: int) -> str:
    """A big city's month, frozen outside the web request (millions of facts to copy)."""
    row = do_freeze_period(period_key, acting_user=User.objects.get(pk=user_id))
    return row.key


def request_freeze(
    period_key: str, *, acting_user: User, now: datetime | None = None
) -> EvaluationPeriod | None:
    """Freeze now, or — for a period of more than FREEZE_INLINE_FACTS facts — hand it to the
    task worker (None). The same checks either way, so a refusal comes back at once."""
    now = now or timezone.now()
    period = check_freezable(period_key, acting_user, now)
    if too_big_to_freeze_inline(period):
        freeze_period.enqueue(period.key, acting_user.pk)
        return None
    return do_freeze_period(period.key, acting_user=acting_user, now=now)


@periodic(every=60, name="refresh-evaluation", priority=-10)
def refresh_evaluation_job() -> str:
    """重新统计有变动的日期的考评日汇总（考评页面也会按需统计）。"""
    return f"已重新统计 {refresh_stale_days()} 天"
