"""Tasks run by `manage.py db_worker`."""

from django_tasks import task

from gridcity.open311 import webhooks


@task()
def deliver_webhook(delivery_id: int) -> str:
    """One attempt; a failure re-enqueues itself with `run_after` (exponential back-off)."""
    return webhooks.attempt(delivery_id)
