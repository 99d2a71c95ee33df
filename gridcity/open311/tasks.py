"""Tasks run by `manage.py db_worker`."""

# The delivery task lives beside `schedule`, which enqueues it; named here too because queued
# rows written before it moved name it by this module.
from gridcity.open311.webhooks import deliver_webhook  # noqa: F401
