"""Bringing a city's history in from an older 数字城管 or 311 system (`gridcity import-cases`).

The whole file is checked before anything is written: every rejected row is reported by line,
field and reason, and nothing is imported while any row is rejected (unless the caller skips
them). The rows are then written in chunks, one transaction each, straight into the case
tables: COPY on PostgreSQL, executemany elsewhere. An imported case is history, not a new
report, so it goes through none of the intake (no duplicate check, no routing, no deadlines
from today, no hooks: nothing is re-dispatched or re-notified); what it gets instead is the
record the old system kept — one event per step at its historical time, the deadline as
recorded — plus an `import` event saying where it came from, and the evaluation facts those
events make (cases.facts.facts_for_case, the same reading the live actions write), with the
days they fall on marked for recount.

Resuming: each chunk commits with the run's progress, and every imported row is keyed by
(source, external id). Running the same command on the same file again skips what is already
in and continues with the rest; a row is never imported twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridcity.accounts.actions import get_system_user
from gridcity.accounts.models import Department
from gridcity.cases.facts import (
    FACT_COLUMNS,
    CaseRow,
    EventRow,
    bulk_insert,
    facts_for_case,
    insert_facts,
)
from gridcity.cases.models import (
    PUBLIC_CHANNELS,
    Case,
    CaseEvent,
    CaseFact,
    Channel,
    Report,
    StaleDay,
)
from gridcity.cases.models import Status as S
from gridcity.cases.reference import ALPHABET, LENGTH
from gridcity.cases.workflow import STEP_OF_STATUS
from gridcity.grids.actions import position_problem
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.grids.spatial import get_index
from gridcity.history.models import ImportedCase, ImportRun, RunStatus
from gridcity.lib.coords import CRS, to_wgs84_many, validate_lonlat
from gridcity.lib.text import clean_text
from gridcity.taxonomy.models import Category, CategoryKind, FilingCondition

# ---------------------------------------------------------------------------------------------
# The file's columns: the key, then the headers an export may use for it (English or Chinese).

COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("外部编号", "外部ID", "原系统ID"),
    "original_number": ("原案件编号", "原编号", "案件编号", "case_number"),
    "reported_at": ("上报时间", "受理时间", "requested_datetime"),
    "filed_at": ("立案时间",),
    "dispatched_at": ("派遣时间", "派单时间"),
    "signed_at": ("签收时间",),
    "handled_at": ("处置反馈时间", "处置时间", "处理完成时间"),
    "checked_at": ("核查时间",),
    "closed_at": ("结案时间", "办结时间", "closed_datetime"),
    "handle_deadline": ("处置时限", "处置截止时间", "deadline"),
    "category": ("类别", "问题类别", "小类", "小类代码", "service_code"),
    "channel": ("来源", "上报渠道"),
    "lon": ("经度", "longitude", "long"),
    "lat": ("纬度", "latitude"),
    "address": ("地址", "问题地址"),
    "description": ("问题描述", "描述"),
    "department": ("责任部门", "处置部门", "agency_responsible"),
    "status": ("状态", "案件状态"),
    "closing_note": ("结案意见", "结案说明", "处置结果", "status_notes"),
    "reporter_name": ("上报人姓名", "上报人"),
    "reporter_phone": ("上报人电话", "联系电话"),
}
REQUIRED_COLUMNS = ("external_id", "reported_at", "category")

LABELS = {
    "file": gettext_lazy("文件"),
    "external_id": gettext_lazy("外部编号"),
    "original_number": gettext_lazy("原案件编号"),
    "reported_at": gettext_lazy("上报时间"),
    "filed_at": gettext_lazy("立案时间"),
    "dispatched_at": gettext_lazy("派遣时间"),
    "signed_at": gettext_lazy("签收时间"),
    "handled_at": gettext_lazy("处置反馈时间"),
    "checked_at": gettext_lazy("核查时间"),
    "closed_at": gettext_lazy("结案时间"),
    "handle_deadline": gettext_lazy("处置时限"),
    "category": gettext_lazy("类别"),
    "channel": gettext_lazy("来源"),
    "lon": gettext_lazy("经度"),
    "lat": gettext_lazy("纬度"),
    "address": gettext_lazy("地址"),
    "description": gettext_lazy("问题描述"),
    "department": gettext_lazy("责任部门"),
    "status": gettext_lazy("状态"),
    "closing_note": gettext_lazy("结案意见"),
    "reporter_name": gettext_lazy("上报人姓名"),
    "reporter_phone": gettext_lazy("上报人电话"),
}

# Longest text each column may hold: the width of the column it lands in.
MAX_LENGTH = {
    "external_id": Report._meta.get_field("external_id").max_length,
    "original_number": ImportedCase._meta.get_field("original_number").max_length,
    "address": Case._meta.get_field("address").max_length,
    "description": 4000,  # what the intake accepts
    "closing_note": 2000,  # what a transition's note accepts
    "reporter_name": Case._meta.get_field("reporter_name").max_length,
    "reporter_phone": Case._meta.get_field("reporter_phone").max_length,
}

# The steps of the old record, in order: the time column, the action it was, the status after.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("reported_at", "report", S.REPORTED),
    ("filed_at", "file", S.FILED),
    ("dispatched_at", "dispatch", S.DISPATCHED),
    ("signed_at", "sign", S.HANDLING),
    ("handled_at", "report_back", S.HANDLED),
    ("checked_at", "check_pass", S.CHECKED),
    ("closed_at", "close", S.CLOSED),
)
TIME_COLUMNS = tuple(s[0] for s in STEPS)
# The statuses a case may be imported in, and the step each one's record ends with. A voided
# case ends with a void at its 结案时间 (the time the old system ended it).
LAST_STEP = {
    S.REPORTED: 0,
    S.FILED: 1,
    S.DISPATCHED: 2,
    S.HANDLING: 3,
    S.HANDLED: 4,
    S.CHECKED: 5,
    S.CLOSED: 6,
    S.VOIDED: 6,
}
# Future times are a clock error in the old system, not history; a few minutes of skew is not.
FUTURE_SLACK = timedelta(minutes=10)
IMPORTED_DATA = '{"imported": true}'


class ImportRejected(Exception):
    def __init__(self, rejections: list[Rejection], run: ImportRun | None = None) -> None:
        super().__init__(f"{len(rejections)} rows rejected")
        self.rejections = rejections
        self.run = run


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str  # a COLUMNS key, or "file"
    reason: str

    def __str__(self) -> str:
        return _("第 %(line)s 行，%(field)s：%(reason)s") % {
            "line": self.line,
            "field": LABELS.get(self.field, self.field),
            "reason": self.reason,
        }


@dataclass(slots=True)
class HistoryRow:
    line: int
    external_id: str
    original_number: str
    times: list  # aware datetimes or None, in STEPS order
    status: str
    category_id: int
    channel: str
    lon: float | None
    lat: float | None
    address: str
    description: str
    department_id: int | None
    closing_note: str
    handle_deadline: datetime | None
    reporter_name: str
    reporter_phone: str
    cell_id: int | None = None
    area_path: str = ""


@dataclass
class Checked:
    rows: list[HistoryRow]
    rejections: list[Rejection]
    warnings: list[str] = field(default_factory=list)
    total: int = 0  # data rows in the file


@dataclass
class ImportSummary:
    run: ImportRun
    total: int
    imported: int
    skipped: int  # already imported before
    rejected: int
    unlocated: int
    remaining: int  # left for a rerun (after --limit)
    resumed: bool
    rejections: list[Rejection]
    warnings: list[str]

    @property
    def finished(self) -> bool:
        return self.remaining == 0


# ---------------------------------------------------------------------------------------------
# Reading


def read_table(path: str | Path) -> Iterator[tuple[int, list]]:
    """(line number, cells) for every line of a CSV (UTF-8, or GB18030 as older Chinese
    systems export) or the first sheet of an XLSX workbook; the header is line 1."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            for i, row in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1):
                yield i, list(row)
        finally:
            wb.close()
        return
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Checking


