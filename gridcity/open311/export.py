"""Bulk export of cases as CSV, XLSX or GeoJSON, with the JSON API's list filters and the
caller's data scope. Rows are read with `.iterator(chunk_size=…)` and written as they come,
so a million cases never sit in memory at once. Every CSV and XLSX cell goes through
`spreadsheet_cell`: a description typed as a formula stays text, and a control character in an
old row cannot break the workbook."""

import csv
import json
import tempfile
from collections.abc import Iterator
from datetime import datetime

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET
from pydantic import ValidationError

from gridcity.accounts.actions import authenticate_token
from gridcity.cases.api import CaseFilter, filter_cases
from gridcity.cases.models import OPEN, Status
from gridcity.cases.scope import visible_to
from gridcity.lib.errors import CaseError
from gridcity.lib.text import spreadsheet_cell

CHUNK = 2000
# Excel's sheet limit is 1,048,576 rows including the header.
XLSX_MAX_ROWS = 1_048_575
STATUS_LABELS = {s.value: s.label for s in Status}
COLUMNS = [
    ("number", gettext_lazy("案件编号")),
    ("status", gettext_lazy("状态代码")),
    ("status_label", gettext_lazy("状态")),
    ("channel", gettext_lazy("来源")),
    ("category", gettext_lazy("类别")),
    ("category_name", gettext_lazy("类别名称")),
    ("description", gettext_lazy("问题描述")),
    ("address", gettext_lazy("地址")),
    ("lon", gettext_lazy("经度")),
    ("lat", gettext_lazy("纬度")),
    ("cell", gettext_lazy("单元网格")),
    ("department", gettext_lazy("责任部门")),
    ("reported_at", gettext_lazy("上报时间")),
    ("dispatched_at", gettext_lazy("派遣时间")),
    ("handled_at", gettext_lazy("处置反馈时间")),
    ("closed_at", gettext_lazy("结案时间")),
    ("handle_deadline", gettext_lazy("处置时限")),
    ("step_deadline", gettext_lazy("环节时限")),
    ("overdue", gettext_lazy("超期")),
]
FIELDS = [
    "number",
    "status",
    "channel",
    "category__kind",
    "category__code",
    "category__name",
    "description",
    "address",
    "lon",
    "lat",
    "cell__code",
    "department__name",
    "reported_at",
    "dispatched_at",
    "handled_at",
    "closed_at",
    "handle_deadline",
    "step_deadline",
]


def _iso(dt: datetime | None, tz=None) -> str:
    return (
        dt.astimezone(tz or timezone.get_current_timezone()).isoformat(timespec="seconds")
        if dt
        else ""
    )


def rows(qs, now: datetime | None = None) -> Iterator[dict]:
    """Plain rows in export order; `values()` skips model instances, which is most of the
    cost at a million rows."""
    now = now or timezone.now()
    tz = timezone.get_current_timezone()  # once: the lookup per value costs more than the format
    for r in qs.order_by("-reported_at", "-pk").values(*FIELDS).iterator(chunk_size=CHUNK):
        yield {
            "number": r["number"],
            "status": r["status"],
            "status_label": str(STATUS_LABELS.get(r["status"], r["status"])),
            "channel": r["channel"],
            "category": f"{r['category__kind']}:{r['category__code']}",
            "category_name": r["category__name"],
            "description": r["description"],
            "address": r["address"],
            "lon": r["lon"],
            "lat": r["lat"],
            "cell": r["cell__code"] or "",
            "department": r["department__name"] or "",
            "reported_at": _iso(r["reported_at"], tz),
            "dispatched_at": _iso(r["dispatched_at"], tz),
            "handled_at": _iso(r["handled_at"], tz),
            "closed_at": _iso(r["closed_at"], tz),
            "handle_deadline": _iso(r["handle_deadline"], tz),
            "step_deadline": _iso(r["step_deadline"], tz),
            "overdue": bool(
                r["status"] in OPEN and r["step_deadline"] and r["step_deadline"] < now
            ),
        }


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(qs) -> Iterator[bytes]:
    writer = csv.writer(_Echo())
    # A BOM so that Excel opens the UTF-8 file with the Chinese intact.
    buf = ["\ufeff" + writer.writerow([str(label) for _, label in COLUMNS])]
    for row in rows(qs):
        buf.append(writer.writerow([spreadsheet_cell(row[k]) for k, _ in COLUMNS]))
        if len(buf) >= 500:
            yield "".join(buf).encode()
            buf = []
    yield "".join(buf).encode()


def geojson_chunks(qs) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    first, buf = True, []
    for row in rows(qs):
        lon, lat = row.pop("lon"), row.pop("lat")
        geometry = {"type": "Point", "coordinates": [lon, lat]} if lon is not None else None
        feature = {"type": "Feature", "id": row["number"], "geometry": geometry, "properties": row}
        buf.append(("" if first else ",") + json.dumps(feature, ensure_ascii=False))
        first = False
        if len(buf) >= 500:
            yield "".join(buf).encode()
            buf = []
    buf.append("]}")
    yield "".join(buf).encode()


def write_xlsx(qs, path: str) -> int:
    """openpyxl's write-only mode keeps one row in memory; returns the rows written."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(gettext("案件"))
    ws.append([str(label) for _, label in COLUMNS])
    n = 0
    for row in rows(qs):
        if n >= XLSX_MAX_ROWS:
            break
        ws.append([spreadsheet_cell(row[k]) for k, _ in COLUMNS])
        n += 1
    wb.save(path)
    return n


def _user(request: HttpRequest):
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return authenticate_token(header[7:].strip())
    if request.user.is_authenticated and request.user.is_active:
        return request.user
    return None


def _filters(request: HttpRequest) -> CaseFilter:
    data: dict = {}
    for name, field in CaseFilter.model_fields.items():
        if name in ("page", "page_size"):
            continue
        values = [v for v in request.GET.getlist(name) if v.strip()]
        if not values:
            continue
        data[name] = values if "list" in str(field.annotation) else values[-1]
    return CaseFilter(**data)


@require_GET
def export_cases(request: HttpRequest, fmt: str) -> HttpResponse:
    user = _user(request)
    if user is None:
        return JsonResponse({"error": gettext("未登录或令牌无效")}, status=401)
    try:
        qs = filter_cases(visible_to(user), _filters(request))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "query"
        return JsonResponse(
            {"error": gettext("%(field)s：取值无效") % {"field": field}, "field": field}, status=400
        )
    except CaseError as exc:
        return JsonResponse({"error": str(exc.message), "field": exc.field}, status=400)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    filename = f"cases-{stamp}.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(qs), content_type="text/csv; charset=utf-8")
    elif fmt == "geojson":
        response = StreamingHttpResponse(
            geojson_chunks(qs), content_type="application/geo+json; charset=utf-8"
        )
    else:
        # The workbook is a zip written at the end, so it goes through a temporary file; the
        # file is unlinked on close and streamed back in blocks.
        tmp = tempfile.NamedTemporaryFile(suffix=".xlsx")  # noqa: SIM115
        write_xlsx(qs, tmp.name)
        tmp.seek(0)
        return FileResponse(
            tmp,
            as_attachment=True,
            filename=filename,
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
