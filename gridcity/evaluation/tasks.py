"""Tasks run by `gridcity db_worker`."""

from django_tasks import task

from gridcity.accounts.models import User
from gridcity.evaluation.actions import do_freeze_period


@task()
def freeze_period(period_key: str, user_id: int) -> str:
    """A big city's month, frozen outside the web request (millions of facts to copy)."""
    row = do_freeze_period(period_key, acting_user=User.objects.get(pk=user_id))
    return row.key