_LOOSE_TIME = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2}))?)?"
)


def parse_time(value, tz) -> datetime:
    """An aware datetime from a cell: a spreadsheet datetime, ISO 8601, or the way Chinese
    exports write it (2023/5/1 8:30, 2023年5月1日). Naive times are the city's local time."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            m = _LOOSE_TIME.fullmatch(text.replace("/", "-"))
            if m is None:
                raise ValueError(text) from None
            dt = datetime(*(int(g) for g in m.groups() if g is not None))
    if dt.tzinfo is None:
        return dt.replace(tzinfo=tz)
    return dt


def _text(value, *, multiline: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        # Spreadsheets turn identifiers into numbers: 10023 comes back as 10023.0.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        value = str(value)
    text = value.strip()
    if text.isprintable():
        return text
    return clean_text(text, multiline=multiline)


def _choices(choices) -> dict[str, str]:
    """Value or label (in the active language and in Chinese) → value, built once per file:
    a lazy label costs a gettext each time it is read."""
    out = {}
    for value, label in choices:
        out[str(label)] = value
        out[getattr(label, "_args", (str(label),))[0]] = value
        out[value] = value
    return out


class Lookups:
    """The reference data a file's rows name, read once."""

    def __init__(self) -> None:
        self.categories: dict[str, int] = {}
        ambiguous: set[str] = set()
        by_code: dict[str, list[tuple[str, int]]] = {}
        names: dict[str, set[int]] = {}
        for pk, kind, code, name, major, legacy in Category.objects.values_list(
            "pk", "kind", "code", "name", "major_name", "legacy_code"
        ):
            # Inactive categories too: history happened in categories since retired.
            self.categories[f"{kind}:{code}"] = pk
            by_code.setdefault(code, []).append((kind, pk))
            names.setdefault(name, set()).add(pk)
            names.setdefault(f"{major}/{name}", set()).add(pk)
            if legacy:
                names.setdefault(legacy, set()).add(pk)
        for code, kinds in by_code.items():
            if len(kinds) == 1:
                self.categories[code] = kinds[0][1]
            else:
                # As taxonomy.resolve_category: a bare code of class 01–05 is the component.
                preferred = (
                    CategoryKind.COMPONENT
                    if code[:2] in {"01", "02", "03", "04", "05"}
                    else CategoryKind.MATTER
                )
                self.categories[code] = next(pk for k, pk in kinds if k == preferred)
        for name, pks in names.items():
            if name in self.categories:
                continue
            if len(pks) == 1:
                self.categories[name] = next(iter(pks))
            else:
                ambiguous.add(name)
        self.ambiguous_categories = ambiguous
        self.departments: dict[str, int] = {}
        dept_names: dict[str, set[int]] = {}
        for pk, code, name in Department.objects.values_list("pk", "code", "name"):
            self.departments[code] = pk
            dept_names.setdefault(name, set()).add(pk)
        self.ambiguous_departments = set()
        for name, pks in dept_names.items():
            if name in self.departments:
                continue
            if len(pks) == 1:
                self.departments[name] = next(iter(pks))
            else:
                self.ambiguous_departments.add(name)


