from django.apps import AppConfig

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


class Open311Config(AppConfig):
    name = "gridcity.open311"
    label = "open311"
    verbose_name = "对外接口（Open311 与推送）"

    def ready(self) -> None:
        from gridcity.cases import hooks

        hooks.subscribe(send_webhooks)
