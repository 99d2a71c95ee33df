"""A city's own days off and working days from a file: CSV, XLSX or ICS.

CSV and XLSX have a header row with a 日期/date column and optional 类型/type, 说明/note (or
name) and 每年/recurring columns. A date is written 2026-07-04 for that day alone or 07-04 for
every year; the type is 休息/off (the default) or 上班/work. An ICS file's all-day events are
days off; a yearly event (RRULE:FREQ=YEARLY) is one every year. The whole file is checked
before anything is written, and every rejected row is reported with its line number.
"""

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from gridcity.lib.bounds import EARLIEST_DATE, LATEST_DATE
from gridcity.system import stamps
from gridcity.taxonomy.actions import RowError, time_config
from gridcity.taxonomy.models import CalendarDay, RecurringCalendarDay

CALENDAR_FILE_SUFFIXES = (".csv", ".xlsx", ".ics")
NOTE_MAX_LENGTH = CalendarDay._meta.get_field("note").max_length
# An all-day event longer than this is a mistake (a whole year off), not a holiday.
LONGEST_EVENT_DAYS = 31

_COLUMNS = {
    "date": ("日期", "date", "day"),
    "kind": ("类型", "type", "kind", "是否工作日", "is_workday", "workday"),
    "note": ("说明", "名称", "备注", "note", "name", "description", "holiday"),
    "recurring": ("每年", "每年重复", "recurring", "every year", "yearly", "annual"),
}
_OFF = {
    "休息",
    "休",
    "假",
    "假日",
    "节假日",
    "放假",
    "否",
    "off",
    "day off",
    "holiday",
    "no",
    "false",
    "0",
}
_WORK = {
    "上班",
    "班",
    "工作日",
    "补班",
    "调休上班",
    "是",
    "work",
    "workday",
    "working day",
    "yes",
    "true",
    "1",
}
_YES = {"是", "每年", "yes", "y", "true", "1", "x"}
_NO = {"", "否", "no", "n", "false", "0"}

_FULL_DATE_RE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]00:00(?::00)?)?$")
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_MONTH_DAY_RE = re.compile(r"^(?:--)?(\d{1,2})[-/.](\d{1,2})$")
_CHINESE_DATE_RE = re.compile(r"^(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日$")


