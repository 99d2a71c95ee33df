"""What GridCity's categories, cases and events look like in GeoReport v2: plain dicts that
`render` writes as XML or JSON.

Anyone may read requests and updates, so by default they carry what the citizen's lookup shows
(`gridcity.cases.public`): the public status label and the public steps, never a note or a
person. A partner whose key may see internal detail (`ApiKey.may_see_internal`) gets the notes,
who wrote them and the internal workflow status as well (`internal=True`).

service_code scheme: `<kind>-<code>`, e.g. `matter-06042` or `component-01002`. The kind is
part of the key because components (部件) and matters (事件) share five-digit codes; a hyphen
instead of the API's colon keeps the code safe in a URL path on every client."""

from django.core.files.storage import default_storage
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from gridcity.cases.models import TERMINAL, Attachment, AttachmentKind, Case, CaseEvent, Status
from gridcity.cases.presenters import ACTION_LABELS
from gridcity.cases.public import PUBLIC_ACTIONS, public_events, public_status_label
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.models import Category, CategoryKind

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONDITION_ATTRIBUTE = "condition"
COMPONENT_ATTRIBUTE = "component"
# Not part of a service definition: a client's own retry key, like the Idempotency-Key header.
IDEMPOTENCY_ATTRIBUTE = "idempotency_key"


def w3c(dt) -> str | None:
    return timezone.localtime(dt).isoformat(timespec="seconds") if dt else None


def service_code(category: Category) -> str:
    return f"{category.kind}-{category.code}"


def category_for(code: str) -> Category | None:
    """`matter-06042` (the published scheme); also the JSON API's `matter:06042` or a bare code."""
    code = (code or "").strip()
    kind, sep, rest = code.partition("-")
    if sep and kind in CategoryKind.values:
        return Category.objects.filter(kind=kind, code=rest, is_active=True).first()
    if len(code) > 40:
        return None
    return resolve_category(code)


def active_categories() -> QuerySet:
    return Category.objects.filter(is_active=True).annotate(n_conditions=Count("conditions"))


def has_metadata(category: Category, n_conditions: int) -> bool:
    return n_conditions > 0 or category.kind == CategoryKind.COMPONENT


def service_out(category: Category) -> dict:
    n = getattr(category, "n_conditions", None)
    if n is None:
        n = category.conditions.count()
    return {
        "service_code": service_code(category),
        "service_name": category.name,
        "description": category.service_notice or f"{category.major_name} / {category.name}",
        "metadata": has_metadata(category, n),
        "type": "realtime",
        "keywords": category.keywords,
        "group": category.major_name,
    }


def definition_out(category: Category) -> dict:
    attributes = []
    conditions = list(category.conditions.all())
    if conditions:
        attributes.append(
            {
                "variable": True,
                "code": CONDITION_ATTRIBUTE,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "选择最符合现场情况的立案条件",
                "order": 1,
                "description": "立案条件（决定处置时限）",
                "values": [
                    {"key": str(fc.pk), "name": f"{fc.text}（{fc.time_limit_text}）"}
                    for fc in conditions
                ],
            }
        )
    if category.kind == CategoryKind.COMPONENT:
        attributes.append(
            {
                "variable": True,
                "code": COMPONENT_ATTRIBUTE,
                "datatype": "string",
                "required": False,
                "datatype_description": "部件标识码（如井盖、路灯上的编码）",
                "order": len(attributes) + 1,
                "description": "部件编码",
            }
        )
    return {"service_code": service_code(category), "attributes": attributes}


def is_closed(status: str) -> bool:
    return status in TERMINAL


def status_filter(statuses: set[str]) -> Q:
    if statuses == {"open"}:
        return ~Q(status__in=TERMINAL)
    if statuses == {"closed"}:
        return Q(status__in=TERMINAL)
    return Q()


def with_request_fields(
    qs: QuerySet, *, extensions: bool = False, internal: bool = False
) -> QuerySet:
    """One query for a page of requests: the last change and the first photo (and, for an
    internal reader, the last note) come from subqueries instead of one query per case; with
    `extensions`, the steps the reader may see come in one more query."""
    events = CaseEvent.objects.filter(case=OuterRef("pk")).order_by("-at", "-pk")
    photo = Attachment.objects.filter(case=OuterRef("pk"), kind=AttachmentKind.REPORT).order_by(
        "pk"
    )
    qs = qs.select_related("category", "department", "cell").annotate(
        last_event_at=Subquery(events.values("at")[:1]),
        first_photo=Subquery(photo.values("public_file")[:1]),
    )
    if internal:
        qs = qs.annotate(last_note=Subquery(events.exclude(note="").values("note")[:1]))
    if extensions:
        steps = (
            CaseEvent.objects.select_related("actor")
            if internal
            else public_events(CaseEvent.objects.only("case", "action", "at"))
        )
        qs = qs.prefetch_related(Prefetch("events", queryset=steps, to_attr="shown_events"))
    return qs