def _header(cells: list) -> tuple[dict[str, int], list[str]]:
    alias = {}
    for key, names in COLUMNS.items():
        alias[key.lower()] = key
        for n in names:
            alias[n.lower()] = key
    positions: dict[str, int] = {}
    unknown = []
    for i, cell in enumerate(cells):
        name = _text(cell).lower()
        key = alias.get(name)
        if key is None:
            if name:
                unknown.append(_text(cell))
        elif key not in positions:
            positions[key] = i
    return positions, unknown


def check_file(
    path: str | Path,
    *,
    channel: str = Channel.INSPECTOR,
    crs: str = CRS.WGS84,
    now: datetime | None = None,
) -> Checked:
    """Every row of the file checked and resolved (category, department, cell), nothing
    written: the rows that pass and a rejection for each bad field of each row that doesn't."""
    tz = timezone.get_current_timezone()
    now = now or timezone.now()
    latest = now + FUTURE_SLACK
    lookups = Lookups()
    table = read_table(path)
    result = Checked([], [])
    first = next(table, None)
    if first is None:
        result.rejections.append(Rejection(1, "file", _("文件为空")))
        return result
    positions, unknown = _header(first[1])
    if unknown:
        result.warnings.append(_("忽略未知的列：%(columns)s") % {"columns": "、".join(unknown)})
    missing = [k for k in REQUIRED_COLUMNS if k not in positions]
    if missing:
        for key in missing:
            result.rejections.append(Rejection(1, key, _("缺少必需的列")))
        return result
    cols = list(positions.items())
    seen: dict[str, int] = {}
    rejections = result.rejections
    statuses = _choices([(s.value, s.label) for s in LAST_STEP])
    channels = _choices(Channel.choices)
    for line, cells in table:
        if not any(c not in (None, "") for c in cells):
            continue  # blank lines: spreadsheets leave them at the end
        result.total += 1
        n = len(cells)
        v = {k: (cells[i] if i < n else None) for k, i in cols}
        bad: list[Rejection] = []

        def reject(key: str, reason: str, bad=bad, line=line) -> None:
            bad.append(Rejection(line, key, reason))

        text = {}
        for key in MAX_LENGTH:
            t = _text(v.get(key), multiline=key in ("description", "closing_note"))
            if len(t) > MAX_LENGTH[key]:
                reject(
                    key,
                    _("内容过长（%(length)s 字，最多 %(max)s 字）")
                    % {"length": len(t), "max": MAX_LENGTH[key]},
                )
            text[key] = t
        external_id = text["external_id"]
        if not external_id:
            reject("external_id", _("不能为空"))
        elif external_id in seen:
            reject("external_id", _("与第 %(line)s 行重复") % {"line": seen[external_id]})
        else:
            seen[external_id] = line

        times: list = []
        for key in TIME_COLUMNS:
            raw = v.get(key)
            if raw is None or raw == "":
                times.append(None)
                continue
            try:
                t = parse_time(raw, tz)
            except (ValueError, TypeError, OverflowError):
                reject(key, _("无法识别的时间“%(value)s”") % {"value": _text(raw)[:40]})
                times.append(None)
                continue
            if t > latest:
                reject(key, _("时间晚于现在"))
            times.append(t)
        if times[0] is None and v.get("reported_at") in (None, ""):
            reject("reported_at", _("不能为空"))
        previous = None
        for key, t in zip(TIME_COLUMNS, times, strict=True):
            if t is None:
                continue
            if previous is not None and t < previous[1]:
                reject(
                    key,
                    _("早于%(earlier)s（环节时间顺序不对）") % {"earlier": LABELS[previous[0]]},
                )
            previous = (key, t)
        deadline = None
        raw = v.get("handle_deadline")
        if raw not in (None, ""):
            try:
                deadline = parse_time(raw, tz)
            except (ValueError, TypeError, OverflowError):
                reject(
                    "handle_deadline", _("无法识别的时间“%(value)s”") % {"value": _text(raw)[:40]}
                )

        category = _text(v.get("category"))
        category_id = lookups.categories.get(category)
        if not category:
            reject("category", _("不能为空"))
        elif category in lookups.ambiguous_categories:
            reject("category", _("“%(value)s”对应多个类别，请写类别代码") % {"value": category})
        elif category_id is None:
            reject("category", _("未知的类别“%(value)s”") % {"value": category})

        row_channel = channel
        raw = _text(v.get("channel"))
        if raw:
            row_channel = channels.get(raw)
            if row_channel is None:
                reject("channel", _("未知的来源“%(value)s”") % {"value": raw})

        department_id = None
        raw = _text(v.get("department"))
        if raw:
            department_id = lookups.departments.get(raw)
            if raw in lookups.ambiguous_departments:
                reject("department", _("“%(value)s”对应多个部门，请写部门代码") % {"value": raw})
            elif department_id is None:
                reject("department", _("未知的部门“%(value)s”") % {"value": raw})
        elif times[2] is not None:
            reject("department", _("有派遣时间时必须填写责任部门"))

        status = None
        raw = _text(v.get("status"))
        if raw:
            status = statuses.get(raw)
            if status is None:
                reject(
                    "status",
                    _("不支持的状态“%(value)s”，可用：%(choices)s")
                    % {"value": raw, "choices": "、".join(str(s.label) for s in LAST_STEP)},
                )
        else:
            present = [i for i, t in enumerate(times) if t is not None]
            status = STEPS[present[-1]][2] if present else S.REPORTED
        if status is not None:
            last = LAST_STEP[status]
            if times[last] is None and v.get(TIME_COLUMNS[last]) in (None, ""):
                reject(
                    TIME_COLUMNS[last],
                    _("状态为“%(status)s”时不能为空") % {"status": S(status).label},
                )
            for i in range(last + 1, len(STEPS)):
                if v.get(TIME_COLUMNS[i]) not in (None, ""):
                    reject(
                        TIME_COLUMNS[i],
                        _("状态为“%(status)s”时应为空") % {"status": S(status).label},
                    )

        lon = lat = None
        raw_lon, raw_lat = v.get("lon"), v.get("lat")
        if raw_lon not in (None, "") or raw_lat not in (None, ""):
            try:
                lon, lat = float(raw_lon), float(raw_lat)
                validate_lonlat(lon, lat)
            except (TypeError, ValueError) as exc:
                which = "lat" if "纬度" in str(exc) else "lon"
                reject(
                    which,
                    _("经纬度无效：%(value)s, %(value2)s")
                    % {"value": _text(raw_lon), "value2": _text(raw_lat)},
                )
                lon = lat = None
        elif not text["address"]:
            reject("lon", _("请提供经纬度或地址"))

        if bad:
            rejections.extend(bad)
            continue
        result.rows.append(
            HistoryRow(
                line=line,
                external_id=external_id,
                original_number=text["original_number"],
                times=times,
                status=status,
                category_id=category_id,
                channel=row_channel,
                lon=lon,
                lat=lat,
                address=text["address"],
                description=text["description"],
                department_id=department_id,
                closing_note=text["closing_note"],
                handle_deadline=deadline,
                reporter_name=text["reporter_name"],
                reporter_phone=text["reporter_phone"],
            )
        )
    _locate(result.rows, crs)
    return result