class CalendarRejected(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class CalendarEntry:
    """One day of the file: a date, or a (month, day) that comes back every year."""

    line: int
    day: date | tuple[int, int]
    is_workday: bool
    note: str = ""

    @property
    def every_year(self) -> bool:
        return isinstance(self.day, tuple)


@dataclass
class CalendarImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    entries: list[CalendarEntry] = field(default_factory=list)


def read_calendar_file(path: Path | str) -> list[CalendarEntry]:
    """Every entry of the file, or CalendarRejected with every bad row."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CALENDAR_FILE_SUFFIXES:
        raise CalendarRejected([RowError(1, "-", _("只接受 .csv、.xlsx 或 .ics 文件"))])
    if suffix == ".ics":
        entries = _read_ics(_decode(path.read_bytes()))
    else:
        rows = _xlsx_rows(path) if suffix == ".xlsx" else _csv_rows(path)
        entries = _read_table(rows)
    _check_conflicts(entries)
    return entries


def import_calendar_days(path: Path | str) -> CalendarImportResult:
    """All or nothing: a day already in the local calendar takes the file's type and note."""
    entries = read_calendar_file(path)
    result = CalendarImportResult(entries=entries)
    one_day = {e.day: e for e in entries if not e.every_year}
    every_year = {e.day: e for e in entries if e.every_year}
    with transaction.atomic():
        existing = {row.date: row for row in CalendarDay.objects.filter(date__in=list(one_day))}
        _apply(
            result,
            one_day,
            existing,
            lambda d, e: CalendarDay(date=d, is_workday=e.is_workday, note=e.note),
            CalendarDay,
        )
        recurring_rows = {
            (row.month, row.day): row
            for row in RecurringCalendarDay.objects.filter(month__in={m for m, _d in every_year})
        }
        _apply(
            result,
            every_year,
            recurring_rows,
            lambda md, e: RecurringCalendarDay(
                month=md[0], day=md[1], is_workday=e.is_workday, note=e.note
            ),
            RecurringCalendarDay,
        )
        if result.created or result.updated:
            # Bulk writes send no signals: stamp the calendar once for every process.
            stamps.changed(stamps.CALENDAR, time_config)
    return result


def _apply(result, wanted, existing, make, model) -> None:
    new, changed = [], []
    for key, entry in wanted.items():
        row = existing.get(key)
        if row is None:
            new.append(make(key, entry))
        elif (row.is_workday, row.note) != (entry.is_workday, entry.note or row.note):
            row.is_workday, row.note = entry.is_workday, entry.note or row.note
            changed.append(row)
        else:
            result.unchanged += 1
    model.objects.bulk_create(new)
    model.objects.bulk_update(changed, ["is_workday", "note"])
    result.created += len(new)
    result.updated += len(changed)


# -- reading -----------------------------------------------------------------------------------


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CalendarRejected([RowError(1, "-", _("文件编码无法识别，请使用 UTF-8"))])


def _csv_rows(path: Path) -> list[tuple[int, list]]:
    # Comment lines become blank rows so that line numbers in messages match the file.
    lines = ["" if ln.startswith("#") else ln for ln in _decode(path.read_bytes()).splitlines()]
    try:
        return [(n, row) for n, row in enumerate(csv.reader(lines), start=1)]
    except csv.Error as exc:
        raise CalendarRejected([RowError(1, "-", _("CSV 格式错误：%s") % exc)]) from exc


def _xlsx_rows(path: Path) -> list[tuple[int, list]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and ValueError variants
        raise CalendarRejected([RowError(1, "-", _("无法读取 XLSX 文件：%s") % exc)]) from exc
    sheet = workbook.worksheets[0]
    rows = [
        (n, list(row))
        for n, row in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1)
    ]
    workbook.close()
    return rows


def _cell(value) -> str:
    return "" if value is None else str(value).strip()


def _read_table(rows: list[tuple[int, list]]) -> list[CalendarEntry]:
    filled = [(n, row) for n, row in rows if any(_cell(c) for c in row)]
    if not filled:
        raise CalendarRejected([RowError(1, "-", _("文件为空"))])
    header_line, header = filled[0]
    names = [_cell(h).lower() for h in header]
    position: dict[str, int] = {}
    for column, aliases in _COLUMNS.items():
        for i, name in enumerate(names):
            if name in aliases and column not in position:
                position[column] = i
    if "date" not in position:
        found = "、".join(_cell(h) for h in header if _cell(h)) or "-"
        raise CalendarRejected(
            [RowError(header_line, "日期", _("缺少日期列（日期 或 date）；文件中的列：%s") % found)]
        )
    column_name = {c: _cell(header[i]) for c, i in position.items()}
    entries: list[CalendarEntry] = []
    errors: list[RowError] = []
    for line, row in filled[1:]:

        def get(column: str, row=row):
            i = position.get(column)
            return row[i] if i is not None and i < len(row) else None

        before = len(errors)
        day = _table_date(get("date"), line, column_name["date"], errors)
        is_workday = False
        if "kind" in position:
            kind = _cell(get("kind")).lower()
            if kind in _WORK:
                is_workday = True
            elif kind not in _OFF:
                errors.append(
                    RowError(
                        line,
                        column_name["kind"],
                        _("“%s”应为 休息/off 或 上班/work") % _cell(get("kind")),
                    )
                )
        if "recurring" in position:
            flag = _cell(get("recurring")).lower()
            if flag in _YES:
                if isinstance(day, date):
                    day = (day.month, day.day)
            elif flag not in _NO:
                errors.append(
                    RowError(
                        line,
                        column_name["recurring"],
                        _("“%s”应为 是/yes 或 否/no") % _cell(get("recurring")),
                    )
                )
        note = _cell(get("note"))
        if len(note) > NOTE_MAX_LENGTH:
            errors.append(
                RowError(
                    line,
                    column_name["note"],
                    _("说明有 %(length)d 个字符，最多 %(max)d 个")
                    % {"length": len(note), "max": NOTE_MAX_LENGTH},
                )
            )
        if len(errors) == before and day is not None:
            entries.append(CalendarEntry(line, day, is_workday, note))
    if errors:
        raise CalendarRejected(errors)
    if not entries:
        raise CalendarRejected([RowError(header_line + 1, "-", _("没有任何数据行"))])
    return entries


def _table_date(value, line: int, column: str, errors: list[RowError]):
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            errors.append(RowError(line, column, _("“%s”带有时刻，应只写日期") % value))
            return None
        value = value.date()
    if isinstance(value, date):
        return _in_range(value, line, column, errors)
    text = _cell(value)
    if not text:
        errors.append(RowError(line, column, _("不能为空")))
        return None
    full = _FULL_DATE_RE.match(text) or _COMPACT_DATE_RE.match(text)
    chinese = _CHINESE_DATE_RE.match(text)
    if chinese and chinese.group(1):
        full = chinese
    if full:
        try:
            parsed = date(*map(int, full.groups()))
        except ValueError:
            pass
        else:
            return _in_range(parsed, line, column, errors)
    else:
        # No year (07-04, 7月4日): the same day every year.
        month_day = _MONTH_DAY_RE.match(text) or chinese
        if month_day:
            month, day = (int(g) for g in month_day.groups()[-2:])
            return _month_day(month, day, text, line, column, errors)
    errors.append(
        RowError(
            line,
            column,
            _("“%s”不是日期：某一天写 2026-07-04，每年的同一天写 07-04") % text,
        )
    )
    return None


def _in_range(value: date, line: int, column: str, errors: list[RowError]) -> date | None:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        errors.append(
            RowError(
                line,
                column,
                _("%(date)s 超出范围（%(earliest)s 至 %(latest)s）")
                % {"date": value, "earliest": EARLIEST_DATE, "latest": LATEST_DATE},
            )
        )
        return None
    return value


def _month_day(month: int, day: int, text: str, line: int, column: str, errors: list[RowError]):
    try:
        date(2000, month, day)  # a leap year: 02-29 exists
    except ValueError:
        errors.append(RowError(line, column, _("“%s”不是一年中的某一天") % text))
        return None
    return (month, day)


def _check_conflicts(entries: list[CalendarEntry]) -> None:
    seen: dict[date | tuple[int, int], CalendarEntry] = {}
    errors = []
    for entry in entries:
        earlier = seen.get(entry.day)
        if earlier is not None and earlier.is_workday != entry.is_workday:
            errors.append(
                RowError(
                    entry.line,
                    "-",
                    _("与第%(line)d行矛盾：同一天既是休息日又是工作日") % {"line": earlier.line},
                )
            )
        seen.setdefault(entry.day, entry)
    if errors:
        raise CalendarRejected(errors)


# -- ICS ---------------------------------------------------------------------------------------


@dataclass
class _Event:
    line: int
    properties: dict[str, tuple[int, dict[str, str], str]] = field(default_factory=dict)


def _ics_lines(text: str) -> list[tuple[int, str]]:
    """Logical lines with the number of the physical line each starts on (RFC 5545 unfolding)."""
    logical: list[tuple[int, str]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and logical:
            start, value = logical[-1]
            logical[-1] = (start, value + raw[1:])
        elif raw.strip():
            logical.append((n, raw))
    return logical


def _split_property(line: str) -> tuple[str, dict[str, str], str]:
    head, _sep, value = line.partition(":")
    name, *params = head.split(";")
    parameters = {}
    for param in params:
        key, _eq, val = param.partition("=")
        parameters[key.upper()] = val.strip('"')
    return name.upper(), parameters, value


def _ics_text(value: str) -> str:
    return (
        value.replace("\\n", " ")
        .replace("\\N", " ")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
        .strip()
    )


def _read_ics(text: str) -> list[CalendarEntry]:
    lines = _ics_lines(text)
    if not lines or lines[0][1].strip().upper() != "BEGIN:VCALENDAR":
        raise CalendarRejected(
            [RowError(1, "-", _("不是 iCalendar 文件：应以 BEGIN:VCALENDAR 开头"))]
        )
    events: list[_Event] = []
    errors: list[RowError] = []
    current: _Event | None = None
    nested = 0  # VALARM and the like inside an event: their properties are not the event's
    for n, line in lines:
        name, params, value = _split_property(line)
        upper = value.strip().upper()
        if name == "BEGIN" and upper == "VEVENT":
            current = _Event(n)
        elif current is not None and name == "BEGIN":
            nested += 1
        elif current is not None and name == "END" and upper != "VEVENT":
            nested = max(nested - 1, 0)
        elif name == "END" and upper == "VEVENT":
            if current is not None:
                events.append(current)
            current, nested = None, 0
        elif current is not None and not nested:
            current.properties.setdefault(name, (n, params, value.strip()))
    if current is not None:
        errors.append(RowError(current.line, "VEVENT", _("事件没有 END:VEVENT")))
    entries: list[CalendarEntry] = []
    for event in events:
        entries.extend(_ics_event(event, errors))
    if errors:
        raise CalendarRejected(errors)
    if not entries:
        raise CalendarRejected([RowError(1, "-", _("文件中没有全天事件"))])
    return entries


def _ics_date(prop: tuple[int, dict[str, str], str], name: str, errors: list[RowError]):
    line, params, value = prop
    if params.get("VALUE", "DATE").upper() != "DATE" or "T" in value.upper():
        errors.append(RowError(line, name, _("“%s”不是全天事件：只导入全天事件（休息日）") % value))
        return None
    match = _COMPACT_DATE_RE.match(value)
    try:
        parsed = date(*map(int, match.groups())) if match else None
    except ValueError:
        parsed = None
    if parsed is None:
        errors.append(RowError(line, name, _("“%s”不是日期（应为 YYYYMMDD）") % value))
        return None
    return _in_range(parsed, line, name, errors)


def _ics_event(event: _Event, errors: list[RowError]) -> list[CalendarEntry]:
    props = event.properties
    if props.get("STATUS", (0, {}, ""))[2].upper() == "CANCELLED":
        return []
    if "DTSTART" not in props:
        errors.append(RowError(event.line, "DTSTART", _("事件没有开始日期")))
        return []
    before = len(errors)
    start = _ics_date(props["DTSTART"], "DTSTART", errors)
    end = _ics_date(props["DTEND"], "DTEND", errors) if "DTEND" in props else None
    every_year = False
    if "RRULE" in props:
        rule_line, _params, rule = props["RRULE"]
        parts = dict(p.partition("=")[::2] for p in rule.upper().split(";") if p)
        if (
            parts.get("FREQ") != "YEARLY"
            or set(parts) - {"FREQ", "INTERVAL", "WKST"}
            or parts.get("INTERVAL", "1") != "1"
        ):
            errors.append(
                RowError(
                    rule_line,
                    "RRULE",
                    _("“%s”：只支持每年同一天重复（RRULE:FREQ=YEARLY）") % rule,
                )
            )
        every_year = True
    if len(errors) > before or start is None:
        return []
    if end is None:
        days = 1
        if "DURATION" in props:
            line, _params, value = props["DURATION"]
            match = re.fullmatch(r"P(\d+)D", value.upper())
            if match is None:
                errors.append(RowError(line, "DURATION", _("“%s”应为整天数，如 P1D") % value))
                return []
            days = int(match.group(1))
    else:
        days = (end - start).days
    if not 1 <= days <= LONGEST_EVENT_DAYS:
        errors.append(
            RowError(
                event.line,
                "DTEND",
                _("事件长 %(days)d 天，应为 1 至 %(max)d 天")
                % {"days": days, "max": LONGEST_EVENT_DAYS},
            )
        )
        return []
    note = _ics_text(props.get("SUMMARY", (0, {}, ""))[2])
    if len(note) > NOTE_MAX_LENGTH:
        errors.append(
            RowError(
                props["SUMMARY"][0],
                "SUMMARY",
                _("说明有 %(length)d 个字符，最多 %(max)d 个")
                % {"length": len(note), "max": NOTE_MAX_LENGTH},
            )
        )
        return []
    result = []
    for i in range(days):
        d = start + timedelta(days=i)
        result.append(CalendarEntry(event.line, (d.month, d.day) if every_year else d, False, note))
    return result
