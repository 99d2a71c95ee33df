"""The ledger as a spreadsheet: bulk import (all or nothing, every error named by line and
column) and export in the usual 整改台账 layout."""

import io
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from gridcity.accounts.models import Department, User
from gridcity.campaigns.models import Campaign, LedgerRow, LedgerSource
from gridcity.lib.errors import InvalidInput
from gridcity.lib.text import spreadsheet_cell

# The columns' Chinese names are the canonical ones; a sheet is written with them in the
# reader's language, and a sheet in either language is read.
EXPORT_COLUMNS = [
    gettext_noop("序号"),
    gettext_noop("问题描述"),
    gettext_noop("位置"),
    gettext_noop("责任单位"),
    gettext_noop("整改措施"),
    gettext_noop("整改时限"),
    gettext_noop("整改状态"),
    gettext_noop("销号时间"),
    gettext_noop("备注"),
]
# Import: the same layout (status and sign-off are the ledger's own business and ignored),
# plus optional coordinates.
REQUIRED = ("问题描述", "责任单位", "整改时限")
KNOWN = set(EXPORT_COLUMNS) | {gettext_noop("经度"), gettext_noop("纬度")}
MAX_ROWS = 5000


@dataclass
class ImportError_:
    line: int
    column: str  # the spreadsheet letter
    header: str
    message: str

    def __str__(self) -> str:
        where = gettext("第%(line)s行第%(column)s列") % {"line": self.line, "column": self.column}
        if self.header:
            where += gettext("（%(header)s）") % {"header": gettext(self.header)}
        return gettext("%(where)s：%(message)s") % {"where": where, "message": self.message}


def _canonical_names() -> dict[str, str]:
    """Each column as a sheet may head it (Chinese, English, the reader's language) → its
    canonical name."""
    names = {n: n for n in KNOWN}
    for language in ("en", translation.get_language()):
        with translation.override(language):
            names.update({gettext(n): n for n in KNOWN})
    return names


def _parse_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().replace("/", "-").replace(".", "-")
    for sep_fmt in ("%Y-%m-%d", "%Y年%m月%d日"):
        try:
            return datetime.strptime(text, sep_fmt).date()
        except ValueError:
            continue
    return None


def _find_header(ws) -> int:
    """The first row that names 问题描述 is the header (a title row may come first)."""
    names = _canonical_names()
    for r, row in enumerate(ws.iter_rows(min_row=1, max_row=5, values_only=True), start=1):
        if any(names.get(str(v).strip()) == "问题描述" for v in row if v is not None):
            return r
    return 1


