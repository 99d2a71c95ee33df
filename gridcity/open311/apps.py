from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# The case actions that city systems subscribed by webhook are told about.
WEBHOOK_EVENTS = {
    "create": "case.created",
    "dispatch": "case.dispatched",
    "close": "case.closed",
    "overdue": "case.overdue",
    "supervise": "supervision.created",
}


def send_webhooks(change) -> None:
    event_type = WEBHOOK_EVENTS.get(change.action)
    if event_type is None:
        return
    from gridcity.cases.presenters import order_out
    from gridcity.open311.webhooks import emit

    order = change.data.get("order")
    emit(event_type, change.case, data={"supervision_order": order_out(order)} if order else None)


def api_key_changed(**kwargs) -> None:
    from gridcity.open311.keys import keys_changed

    keys_changed()


class Open311Config(AppConfig):
    name = "gridcity.open311"
    label = "open311"
    verbose_name = _("对外接口（Open311 与推送）")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from gridcity.cases import hooks
        from gridcity.open311 import (
            catalog,
            webhooks,  # noqa: F401 - the subscription cache's signals
        )
        from gridcity.open311.models import ApiKey
        from gridcity.taxonomy.models import Category, FilingCondition

        hooks.subscribe(send_webhooks)
        # The rendered service documents describe the taxonomy: a change renders them anew.
        for model in (Category, FilingCondition):
            for signal in (post_save, post_delete):
                signal.connect(
                    catalog.taxonomy_changed,
                    sender=model,
                    dispatch_uid=f"open311-catalog-{model.__name__}-{signal is post_save}",
                )
        for signal in (post_save, post_delete):
            signal.connect(
                api_key_changed, sender=ApiKey, dispatch_uid=f"open311-keys-{signal is post_save}"
            )
