"""Categories and the 立结案标准 (filing/closing standard): seeding, import, export, and the
time limits that the workflow reads."""

import csv
import io
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from django.conf import settings
from django.db import transaction

from gridcity.lib.text import spreadsheet_cell
from gridcity.lib.workcalendar import Clock, WorkCalendar, format_time_limit, parse_time_limit
from gridcity.system import stamps
from gridcity.taxonomy.models import CalendarDay, Category, CategoryKind, FilingCondition, StepLimit

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


@dataclass
class RowError:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"第{self.line}行 [{self.column}]：{self.reason}"


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
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile and KeyError variants
            raise StandardsRejected([RowError(1, "-", f"无法读取 XLSX 文件：{exc}")]) from exc
        ws = wb.worksheets[0]
        rows = [
            ["" if v is None else str(v).strip() for v in row]
            for row in ws.iter_rows(values_only=True)
        ]
        wb.close()
        return rows
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise StandardsRejected([RowError(1, "-", "文件编码无法识别，请使用 UTF-8")])
    # Comment lines become blank rows so that line numbers in messages match the file.
    lines = ["" if ln.startswith("#") else ln for ln in text.splitlines()]
    return [[c.strip() for c in row] for row in csv.reader(lines)]


def parse_standards(rows: list[list[str]]) -> list[dict]:
    header_at = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if header_at is None:
        raise StandardsRejected([RowError(1, "-", "文件为空")])
    header = [h.strip() for h in rows[header_at]]
    missing = [c for c in TEMPLATE_COLUMNS if c not in header]
    if missing:
        raise StandardsRejected([RowError(header_at + 1, c, "缺少此列") for c in missing])
    pos = {c: header.index(c) for c in TEMPLATE_COLUMNS}
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
        kind = CategoryKind.COMPONENT if get["大类名称"] in components else CategoryKind.MATTER
        parsed.append({**get, "kind": kind, "amount": amount, "clock": clock, "line": line})
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
    rows = [TEMPLATE_COLUMNS]
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
    raise ValueError(f"不支持的格式：{fmt}（csv 或 xlsx）")


# ---------------------------------------------------------------------------------------------
# Time limits and the working calendar


# The calendar table and step limits change a few times a year but are read by every action:
# each process keeps them and reloads when the calendar stamp moves (an edit anywhere in the
# cluster; taxonomy.signals) or when the settings they were built from change.
def _load_time_config() -> dict:
    periods = tuple(
        (time.fromisoformat(a), time.fromisoformat(b)) for a, b in settings.GRIDCITY_WORKING_PERIODS
    )
    overrides = dict(CalendarDay.objects.values_list("date", "is_workday"))
    limits = {row.step: (row.amount, Clock(row.clock)) for row in StepLimit.objects.all()}
    return {
        "calendar": WorkCalendar(periods=periods, overrides=overrides),
        "limits": limits,
        "settings": _settings_key(),
    }


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
