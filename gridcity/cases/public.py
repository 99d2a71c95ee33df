"""What anyone may learn about a case: a status in public words and the public steps of its
history, each a label and a time. Nothing about people (no names, no phone numbers, no notes,
which staff write for staff), nothing of the department-internal workflow (requests for an
extension or a hold, a case returned between offices).

The citizen's lookup (/public/lookup/) and the public Open311 views (/open311/v2/…) both show
exactly this; an Open311 partner whose key may see internal detail gets the notes as well."""

from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy, pgettext_lazy

from gridcity.cases.models import CaseEvent, Status

# The steps the public sees, with their public label; every other event is internal.
PUBLIC_ACTIONS = {
    "report": gettext_lazy("收到上报"),
    "link_report": gettext_lazy("收到同一问题的其他上报"),
    "verify": gettext_lazy("现场核实"),
    "file": pgettext_lazy("public timeline", "立案"),
    "dispatch": gettext_lazy("派遣至责任部门"),
    "sign": gettext_lazy("部门签收"),
    "report_back": gettext_lazy("处置完成"),
    "check_pass": gettext_lazy("现场核查通过"),
    "check_fail": gettext_lazy("核查未通过，重新处置"),
    "approve_extension": gettext_lazy("批准延期处置"),
    "approve_hold": gettext_lazy("暂缓处置"),
    "resume": pgettext_lazy("public timeline", "恢复处置"),
    "close": pgettext_lazy("public timeline", "结案"),
    "void": gettext_lazy("不予立案"),
    "merge": gettext_lazy("并入同一问题的案件"),
}

# A status in the public's words. Requests between the department and the centre (extension,
# hold) are still handling to the public, and a case a department returned is filed, waiting
# for its department again.
PUBLIC_STATUS_LABELS = {
    Status.UNLOCATED: gettext_lazy("已受理"),
    Status.REPORTED: gettext_lazy("已受理"),
    Status.VERIFYING: gettext_lazy("核实中"),
    Status.FILED: gettext_lazy("已立案"),
    Status.RETURNED: gettext_lazy("已立案"),
    Status.DISPATCHED: gettext_lazy("已派遣"),
    Status.HANDLING: gettext_lazy("处置中"),
    Status.EXTENSION_REQUESTED: gettext_lazy("处置中"),
    Status.HOLD_REQUESTED: gettext_lazy("处置中"),
    Status.ON_HOLD: gettext_lazy("暂缓处置"),
    Status.HANDLED: gettext_lazy("处置完成，待核查"),
    Status.CHECKED: gettext_lazy("核查通过，待结案"),
    Status.CLOSED: gettext_lazy("已结案"),
    Status.VOIDED: gettext_lazy("不予立案"),
    Status.MERGED: gettext_lazy("已并入同一问题的案件"),
}


def public_status_label(status: str) -> str:
    # A status this table does not know (a value written by hand) says only that it was
    # received, rather than failing the page or showing the raw code.
    return str(PUBLIC_STATUS_LABELS.get(status, PUBLIC_STATUS_LABELS[Status.REPORTED]))


def public_events(qs: QuerySet[CaseEvent]) -> QuerySet[CaseEvent]:
    """Only the public steps, oldest first; for paging through them."""
    return qs.filter(action__in=PUBLIC_ACTIONS).order_by("at", "pk")


def public_step(event: CaseEvent) -> dict:
    """One public step: its label and time (and the action's code, which says no more)."""
    return {"action": event.action, "label": PUBLIC_ACTIONS[event.action], "at": event.at}


def public_timeline(events: Iterable[CaseEvent]) -> list[dict]:
    """The public steps among `events` (a case's events, in order), each a label and a time."""
    return [public_step(e) for e in events if e.action in PUBLIC_ACTIONS]