def _locate(rows: list[HistoryRow], crs: str) -> None:
    """The cells of all rows at once: one vectorised transform and one STRtree query."""
    placed = [r for r in rows if r.lon is not None]
    if not placed:
        return
    lons, lats = to_wgs84_many([r.lon for r in placed], [r.lat for r in placed], crs)
    index = get_index()
    hits = index.locate_many(lons, lats)
    cells = index.cells
    for r, lon, lat, hit in zip(placed, lons.tolist(), lats.tolist(), hits.tolist(), strict=True):
        r.lon, r.lat = lon, lat
        if hit >= 0:
            r.cell_id, r.area_path = cells[hit].id, cells[hit].path


# ---------------------------------------------------------------------------------------------
# Writing


CASE_COLUMNS = (
    "id",
    "number",
    "public_reference",
    "status",
    "channel",
    "category_id",
    "filing_condition_id",
    "description",
    "address",
    "lon",
    "lat",
    "cell_id",
    "area_path",
    "position_problem",
    "department_id",
    "dispatch_explanation",
    "reporter_name",
    "reporter_phone",
    "is_urgent",
    "reported_at",
    "filed_at",
    "dispatched_at",
    "signed_at",
    "handled_at",
    "checked_at",
    "closed_at",
    "handle_deadline",
    "handle_clock",
    "step",
    "step_started_at",
    "step_deadline",
    "step_clock",
    "supervision_level",
    "rework_count",
    "return_count",
    "version",
)
REPORT_COLUMNS = (
    "id",
    "case_id",
    "channel",
    "reporter_name",
    "reporter_phone",
    "reporter_email",
    "description",
    "address",
    "lon",
    "lat",
    "input_crs",
    "reported_at",
    "fingerprint",
    "is_duplicate",
    "external_id",
    "extra",
)
EVENT_COLUMNS = (
    "id",
    "case_id",
    "action",
    "from_status",
    "to_status",
    "actor_id",
    "actor_role",
    "actor_department_id",
    "department_id",
    "at",
    "note",
    "data",
    "step",
    "step_clock",
    "overdue",
)
IMPORTED_COLUMNS = ("case_id", "source", "external_id", "original_number", "run_id", "line")
# Datetime and JSON positions, for the databases whose driver wants them as text.
_CASE_TIMES = tuple(i for i, c in enumerate(CASE_COLUMNS) if c.endswith(("_at", "_deadline")))


