"""Tasks run by `gridcity db_worker`, and the evaluation's periodic job."""

from django_tasks import task

from gridcity.accounts.models import User
from gridcity.cases.facts import refresh_stale_days
from gridcity.evaluation.actions import do_freeze_period
from gridcity.system.scheduling import periodic


@task()
def freeze_period(period_key: str, user_id: int) -> str:
    """A big city's month, frozen outside the web request (millions of facts to copy)."""
    row = do_freeze_period(period_key, acting_user=User.objects.get(pk=user_id))
    return row.key


@periodic(every=60, name="refresh-evaluation", priority=-10)
def refresh_evaluation_job() -> str:
    """重新统计有变动的日期的考评日汇总（考评页面也会按需统计）。"""
    return f"已重新统计 {refresh_stale_days()} 天"
