"""Plain-dict views of cases, shared by the API and the pages."""

from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from gridcity.cases.models import Case, CaseEvent, Status, SupervisionOrder
from gridcity.cases.workflow import BY_ACTION, STEP_LABELS
from gridcity.lib.workcalendar import Clock, format_time_limit
from gridcity.taxonomy.actions import get_calendar

ACTION_LABELS = {t.action: t.label for t in BY_ACTION.values()} | {
    "report": gettext_noop("上报"),
    "link_report": gettext_noop("重复上报并入"),
    "unlink_report": gettext_noop("取消重复关联"),
    "merge_in": gettext_noop("其他案件并入"),
    "supervise": gettext_noop("督办"),
    "supervision_reply": gettext_noop("督办答复"),
    "overdue": gettext_noop("超期"),
    "attach": gettext_noop("上传照片"),
    "appeal_approved": gettext_noop("超期申诉获批"),
    "import": gettext_noop("历史导入"),
}


def _iso(dt):
    return timezone.localtime(dt).isoformat() if dt else None


def traffic_light(case: Case, now=None, calendar=None) -> dict | None:
    if not case.step_deadline or not case.step_started_at or not case.step_clock:
        return None
    now = now or timezone.now()
    calendar = calendar or get_calendar()
    light, used = calendar.traffic_light(
        case.step_started_at, case.step_deadline, now, Clock(case.step_clock)
    )
    return {
        "step": case.step,
        "step_label": gettext(STEP_LABELS.get(case.step, case.step)),
        "deadline": _iso(case.step_deadline),
        "light": light,
        "used": None if used == float("inf") else round(used, 3),
        "limit": format_time_limit(case.step_amount, Clock(case.step_clock))
        if case.step_amount
        else "",
        "overdue": now > case.step_deadline,
    }


def case_summary(case: Case) -> dict:
    return {
        "number": case.number,
        "status": case.status,
        "status_label": Status(case.status).label,
        "channel": case.channel,
        "category": {
            "key": case.category.key,
            "code": case.category.code,
            "name": case.category.name,
        },
        "description": case.description[:200],
        "address": case.address,
        "lon": case.lon,
        "lat": case.lat,
        # "zero" or "outside": the point above is no real position and the case was not placed.
        "position_problem": case.position_problem or None,
        # The cell's code ends the area path: no need to load the cell and its polygon.
        "cell": case.area_path.strip("/").rsplit("/", 1)[-1] if case.cell_id else None,
        "department": case.department.name if case.department_id else None,
        "reported_at": _iso(case.reported_at),
        "step": case.step,
        "step_deadline": _iso(case.step_deadline),
        "handle_deadline": _iso(case.handle_deadline),
        "overdue": bool(case.step_deadline and timezone.now() > case.step_deadline),
        "version": case.version,
    }


def event_out(e: CaseEvent) -> dict:
    return {
        "action": e.action,
        "label": gettext(ACTION_LABELS.get(e.action, e.action)),
        "from": e.from_status,
        "to": e.to_status,
        "actor": str(e.actor) if e.actor_id else None,
        "role": e.actor_role,
        "department": e.department.name if e.department_id else None,
        "at": _iso(e.at),
        "note": e.note,
        "data": e.data,
        "step": e.step,
        "step_elapsed": e.step_elapsed,
        "step_limit": format_time_limit(e.step_amount, Clock(e.step_clock))
        if e.step_amount and e.step_clock
        else None,
        "overdue": e.overdue,
        "attachments": [a.pk for a in e.attachments.all()],
    }


def case_created(case: Case) -> dict:
    """What an intake answers: where the case went, why, and by when — built from the case the
    action returned, without re-reading it."""
    body = case_summary(case)
    body.update(
        {
            "dispatch_explanation": case.dispatch_explanation,
            "suggested_department": case.suggested_department.name
            if case.suggested_department_id
            else None,
            "filing_condition": case.filing_condition.text if case.filing_condition_id else None,
            "deadline": traffic_light(case),
            "area_path": [c for c in case.area_path.strip("/").split("/") if c],
        }
    )
    return body


def case_detail(case: Case, user) -> dict:
    from gridcity.cases.actions import available_transitions

    case = Case.objects.select_related(
        "category", "filing_condition", "department", "suggested_department", "assignee"
    ).get(pk=case.pk)
    events = case.events.select_related("actor", "department").prefetch_related("attachments")
    calendar = get_calendar()
    staff = user.role != "system" and user.is_authenticated
    body = case_summary(case)
    body.update(
        {
            "description": case.description,
            "filing_condition": {
                "id": case.filing_condition_id,
                "text": case.filing_condition.text,
                "time_limit": case.filing_condition.time_limit_text,
                "closing_condition": case.filing_condition.closing_condition,
            }
            if case.filing_condition_id
            else None,
            "area_path": [c for c in case.area_path.strip("/").split("/") if c],
            "suggested_department": case.suggested_department.name
            if case.suggested_department_id
            else None,
            "dispatch_explanation": case.dispatch_explanation,
            "assignee": case.assignee.username if case.assignee_id else None,
            "is_urgent": case.is_urgent,
            "rework_count": case.rework_count,
            "return_count": case.return_count,
            "timestamps": {
                f: _iso(getattr(case, f))
                for f in (
                    "reported_at",
                    "filed_at",
                    "dispatched_at",
                    "signed_at",
                    "handled_at",
                    "checked_at",
                    "closed_at",
                )
            },
            "deadline": traffic_light(case, calendar=calendar),
            "timeline": [event_out(e) for e in events],
            "attachments": [
                {
                    "id": a.pk,
                    "kind": a.kind,
                    "url": a.file.url if staff else a.public_file.url,
                    "thumbnail": a.thumbnail.url,
                    "exif_gps": a.exif_gps if staff else None,
                }
                for a in case.attachments.all()
            ],
            "reports": case.reports.count(),
            "actions": [
                {
                    "action": t.action,
                    "label": gettext(t.label),
                    "note_required": t.note_required,
                    "needs": list(t.needs),
                }
                for t in available_transitions(case, user)
            ]
            if staff
            else [],
        }
    )
    return body


def order_out(o: SupervisionOrder) -> dict:
    return {
        "number": o.number,
        "case": o.case.number,
        "kind": o.kind,
        "kind_label": o.get_kind_display(),
        "level": o.level,
        "department": o.department.name if o.department_id else None,
        "addressee_kind": o.addressee_kind,
        "addressee": str(o.addressee) if o.addressee_id else None,
        "step": o.step,
        "note": o.note,
        "created_at": _iso(o.created_at),
        "reply_deadline": _iso(o.reply_deadline),
        "reply": o.reply,
        "replied_at": _iso(o.replied_at),
        "settled_at": _iso(o.settled_at),
        "settled_reason": o.settled_reason,
    }