def reserve_ids(model, n: int) -> list[int]:
    """`n` primary keys the table's own sequence will never hand out again, so the rows can be
    written with their ids (events and facts point at them) and live intake goes on beside."""
    if n == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, n],
            )
            return [r[0] for r in cur.fetchall()]
        # SQLite: the transaction holds the write lock (IMMEDIATE), so nobody inserts between
        # this read and our rows; AUTOINCREMENT then carries on after the highest id written.
        cur.execute(f"SELECT max(id) FROM {table}")  # noqa: S608 - a model's own table name
        top = cur.fetchone()[0] or 0
        cur.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        seq = cur.fetchone()
        start = max(top, seq[0] if seq else 0) + 1
        return list(range(start, start + n))


_column_types: dict[str, dict[str, str]] = {}


def _types(table: str, columns: tuple[str, ...]) -> list[str]:
    if table not in _column_types:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT column_name, udt_name FROM information_schema.columns "
                "WHERE table_name = %s AND table_schema = current_schema()",
                [table],
            )
            _column_types[table] = dict(cur.fetchall())
    return [_column_types[table][c] for c in columns]


def _raw_json(obj) -> str:
    # The rows carry their JSON already encoded (one json.dumps each, or a constant).
    return obj if isinstance(obj, str) else json.dumps(obj)