def request_out(case: Case, *, absolute, extensions: bool = False, internal: bool = False) -> dict:
    """`absolute(path)` makes a media path into a full URL for this server. `internal`: the
    reader's key may see notes and staff (see the module's docstring)."""
    closed = is_closed(case.status)
    if internal:
        notes = getattr(case, "last_note", None) or Status(case.status).label
        if case.status == Status.MERGED and case.merged_into_id:
            notes = f"{notes}（已合并）"
    else:
        notes = public_status_label(case.status)
    photo = getattr(case, "first_photo", None)
    body = {
        "service_request_id": case.number,
        "status": "closed" if closed else "open",
        "status_notes": notes,
        "service_name": case.category.name,
        "service_code": service_code(case.category),
        "description": case.description,
        "agency_responsible": case.department.name if case.department_id else None,
        "service_notice": case.category.service_notice or None,
        "requested_datetime": w3c(case.reported_at),
        "updated_datetime": w3c(
            case.closed_at if closed and case.closed_at else getattr(case, "last_event_at", None)
        )
        or w3c(case.reported_at),
        "expected_datetime": w3c(case.handle_deadline),
        "address": case.address or None,
        "address_id": case.cell.code if case.cell_id else None,
        "zipcode": None,
        "lat": case.lat,
        "long": case.lon,
        "media_url": absolute(default_storage.url(photo)) if photo else None,
    }
    if extensions:
        events = getattr(case, "shown_events", None)
        if events is None:
            events = case.events.all() if internal else public_events(case.events.all())
        if internal:
            body["extended_attributes"] = {
                "status_label": public_status_label(case.status),
                "workflow_status": case.status,
                "workflow_status_label": str(Status(case.status).label),
                "channel": case.channel,
                "step": case.step or None,
                "step_deadline": w3c(case.step_deadline),
                "is_urgent": case.is_urgent,
                "supervision_level": case.supervision_level,
                "area_path": case.area_path or None,
            }
            body["notes"] = [note_out(e) for e in events]
        else:
            body["extended_attributes"] = {
                "status_label": public_status_label(case.status),
                "channel": case.channel,
            }
            body["notes"] = [public_note_out(e) for e in events]
    return body


def public_note_out(e: CaseEvent) -> dict:
    return {"datetime": w3c(e.at), "summary": str(PUBLIC_ACTIONS[e.action]), "type": e.action}


def note_out(e: CaseEvent) -> dict:
    return {
        "datetime": w3c(e.at),
        "summary": str(ACTION_LABELS.get(e.action, e.action)),
        "description": e.note or None,
        "type": e.action,
        "status": e.to_status or None,
        "actor": str(e.actor) if e.actor_id else None,
    }


def update_out(e: CaseEvent, *, internal: bool = False) -> dict:
    """One change. The public get only the public steps (`public_events`), each with its
    public label and the public status after it."""
    status = e.to_status or e.case.status
    body = {
        "update_id": str(e.pk),
        "service_request_id": e.case.number,
        "status": "closed" if is_closed(status) else "open",
        "updated_datetime": w3c(e.at),
    }
    if not internal:
        body["description"] = str(PUBLIC_ACTIONS[e.action])
        body["extended_attributes"] = {
            "action": e.action,
            "status_label": public_status_label(status),
            "agency_responsible": e.department.name if e.department_id else None,
        }
        return body
    body["description"] = e.note or str(ACTION_LABELS.get(e.action, e.action))
    body["extended_attributes"] = {
        "action": e.action,
        "status_label": public_status_label(status),
        "workflow_status": status,
        "agency_responsible": e.department.name if e.department_id else None,
        "actor": str(e.actor) if e.actor_id else None,
    }
    return body


# ---------------------------------------------------------------------------------------------
# Lean lists: the same documents as `request_out`, from plain rows (values()) instead of model
# instances, for pages of up to a thousand requests. `request_out` stays for one case at a time
# (webhooks); tests/test_serialisation.py holds the two to the same answers.

_LEAN_FIELDS = (
    "pk",
    "number",
    "status",
    "description",
    "category_id",
    "department__name",
    "reported_at",
    "closed_at",
    "handle_deadline",
    "address",
    "cell__code",
    "lat",
    "lon",
    "last_event_at",
    "first_photo",
)
_INTERNAL_FIELDS = ("last_note", "merged_into_id")
_EXTENSION_FIELDS = ("channel",)
_INTERNAL_EXTENSION_FIELDS = (
    "step",
    "step_deadline",
    "is_urgent",
    "supervision_level",
    "area_path",
)