def parse_ledger_xlsx(data: bytes) -> tuple[list[dict], list[ImportError_]]:
    """Read rows without touching the database except to resolve unit names."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        return [], [ImportError_(1, "A", "", gettext("文件不是有效的 XLSX 工作簿"))]
    ws = wb.worksheets[0]
    header_line = _find_header(ws)
    header_cells = next(
        ws.iter_rows(min_row=header_line, max_row=header_line, values_only=True), ()
    )
    errors: list[ImportError_] = []
    columns: dict[str, int] = {}
    names = _canonical_names()
    for i, v in enumerate(header_cells):
        text = "" if v is None else str(v).strip()
        if not text:
            continue
        letter = get_column_letter(i + 1)
        name = names.get(text)
        if name is None:
            expected = gettext("、").join(gettext(n) for n in EXPORT_COLUMNS)
            message = gettext("未知的列“%(name)s”，应为：%(expected)s")
            errors.append(
                ImportError_(
                    header_line, letter, text, message % {"name": text, "expected": expected}
                )
            )
        elif name in columns:
            errors.append(ImportError_(header_line, letter, name, gettext("列名重复")))
        else:
            columns[name] = i
    for name in REQUIRED:
        if name not in columns:
            message = gettext("缺少必填列“%(name)s”") % {"name": gettext(name)}
            errors.append(ImportError_(header_line, "-", name, message))
    if errors:
        return [], errors
    units = {}
    for d in Department.objects.filter(is_active=True):
        units[d.name] = d
        units[d.code] = d
    rows = []
    for line, values in enumerate(
        ws.iter_rows(min_row=header_line + 1, values_only=True), start=header_line + 1
    ):
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        if len(rows) >= MAX_ROWS:
            message = gettext("一次最多导入 %(n)s 行") % {"n": MAX_ROWS}
            errors.append(ImportError_(line, "A", "", message))
            break

        def cell(name, values=values):
            i = columns.get(name)
            return values[i] if i is not None and i < len(values) else None

        def err(name, message, line=line):
            errors.append(ImportError_(line, get_column_letter(columns[name] + 1), name, message))

        description = str(cell("问题描述") or "").strip()
        if not description:
            err("问题描述", gettext("不能为空"))
        unit_text = str(cell("责任单位") or "").strip()
        dept = units.get(unit_text)
        if dept is None:
            err(
                "责任单位",
                gettext("找不到单位“%(unit)s”") % {"unit": unit_text}
                if unit_text
                else gettext("不能为空"),
            )
        raw_deadline = cell("整改时限")
        deadline = _parse_date(raw_deadline) if raw_deadline not in (None, "") else None
        if deadline is None:
            message = gettext("日期“%(value)s”无效，应为 YYYY-MM-DD")
            err("整改时限", message % {"value": raw_deadline or ""})
        lon = lat = None
        for name in ("经度", "纬度"):
            v = cell(name)
            if v in (None, ""):
                continue
            try:
                f = float(v)
            except (TypeError, ValueError):
                err(name, gettext("“%(value)s”不是数字") % {"value": v})
                continue
            if name == "经度":
                lon = f
            else:
                lat = f
        if (lon is None) != (lat is None) and "经度" in columns and "纬度" in columns:
            err("经度" if lon is None else "纬度", gettext("经度和纬度必须同时填写"))
        rows.append(
            {
                "line": line,
                "description": description,
                "department": dept,
                "deadline": deadline,
                "address": str(cell("位置") or "").strip(),
                "measures": str(cell("整改措施") or "").strip(),
                "remark": str(cell("备注") or "").strip(),
                "lon": lon,
                "lat": lat,
            }
        )
    if not rows and not errors:
        errors.append(ImportError_(header_line + 1, "A", "", gettext("表格中没有数据行")))
    return rows, errors


def do_import_ledger(
    data: bytes, *, acting_user: User, campaign: Campaign | None, now: datetime | None = None
) -> list[LedgerRow]:
    """All or nothing: any error in any line imports no row at all."""
    from gridcity.campaigns.actions import do_create_ledger_row

    rows, errors = parse_ledger_xlsx(data)
    if errors:
        raise InvalidInput(
            str(errors[0]),
            field="file",
            errors=[
                {
                    "line": e.line,
                    "column": e.column,
                    "header": gettext(e.header) if e.header else "",
                    "message": e.message,
                }
                for e in errors
            ],
        )
    now = now or timezone.now()
    created = []
    with transaction.atomic():
        for r in rows:
            try:
                created.append(
                    do_create_ledger_row(
                        acting_user=acting_user,
                        campaign=campaign,
                        source=LedgerSource.IMPORT,
                        description=r["description"],
                        department=r["department"],
                        deadline=r["deadline"],
                        address=r["address"],
                        measures=r["measures"],
                        remark=r["remark"],
                        lon=r["lon"],
                        lat=r["lat"],
                        now=now,
                    )
                )
            except InvalidInput as exc:
                column = {"lon": gettext("经度"), "lat": gettext("纬度")}.get(
                    exc.field or "", exc.field or ""
                )
                where = gettext("第%(line)s行（%(column)s）") % {
                    "line": r["line"],
                    "column": column,
                }
                raise InvalidInput(
                    gettext("%(where)s：%(message)s") % {"where": where, "message": exc.message},
                    field="file",
                    errors=[
                        {"line": r["line"], "column": "", "header": column, "message": exc.message}
                    ],
                ) from exc
    return created


def _location(row: LedgerRow) -> str:
    parts = [row.address] if row.address else []
    if row.cell_id:
        parts.append(row.cell.name)
    if row.lon is not None and row.lat is not None:
        parts.append(f"{row.lon:.6f},{row.lat:.6f}")
    return " ".join(parts)


def export_ledger_xlsx(rows, title: str) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = gettext("整改台账")
    thin = Side(style="thin", color="888888")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(EXPORT_COLUMNS))
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([gettext(n) for n in EXPORT_COLUMNS])
    for c in ws[2]:
        c.font = Font(bold=True)
        c.border = border
        c.alignment = Alignment(horizontal="center", vertical="center")
    for i, row in enumerate(rows, start=1):
        signed = (
            timezone.localtime(row.signed_off_at).strftime("%Y-%m-%d %H:%M")
            if row.signed_off_at
            else ""
        )
        remark = row.remark
        if row.case_id:
            case = gettext("案件 %(number)s") % {"number": row.case.number}
            remark = case + (gettext("；") + remark if remark else "")
        # Descriptions and measures are typed by anyone on the campaign: never a formula.
        cells = [
            i,
            row.description,
            _location(row),
            row.department.name,
            row.measures,
            row.deadline,
            row.get_status_display(),
            signed,
            remark,
        ]
        ws.append([spreadsheet_cell(c) for c in cells])
        for c in ws[ws.max_row]:
            c.border = border
            c.alignment = Alignment(vertical="top", wrap_text=True)
        ws.cell(ws.max_row, 6).number_format = "yyyy-mm-dd"
    for letter, width in zip("ABCDEFGHI", (6, 40, 30, 18, 30, 12, 10, 17, 24), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