def copy_rows(table: str, columns: tuple[str, ...], rows: list) -> None:
    """Binary COPY on PostgreSQL: timestamps and numbers cross as they are stored, no text to
    format on this side nor parse on the server's (about twice as fast as text COPY here);
    executemany elsewhere (cases.facts.bulk_insert)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        bulk_insert(table, columns, rows)
        return
    from psycopg.types.json import set_json_dumps

    types = _types(table, columns)  # before the COPY takes the connection
    with connection.cursor() as cur:
        raw = cur.cursor
        set_json_dumps(_raw_json, context=raw)
        with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for r in rows:
                copy.write_row(r)


def write_facts(rows: list[tuple]) -> None:
    if connection.vendor == "postgresql":
        copy_rows(CaseFact._meta.db_table, FACT_COLUMNS, rows)
    else:
        insert_facts(rows)


def case_number(reported_at: datetime, pk: int) -> str:
    """The number the intake gives: the local report date and the case's sequence number."""
    return f"{timezone.localtime(reported_at):%Y%m%d}{pk:06d}"


_REFERENCE_TABLE = bytes.maketrans(bytes(range(256)), (ALPHABET.encode() * 8))


def public_references(n: int) -> list[str]:
    """`n` references as cases.reference makes them (uniform over the same alphabet), from one
    read of the system's random source instead of ten calls per case."""
    raw = os.urandom(n * LENGTH).translate(_REFERENCE_TABLE).decode()
    return [raw[i : i + LENGTH] for i in range(0, n * LENGTH, LENGTH)]


