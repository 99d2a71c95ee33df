"""Categories and the 立结案标准 (filing/closing standard): seeding, import, export, and the
time limits that the workflow reads."""

import csv
import io
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from gridcity.lib import tables
from gridcity.lib.tables import RowError, field_errors
from gridcity.lib.text import spreadsheet_cell
from gridcity.lib.workcalendar import Clock, WorkCalendar, format_time_limit, parse_time_limit
from gridcity.system import stamps
from gridcity.taxonomy.models import (
    CalendarDay,
    Category,
    CategoryKind,
    FilingCondition,
    RecurringCalendarDay,
    StepLimit,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
GBT_CSV = DATA_DIR / "gbt47678_5_2026.csv"
DEMO_STANDARDS_CSV = DATA_DIR / "standards_demo.csv"

TEMPLATE_COLUMNS = [
    "大类代码",
    "大类名称",
    "小类代码",
    "小类名称",
    "处置单位",
    "主管部门",
    "立案条件",
    "结案条件",
    "处置时限",
]
# The template's columns stored in a category and in its filing condition, by model field.
CATEGORY_COLUMNS = {"major_name": "大类名称", "name": "小类名称"}
CONDITION_COLUMNS = {
    "text": "立案条件",
    "closing_condition": "结案条件",
    "handling_unit": "处置单位",
    "supervising_unit": "主管部门",
}


def _read_provenanced_csv(path: Path) -> list[dict[str, str]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return list(csv.DictReader(lines))


def gbt_rows() -> list[dict[str, str]]:
    return _read_provenanced_csv(GBT_CSV)


def component_class_names() -> set[str]:
    return {r["major_name"] for r in gbt_rows() if r["kind"] == CategoryKind.COMPONENT}


def seed_national_categories() -> int:
    """Load GB/T 47678.5-2026 (idempotent). Returns how many categories were created."""
    created = 0
    existing = set(Category.objects.values_list("kind", "code"))
    new = []
    for r in gbt_rows():
        if (r["kind"], r["code"]) in existing:
            continue
        new.append(
            Category(
                kind=r["kind"],
                code=r["code"],
                major_code=r["major_code"],
                major_name=r["major_name"],
                name=r["name"],
            )
        )
    Category.objects.bulk_create(new)
    created += len(new)
    return created


# ---------------------------------------------------------------------------------------------
# 立结案标准 import / export


class StandardsRejected(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class StandardsResult:
    created_categories: list[str] = field(default_factory=list)
    created_conditions: int = 0
    updated_conditions: int = 0


def read_table(path: Path) -> list[list[str]]:
    """Rows of a CSV (UTF-8, with or without BOM; GBK accepted) or XLSX file, header first."""
    try:
        return tables.read_table(path)
    except tables.UnreadableTable as exc:
        raise StandardsRejected([RowError(1, "-", exc.message)]) from exc


# Optional column: a city marks its place-free categories (account questions and the like,
# routed by type without a location) in the same file. Empty leaves a category as it is.
PLACE_FREE_COLUMN = "无需位置"
PLACE_FREE_VALUES = {
    "是": True,
    "否": False,
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
}


def parse_standards(rows: list[list[str]]) -> list[dict]:
    header_at = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if header_at is None:
        raise StandardsRejected([RowError(1, "-", "文件为空")])
    header = [h.strip() for h in rows[header_at]]
    missing = [c for c in TEMPLATE_COLUMNS if c not in header]
    if missing:
        raise StandardsRejected([RowError(header_at + 1, c, "缺少此列") for c in missing])
    pos = {c: header.index(c) for c in TEMPLATE_COLUMNS}
    place_free_at = header.index(PLACE_FREE_COLUMN) if PLACE_FREE_COLUMN in header else None
    components = component_class_names()
    errors: list[RowError] = []
    parsed = []
    for line, row in enumerate(rows[header_at + 1 :], start=header_at + 2):
        if not any(cell.strip() for cell in row):
            continue
        get = {c: (row[pos[c]].strip() if pos[c] < len(row) else "") for c in TEMPLATE_COLUMNS}
        for col in ("大类代码", "大类名称", "小类代码", "小类名称", "立案条件", "处置时限"):
            if not get[col]:
                errors.append(RowError(line, col, "不能为空"))
        if not get["小类代码"] or not get["处置时限"]:
            continue
        too_long = field_errors(
            line,
            Category,
            {field: get[column] for field, column in CATEGORY_COLUMNS.items()},
            columns=CATEGORY_COLUMNS,
        ) + field_errors(
            line,
            FilingCondition,
            {field: get[column] for field, column in CONDITION_COLUMNS.items()},
            columns=CONDITION_COLUMNS,
        )
        if too_long:
            errors.extend(too_long)
            continue
        major, code = get["大类代码"], get["小类代码"]
        if not (code.isdigit() and len(code) == 5):
            errors.append(RowError(line, "小类代码", f"“{code}”应为5位数字"))
            continue
        if not (major.isdigit() and len(major) == 2):
            errors.append(RowError(line, "大类代码", f"“{major}”应为2位数字"))
            continue
        if not code.startswith(major):
            errors.append(RowError(line, "小类代码", f"“{code}”不属于大类 {major}"))
            continue
        try:
            amount, clock = parse_time_limit(get["处置时限"])
        except ValueError as exc:
            errors.append(RowError(line, "处置时限", str(exc)))
            continue
        place_free = ""
        if place_free_at is not None and place_free_at < len(row):
            place_free = row[place_free_at].strip().lower()
        if place_free and place_free not in PLACE_FREE_VALUES:
            errors.append(RowError(line, PLACE_FREE_COLUMN, f"“{place_free}”应为“是”或“否”"))
            continue
        kind = CategoryKind.COMPONENT if get["大类名称"] in components else CategoryKind.MATTER
        parsed.append(
            {
                **get,
                "kind": kind,
                "amount": amount,
                "clock": clock,
                "line": line,
                "place_free": PLACE_FREE_VALUES.get(place_free),
            }
        )
    if errors:
        raise StandardsRejected(errors)
    if not parsed:
        raise StandardsRejected([RowError(2, "-", "没有任何数据行")])
    return parsed


def import_standards(path: Path) -> StandardsResult:
    """All or nothing. Codes outside GB/T 47678.5 become local categories."""
    parsed = parse_standards(read_table(Path(path)))
    result = StandardsResult()
    with transaction.atomic():
        seed_national_categories()
        for order, r in enumerate(parsed):
            category = Category.objects.filter(kind=r["kind"], code=r["小类代码"]).first()
            if category is None:
                category = Category.objects.create(
                    kind=r["kind"],
                    code=r["小类代码"],
                    major_code=r["大类代码"],
                    major_name=r["大类名称"],
                    name=r["小类名称"],
                    is_local=True,
                )
                result.created_categories.append(f"{category.code} {category.name}")
            if r["place_free"] is not None and category.place_free != r["place_free"]:
                category.place_free = r["place_free"]
                category.save(update_fields=["place_free"])
            _, created = FilingCondition.objects.update_or_create(
                category=category,
                text=r["立案条件"],
                defaults={
                    "closing_condition": r["结案条件"],
                    "handle_amount": r["amount"],
                    "handle_clock": r["clock"],
                    "handling_unit": r["处置单位"],
                    "supervising_unit": r["主管部门"],
                    "order": order,
                },
            )
            if created:
                result.created_conditions += 1
            else:
                result.updated_conditions += 1
    return result


def standards_rows() -> list[list[str]]:
    rows = [[*TEMPLATE_COLUMNS, PLACE_FREE_COLUMN]]
    conditions = FilingCondition.objects.select_related("category").order_by(
        "category__kind", "category__code", "order", "pk"
    )
    for fc in conditions:
        c = fc.category
        rows.append(
            [
                c.major_code,
                c.major_name,
                c.code,
                c.name,
                fc.handling_unit,
                fc.supervising_unit,
                fc.text,
                fc.closing_condition,
                format_time_limit(fc.handle_amount, Clock(fc.handle_clock)),
                "是" if c.place_free else "否",
            ]
        )
    return rows


def export_standards(fmt: str) -> bytes:
    rows = [[spreadsheet_cell(c) for c in row] for row in standards_rows()]
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return buf.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "立结案标准"
        for row in rows:
            ws.append(row)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    raise ValueError(gettext("不支持的格式：%(fmt)s（csv 或 xlsx）") % {"fmt": fmt})


# ---------------------------------------------------------------------------------------------
# Time limits and the working calendar


# The calendar table and step limits change a few times a year but are read by every action:
# each process keeps them and reloads when the calendar stamp moves (an edit anywhere in the
# cluster; taxonomy.signals) or when the settings they were built from change.
def _load_time_config() -> dict:
    overrides = dict(CalendarDay.objects.values_list("date", "is_workday"))
    recurring = {
        (month, day): is_workday
        for month, day, is_workday in RecurringCalendarDay.objects.values_list(
            "month", "day", "is_workday"
        )
    }
    limits = {row.step: (row.amount, Clock(row.clock)) for row in StepLimit.objects.all()}
    return {
        "calendar": public_calendar(overrides=overrides, recurring=recurring),
        "limits": limits,
        "settings": _settings_key(),
    }


def public_calendar(overrides: dict | None = None, recurring: dict | None = None) -> WorkCalendar:
    """The city's calendar from its settings (time zone, working periods and days, public
    holidays), with the given local tables or none."""
    periods = tuple(
        (time.fromisoformat(a), time.fromisoformat(b)) for a, b in settings.GRIDCITY_WORKING_PERIODS
    )
    return WorkCalendar(
        periods=periods,
        overrides=overrides or {},
        recurring=recurring or {},
        tz=ZoneInfo(settings.TIME_ZONE),
        working_days=frozenset(settings.GRIDCITY_WORKING_DAYS),
        holiday_region=settings.GRIDCITY_HOLIDAYS,
    )


time_config = stamps.stamped(stamps.CALENDAR, _load_time_config)


def forget_time_config() -> None:
    time_config.forget()


def _time_config() -> dict:
    config = time_config.get()
    if config["settings"] != _settings_key():
        time_config.forget()
        config = time_config.get()
    return config


def _settings_key() -> tuple:
    return (
        tuple(map(tuple, settings.GRIDCITY_WORKING_PERIODS)),
        tuple(sorted(settings.GRIDCITY_STEP_LIMITS.items())),
        settings.TIME_ZONE,
        tuple(sorted(settings.GRIDCITY_WORKING_DAYS)),
        settings.GRIDCITY_HOLIDAYS,
    )


def get_calendar() -> WorkCalendar:
    return _time_config()["calendar"]


def step_limit(step: str) -> tuple[float, Clock]:
    limit = _time_config()["limits"].get(step)
    if limit is not None:
        return limit
    return parse_time_limit(settings.GRIDCITY_STEP_LIMITS[step])


def handle_limit(category: Category, condition: FilingCondition | None) -> tuple[float, Clock]:
    if condition is not None:
        return condition.handle_amount, Clock(condition.handle_clock)
    return step_limit("handle")


def resolve_category(ref: str) -> Category | None:
    """`matter:06042`, `component:01002` or a bare code. A bare code of class 01–05 names the
    component (部件问题), others the matter; local categories are found the same way."""
    ref = (ref or "").strip()
    if ":" in ref:
        kind, code = ref.split(":", 1)
        return Category.objects.filter(kind=kind, code=code, is_active=True).first()
    matches = list(Category.objects.filter(code=ref, is_active=True))
    if len(matches) <= 1:
        return matches[0] if matches else None
    preferred = (
        CategoryKind.COMPONENT if ref[:2] in {"01", "02", "03", "04", "05"} else CategoryKind.MATTER
    )
    return next((c for c in matches if c.kind == preferred), matches[0])