def lean_requests(qs: QuerySet, *, extensions: bool = False, internal: bool = False) -> QuerySet:
    """`qs` as rows with just the columns a request document needs; order and slice it, then
    give the rows to `requests_out`. One query, whatever the page size."""
    events = CaseEvent.objects.filter(case=OuterRef("pk")).order_by("-at", "-pk")
    photo = Attachment.objects.filter(case=OuterRef("pk"), kind=AttachmentKind.REPORT).order_by(
        "pk"
    )
    qs = qs.annotate(
        last_event_at=Subquery(events.values("at")[:1]),
        first_photo=Subquery(photo.values("public_file")[:1]),
    )
    fields = list(_LEAN_FIELDS)
    if internal:
        qs = qs.annotate(last_note=Subquery(events.exclude(note="").values("note")[:1]))
        fields += _INTERNAL_FIELDS
    if extensions:
        fields += _EXTENSION_FIELDS
        if internal:
            fields += _INTERNAL_EXTENSION_FIELDS
    return qs.values(*fields)


def _steps(case_ids: list[int], internal: bool) -> dict[int, list[dict]]:
    """The steps the reader may see of every case of the page, in one query."""
    out: dict[int, list[dict]] = {pk: [] for pk in case_ids}
    if not case_ids:
        return out
    qs = CaseEvent.objects.filter(case_id__in=case_ids).order_by("at", "pk")
    if not internal:
        labels = {k: str(v) for k, v in PUBLIC_ACTIONS.items()}
        for case_id, action, at in qs.filter(action__in=PUBLIC_ACTIONS).values_list(
            "case_id", "action", "at"
        ):
            out[case_id].append({"datetime": w3c(at), "summary": labels[action], "type": action})
        return out
    labels = {k: str(v) for k, v in ACTION_LABELS.items()}
    rows = qs.values_list(
        "case_id", "action", "at", "note", "to_status", "actor_id", "actor__display_name",
        "actor__username",
    )  # fmt: skip
    for case_id, action, at, note, to_status, actor_id, display_name, username in rows:
        out[case_id].append(
            {
                "datetime": w3c(at),
                "summary": labels.get(action, action),
                "description": note or None,
                "type": action,
                "status": to_status or None,
                "actor": (display_name or username) if actor_id else None,
            }
        )
    return out


def requests_out(
    rows: list[dict],
    *,
    categories: dict[int, tuple[str, str, str]],
    absolute,
    extensions: bool = False,
    internal: bool = False,
) -> list[dict]:
    """Rows of `lean_requests` as GeoReport requests, field for field what `request_out` says.
    `categories`: pk → (service_code, name, service_notice), e.g. the catalog's."""
    missing = {r["category_id"] for r in rows} - categories.keys()
    if missing:
        categories = {**categories}
        for c in Category.objects.filter(pk__in=missing):
            categories[c.pk] = (service_code(c), c.name, c.service_notice)
    steps = _steps([r["pk"] for r in rows], internal) if extensions else None
    status_labels = {k: str(v) for k, v in Status.choices}
    url = default_storage.url
    out = []
    for r in rows:
        status = r["status"]
        closed = status in TERMINAL
        if internal:
            notes = r["last_note"] or status_labels.get(status, status)
            if status == Status.MERGED and r["merged_into_id"]:
                notes = f"{notes}（已合并）"
        else:
            notes = public_status_label(status)
        code, name, notice = categories[r["category_id"]]
        reported = w3c(r["reported_at"])
        photo = r["first_photo"]
        body = {
            "service_request_id": r["number"],
            "status": "closed" if closed else "open",
            "status_notes": notes,
            "service_name": name,
            "service_code": code,
            "description": r["description"],
            "agency_responsible": r["department__name"],
            "service_notice": notice or None,
            "requested_datetime": reported,
            "updated_datetime": w3c(
                r["closed_at"] if closed and r["closed_at"] else r["last_event_at"]
            )
            or reported,
            "expected_datetime": w3c(r["handle_deadline"]),
            "address": r["address"] or None,
            "address_id": r["cell__code"],
            "zipcode": None,
            "lat": r["lat"],
            "long": r["lon"],
            "media_url": absolute(url(photo)) if photo else None,
        }
        if extensions:
            if internal:
                body["extended_attributes"] = {
                    "status_label": public_status_label(status),
                    "workflow_status": status,
                    "workflow_status_label": status_labels.get(status, status),
                    "channel": r["channel"],
                    "step": r["step"] or None,
                    "step_deadline": w3c(r["step_deadline"]),
                    "is_urgent": r["is_urgent"],
                    "supervision_level": r["supervision_level"],
                    "area_path": r["area_path"] or None,
                }
            else:
                body["extended_attributes"] = {
                    "status_label": public_status_label(status),
                    "channel": r["channel"],
                }
            body["notes"] = steps[r["pk"]]
        out.append(body)
    return out