class Writer:
    """Writes chunks of checked rows for one run."""

    def __init__(self, run: ImportRun, *, crs: str) -> None:
        self.run = run
        self.crs = str(crs)
        self.system = get_system_user()
        self.system_role = self.system.role
        self.pg = connection.vendor == "postgresql"
        self.conditions: dict[int, tuple[int, bool]] = {}
        # The condition a filing without one gets (cases.actions: the category's first).
        for condition in FilingCondition.objects.order_by("category_id", "order", "pk"):
            self.conditions.setdefault(condition.category_id, (condition.pk, condition.is_urgent))
        self.parents = dict(
            Area.objects.filter(level=AreaLevel.CELL).values_list("pk", "parent_id")
        )
        self.managers: dict[int, int] = {}
        for cell_id, manager_id in (
            Beat.objects.filter(manager__isnull=False, cells__isnull=False)
            .order_by("pk")
            .values_list("cells__id", "manager_id")
        ):
            self.managers.setdefault(cell_id, manager_id)
        self.marked_days: set[date] = set()
        self.tz = timezone.get_current_timezone()

    def write(self, rows: list[HistoryRow], now: datetime) -> int:
        """One chunk in the caller's transaction; returns the number of unlocated cases."""
        n = len(rows)
        n_events = sum(1 + sum(t is not None for t in r.times) for r in rows)
        case_ids = reserve_ids(Case, n)
        report_ids = reserve_ids(Report, n)
        event_ids = iter(reserve_ids(CaseEvent, n_events))
        refs = public_references(n)
        public = frozenset(PUBLIC_CHANNELS)
        cases, reports, events, facts, imported = [], [], [], [], []
        system_id, system_role = self.system.pk, self.system_role
        system_dept = self.system.department_id
        run_id, source = self.run.pk, self.run.source
        tz = self.tz
        unlocated = 0
        first = last = None
        for r, case_id, report_id, ref in zip(rows, case_ids, report_ids, refs, strict=True):
            times = r.times
            reported = times[0]
            status = r.status
            if r.cell_id is None:
                unlocated += 1
            manager = self.managers.get(r.cell_id) if r.channel in public else None
            # The record as the old system kept it: one event per step it has a time for.
            rec: list[EventRow] = []
            prev = ""
            dept = None
            for i, (_col, action, to) in enumerate(STEPS):
                at = times[i]
                if at is None:
                    continue
                note = ""
                if i == 6:
                    note = r.closing_note
                    if status == S.VOIDED:
                        action, to = "void", S.VOIDED
                if i == 0:
                    data = {"channel": r.channel, "report_id": report_id, "imported": True}
                    if manager is not None:
                        data["beat_manager"] = manager
                    data_text = json.dumps(data)
                else:
                    data, data_text = {}, IMPORTED_DATA
                if i == 2:
                    dept = r.department_id
                overdue = i == 4 and r.handle_deadline is not None and at > r.handle_deadline
                step = STEP_OF_STATUS.get(prev, "") if i else ""
                eid = next(event_ids)
                events.append(
                    (
                        eid,
                        case_id,
                        action,
                        prev,
                        to,
                        None,
                        "",
                        None,
                        dept,
                        at,
                        note,
                        data_text,
                        step,
                        "",
                        overdue,
                    )
                )
                rec.append(EventRow(eid, action, at, None, dept, overdue, step, data))
                prev = to
                if first is None or at < first:
                    first = at
                if last is None or at > last:
                    last = at
            number = case_number(reported, case_id)
            events.append(
                (
                    next(event_ids),
                    case_id,
                    "import",
                    status,
                    status,
                    system_id,
                    system_role,
                    system_dept,
                    r.department_id,
                    now,
                    f"从{source}导入的历史案件，原编号 {r.original_number or r.external_id}",
                    json.dumps(
                        {
                            "source": source,
                            "external_id": r.external_id,
                            "original_number": r.original_number,
                            "run": run_id,
                            "line": r.line,
                        },
                        ensure_ascii=False,
                    ),
                    "",
                    "",
                    False,
                )
            )
            facts += facts_for_case(
                CaseRow(case_id, number, r.channel, status, r.cell_id, self.parents.get(r.cell_id)),
                rec,
                self.managers.get,
            )
            open_step = STEP_OF_STATUS.get(status, "")
            condition = self.conditions.get(r.category_id) if times[1] is not None else None
            cases.append(
                [
                    case_id,
                    number,
                    ref,
                    status,
                    r.channel,
                    r.category_id,
                    condition[0] if condition else None,
                    r.description,
                    r.address,
                    r.lon,
                    r.lat,
                    r.cell_id,
                    r.area_path,
                    position_problem(r.lon, r.lat) if r.cell_id is None else "",
                    r.department_id,
                    "{}",
                    r.reporter_name,
                    r.reporter_phone,
                    bool(condition and condition[1]),
                    reported,
                    times[1],
                    times[2],
                    times[3],
                    times[4],
                    times[5],
                    times[6] if status == S.CLOSED else None,
                    r.handle_deadline,
                    "",
                    open_step,
                    max(t for t in times if t is not None) if open_step else None,
                    r.handle_deadline if open_step == "handle" else None,
                    "",
                    0,
                    0,
                    0,
                    len(rec) - 1,
                ]
            )
            reports.append(
                [
                    report_id,
                    case_id,
                    r.channel,
                    r.reporter_name,
                    r.reporter_phone,
                    "",
                    r.description,
                    r.address,
                    r.lon,
                    r.lat,
                    self.crs,
                    reported,
                    "",
                    False,
                    r.external_id,
                    json.dumps(
                        {"source": source, "original_number": r.original_number},
                        ensure_ascii=False,
                    ),
                ]
            )
            imported.append((case_id, source, r.external_id, r.original_number, run_id, r.line))
        if not self.pg:
            adapt = connection.ops.adapt_datetimefield_value
            for c in cases:
                for i in _CASE_TIMES:
                    c[i] = adapt(c[i])
            for rep in reports:
                rep[11] = adapt(rep[11])
            events = [(*e[:9], adapt(e[9]), *e[10:]) for e in events]
        copy_rows(Case._meta.db_table, CASE_COLUMNS, cases)
        copy_rows(Report._meta.db_table, REPORT_COLUMNS, reports)
        copy_rows(CaseEvent._meta.db_table, EVENT_COLUMNS, events)
        write_facts(facts)
        copy_rows(ImportedCase._meta.db_table, IMPORTED_COLUMNS, imported)
        if first is not None:
            self._mark_days(timezone.localdate(first, tz), timezone.localdate(last, tz))
        return unlocated

    def _mark_days(self, first: date, last: date) -> None:
        """The evaluation recounts these days (refresh-evaluation, or a page that needs them)."""
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        new = [d for d in days if d not in self.marked_days]
        if new:
            StaleDay.objects.bulk_create([StaleDay(day=d) for d in new], ignore_conflicts=True)
            self.marked_days.update(new)


# ---------------------------------------------------------------------------------------------
# The whole import


def _already_imported(source: str, external_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(external_ids), 5000):
        found.update(
            ImportedCase.objects.filter(
                source=source, external_id__in=external_ids[i : i + 5000]
            ).values_list("external_id", flat=True)
        )
    return found


def import_cases(
    path: str | Path,
    *,
    source: str = "legacy",
    channel: str = Channel.INSPECTOR,
    crs: str = CRS.WGS84,
    skip_invalid: bool = False,
    chunk_size: int = 10_000,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Check the whole file, then import its rows in chunks (see the module's docstring).
    Raises ImportRejected, having written no case, when a row is rejected and `skip_invalid`
    is off. `limit`: stop after importing that many rows (a rerun continues)."""
    now = now or timezone.now()
    path = Path(path)
    digest = file_digest(path)
    checked = check_file(path, channel=channel, crs=crs, now=now)
    if checked.rejections and (not skip_invalid or not checked.total or not checked.rows):
        run = ImportRun.objects.create(
            source=source,
            file_name=path.name[:255],
            file_sha256=digest,
            status=RunStatus.REJECTED,
            rows=checked.total,
            rejected=len({r.line for r in checked.rejections}),
            started_at=now,
            updated_at=now,
            finished_at=now,
        )
        raise ImportRejected(checked.rejections, run)
    run = (
        ImportRun.objects.filter(file_sha256=digest, source=source, status=RunStatus.RUNNING)
        .order_by("-pk")
        .first()
    )
    resumed = run is not None
    if run is None:
        run = ImportRun.objects.create(
            source=source,
            file_name=path.name[:255],
            file_sha256=digest,
            rows=checked.total,
            rejected=len({r.line for r in checked.rejections}),
            unlocated=0,
            started_at=now,
            updated_at=now,
        )
    done = _already_imported(source, [r.external_id for r in checked.rows])
    todo = [r for r in checked.rows if r.external_id not in done]
    skipped = len(checked.rows) - len(todo)
    # The run's own rows from before an interruption are its progress, not skipped rows.
    skipped_before_run = skipped - run.imported
    if limit is not None:
        todo, rest = todo[:limit], len(todo) - min(limit, len(todo))
    else:
        rest = 0
    writer = Writer(run, crs=crs)
    imported = unlocated = 0
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        with transaction.atomic():
            chunk_unlocated = writer.write(chunk, now)
            ImportRun.objects.filter(pk=run.pk).update(
                imported=F("imported") + len(chunk),
                unlocated=F("unlocated") + chunk_unlocated,
                last_line=chunk[-1].line,
                updated_at=timezone.now(),
            )
        imported += len(chunk)
        unlocated += chunk_unlocated
        if progress is not None:
            progress(
                _("已导入 %(done)s / %(total)s 行（至第 %(line)s 行）")
                % {"done": imported, "total": len(todo), "line": chunk[-1].line}
            )
    fields = {"skipped": max(skipped_before_run, 0), "updated_at": timezone.now()}
    if rest == 0:
        fields |= {"status": RunStatus.FINISHED, "finished_at": timezone.now()}
    ImportRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return ImportSummary(
        run=run,
        total=checked.total,
        imported=imported,
        skipped=skipped,
        rejected=len({r.line for r in checked.rejections}),
        unlocated=unlocated,
        remaining=rest,
        resumed=resumed,
        rejections=checked.rejections,
        warnings=checked.warnings,
    )
