"""The 通报 of a period: rankings, commendations (top N), criticisms (bottom N), the overdue
and pushed-around (returned) lists — as XLSX (openpyxl) and as a PDF with a chart (reportlab,
Chinese in its built-in CID font STSong-Light, so no font file is needed).

Departments first (sheets 部门排名 … and PDF sections 一…六); then a section per other group
evaluated (SECTION_SPECS: 网格员, 街道, 社区, 派遣员, 受理员, 值班长), built once by
build_bulletin and drawn by both outputs."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import get_language, gettext, gettext_noop

from gridcity.accounts.models import Department
from gridcity.evaluation.compute import Ranking, UnitResult, get_ranking, source_for
from gridcity.evaluation.indicators import (
    DEFAULT_SCHEMES,
    INDICATORS,
    UNIT_TYPE_LABELS,
    UnitType,
    parse_period,
)
from gridcity.grids.models import AreaLevel
from gridcity.lib.text import spreadsheet_cell

SUMMARY_INDICATORS = [
    "handle_due",
    "close_rate",
    "on_time_close_rate",
    "handle_on_time_rate",
    "rework_rate",
    "returns",
]


@dataclass(frozen=True)
class SectionSpec:
    """One group ranked in the bulletin besides the departments. `level`: the area level the
    group takes from the area ranking (None for people). `pdf_top`/`pdf_bottom`: how many of
    the best/worst the PDF lists when there are more (None: all; the XLSX always lists all).
    `commend`: whether the PDF names the best and the worst (通报表扬 / 通报批评)."""

    key: str
    label: str
    unit_type: str
    level: int | None = None
    pdf_top: int | None = 10
    pdf_bottom: int = 0
    commend: bool = False


SECTION_SPECS = (
    SectionSpec("inspector", UNIT_TYPE_LABELS["inspector"], UnitType.INSPECTOR, commend=True),
    SectionSpec("street", "街道", UnitType.AREA, AreaLevel.STREET, pdf_top=None, commend=True),
    SectionSpec("community", "社区", UnitType.AREA, AreaLevel.COMMUNITY, pdf_bottom=5),
    SectionSpec("dispatcher", UNIT_TYPE_LABELS["dispatcher"], UnitType.DISPATCHER),
    SectionSpec("intake", UNIT_TYPE_LABELS["intake"], UnitType.INTAKE),
    SectionSpec("shift_lead", UNIT_TYPE_LABELS["shift_lead"], UnitType.SHIFT_LEAD),
)

# The summary columns when a unit type has no scheme to take them from: its default scheme's.
FALLBACK_INDICATORS = {s.unit_type: [item[0] for item in s.items] for s in DEFAULT_SCHEMES}
MAX_SUMMARY_COLUMNS = 6


@dataclass
class Section:
    """One ranked group of the bulletin (a kind of person, or one level of the area tree):
    the XLSX sheet and the PDF section are both drawn from it."""

    spec: SectionSpec
    ranking: Ranking  # the whole ranking of the unit type (areas: every level)
    units: list[UnitResult]  # this group's units in ranked order (areas: by class, then rank)
    indicators: list[str]  # the summary indicator columns
    praised: list[UnitResult] = field(default_factory=list)
    criticised: list[UnitResult] = field(default_factory=list)

    @property
    def title(self) -> str:
        return gettext("%(label)s排名") % {"label": gettext(self.spec.label)}

    @property
    def scored(self) -> list[UnitResult]:
        return [u for u in self.units if u.score is not None]

    @property
    def has_classes(self) -> bool:
        """Areas of different classes are ranked separately: show the class beside the rank."""
        return any(u.unit.area_class for u in self.units)

    def groups(self) -> list[tuple[str, list[UnitResult]]]:
        """The units by area class (one group with class "" when there are no classes)."""
        out: dict[str, list[UnitResult]] = {}
        for u in self.units:
            out.setdefault(u.unit.area_class, []).append(u)
        return list(out.items())


@dataclass
class Bulletin:
    title: str
    period_label: str
    frozen: bool
    departments: Ranking
    praised: list
    criticised: list
    overdue: list[dict]  # case, department, what
    returned: list[dict]
    sections: list[Section] = field(default_factory=list)  # the other units, SECTION_SPECS order


def praise_and_criticise(units: list[UnitResult], top_n: int) -> tuple[list, list]:
    """The best top_n scored units, and the worst top_n (worst first) not among the best."""
    scored = [u for u in units if u.score is not None]
    praised = scored[:top_n]
    criticised = [u for u in reversed(scored[-top_n:]) if u not in praised]
    return praised, criticised


def summary_indicators(ranking: Ranking) -> list[str]:
    """The indicator columns for a unit type: its scheme's own (as scored on the first unit),
    else its default scheme's; only indicators the ranking has figures for."""
    keys = [ln.indicator for ln in ranking.units[0].lines] if ranking.units else []
    keys = keys or FALLBACK_INDICATORS.get(ranking.unit_type, [])
    return [k for k in keys if k in INDICATORS and k in ranking.indicators][:MAX_SUMMARY_COLUMNS]


def build_section(spec: SectionSpec, ranking: Ranking, top_n: int) -> Section:
    units = ranking.units
    if spec.level is not None:
        units = [u for u in units if u.unit.level == spec.level]
        # Ranked within each class: keep each class together, in rank order (stable sort).
        units = sorted(units, key=lambda u: u.unit.area_class)
    section = Section(spec, ranking, units, summary_indicators(ranking))
    if spec.commend:
        for _, group in section.groups():
            praised, criticised = praise_and_criticise(group, top_n)
            section.praised += praised
            section.criticised += criticised
    return section


def build_sections(period_key: str, top_n: int = 3) -> list[Section]:
    rankings: dict[str, Ranking] = {}
    sections = []
    for spec in SECTION_SPECS:
        if spec.unit_type not in rankings:
            rankings[spec.unit_type] = get_ranking(period_key, spec.unit_type)
        sections.append(build_section(spec, rankings[spec.unit_type], top_n))
    return sections


def build_bulletin(period_key: str, top_n: int = 3) -> Bulletin:
    period = parse_period(period_key)
    ranking = get_ranking(period_key, "department")
    praised, criticised = praise_and_criticise(ranking.units, top_n)
    source = source_for(period)
    names = dict(Department.objects.values_list("pk", "name"))
    overdue = []
    for r in (
        source.rows("handle")
        .filter(raw_overdue=True)
        .order_by("at")
        .values("case_number", "u_dept", "at", "appealed")
    ):
        overdue.append(
            {
                "case": r["case_number"],
                "department": names.get(r["u_dept"], ""),
                "what": gettext("处置超时")
                + (gettext("（申诉已批准，不扣分）") if r["appealed"] else ""),
                "at": r["at"],
            }
        )
    for r in source.rows("overdue_open").order_by("at").values("case_number", "u_dept", "at"):
        overdue.append(
            {
                "case": r["case_number"],
                "department": names.get(r["u_dept"], ""),
                "what": gettext("期末超期未处置"),
                "at": r["at"],
            }
        )
    returned = [
        {"case": r["case_number"], "department": names.get(r["u_dept"], ""), "at": r["at"]}
        for r in source.rows("return").order_by("at").values("case_number", "u_dept", "at")
    ]
    return Bulletin(
        gettext("%(period)s城市管理综合评价通报") % {"period": period.label},
        period.label,
        ranking.frozen,
        ranking,
        praised,
        criticised,
        overdue,
        returned,
        build_sections(period_key, top_n),
    )


def _fmt(v) -> str:
    return "—" if v is None else str(v)


NO_DATA = gettext_noop("本期无考评数据")


def section_head(section: Section) -> list[str]:
    return (
        [gettext("名次"), gettext("名称")]
        + ([gettext("类别")] if section.has_classes else [])
        + [gettext("得分"), gettext("等级")]
        + [gettext(INDICATORS[k].name) for k in section.indicators]
    )


def section_row(section: Section, u: UnitResult) -> list:
    """One unit's cells, unformatted (None where there is no value)."""
    figures = [u.figures.get(k) for k in section.indicators]
    return (
        [u.rank, u.unit.name]
        + ([u.unit.area_class or "—"] if section.has_classes else [])
        + [u.score, u.grade or None]
        + [f.value if f is not None else None for f in figures]
    )


def pdf_rows(section: Section) -> tuple[list[UnitResult | None], int]:
    """The units the PDF lists, per class: all when there are few, else the best
    `pdf_top` and the worst `pdf_bottom` scored units, None marking the gap between them;
    and how many units are left out."""
    spec, shown = section.spec, []
    for _, units in section.groups():
        if spec.pdf_top is None or len(units) <= spec.pdf_top + spec.pdf_bottom:
            shown += units
            continue
        scored = [u for u in units if u.score is not None]
        if len(scored) <= spec.pdf_top + spec.pdf_bottom:
            shown += scored
        else:
            shown += scored[: spec.pdf_top]
            if spec.pdf_bottom:
                shown += [None] + scored[-spec.pdf_bottom :]
    return shown, len(section.units) - sum(1 for u in shown if u is not None)


def _who(section: Section, u: UnitResult) -> str:
    cls = (
        gettext("（%(class)s）") % {"class": u.unit.area_class}
        if section.has_classes and u.unit.area_class
        else ""
    )
    return f"{u.unit.name}{cls}"


def _cn(n: int) -> str:
    """1…99 in Chinese numerals, for the section numbers."""
    digits = "零一二三四五六七八九"
    tens, ones = divmod(n, 10)
    if not tens:
        return digits[ones]
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


def _number(n: int) -> str:
    """A section number: Chinese numerals in Chinese, digits in any other language."""
    return _cn(n) if get_language().startswith("zh") else str(n)


def _head_row() -> list[str]:
    return [gettext("名次"), gettext("部门"), gettext("得分"), gettext("等级")]


def _local(dt) -> str:
    return f"{timezone.localtime(dt):%Y-%m-%d %H:%M}"


def bulletin_xlsx(period_key: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    b = build_bulletin(period_key)
    wb = Workbook()
    ws = wb.active
    ws.title = gettext("部门排名")
    ws.append([b.title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(
        [
            gettext("状态"),
            gettext("已冻结") if b.frozen else gettext("实时计算（未冻结）"),
            gettext("方案"),
            b.departments.scheme,
        ]
    )
    ws.append([])
    ws.append(_head_row() + [gettext(INDICATORS[k].name) for k in SUMMARY_INDICATORS])
    for u in b.departments.units:
        ws.append(
            [u.rank, u.unit.name, _fmt(u.score), u.grade]
            + [_fmt(u.figures[k].value) for k in SUMMARY_INDICATORS]
        )
    for title, units in ((gettext("通报表扬"), b.praised), (gettext("通报批评"), b.criticised)):
        s = wb.create_sheet(title)
        s.append(_head_row())
        for u in units:
            s.append([u.rank, u.unit.name, _fmt(u.score), u.grade])
    s = wb.create_sheet(gettext("超期案件"))
    s.append([gettext("案件编号"), gettext("部门"), gettext("情形"), gettext("时间")])
    for r in b.overdue:
        s.append([r["case"], r["department"], r["what"], _local(r["at"])])
    s = wb.create_sheet(gettext("推诿（回退）案件"))
    s.append([gettext("案件编号"), gettext("回退部门"), gettext("回退时间")])
    for r in b.returned:
        s.append([r["case"], r["department"], _local(r["at"])])
    for section in b.sections:
        _section_sheet(wb.create_sheet(section.title), b, section, Font)
    for sheet in wb.worksheets:
        sheet.column_dimensions["A"].width = 18
        sheet.column_dimensions["B"].width = 22
        # Unit names come from the admin and imports: no text cell may run as a formula.
        for row in sheet.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    c.value = spreadsheet_cell(c.value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _section_sheet(ws, b: Bulletin, section: Section, Font) -> None:
    """A unit type's full ranking: title, state and scheme, then a row per unit (numbers as
    numbers, so the sheet sorts; "—" where there is no value)."""
    from openpyxl.utils import get_column_letter

    ws.append([f"{b.title}——{section.title}"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(
        [
            gettext("状态"),
            gettext("已冻结") if section.ranking.frozen else gettext("实时计算（未冻结）"),
            gettext("方案"),
            section.ranking.scheme or "—",
        ]
    )
    if section.has_classes:
        ws.append([gettext("说明"), gettext("按区域类别分别排名")])
    else:
        ws.append([])
    head = section_head(section)
    ws.append(head)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    if not section.scored:
        ws.append([gettext(NO_DATA)])
        return
    for u in section.units:
        ws.append(["—" if v is None else v for v in section_row(section, u)])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, Decimal):
                cell.number_format = "0.00"
    for i in range(3, len(head) + 1):
        ws.column_dimensions[get_column_letter(i)].width = 14


FONT = "STSong-Light"


def bulletin_pdf(period_key: str) -> bytes:
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    b = build_bulletin(period_key)
    h1 = ParagraphStyle("h1", fontName=FONT, fontSize=17, leading=24, alignment=1)
    h2 = ParagraphStyle("h2", fontName=FONT, fontSize=12.5, leading=20, spaceBefore=8)
    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=16)
    story = [Paragraph(b.title, h1)]
    status = (
        gettext("本期数据已冻结，以下数字不再随案件后续变化。")
        if b.frozen
        else gettext("本期尚未冻结，为实时计算结果。")
    )
    scheme = gettext("考评方案：%(scheme)s。") % {"scheme": b.departments.scheme or "—"}
    story.append(Paragraph(scheme + status, body))

    scored = [u for u in b.departments.units if u.score is not None]
    if scored:
        story.append(Paragraph(gettext("一、专业部门综合得分"), h2))
        height = 24 + 18 * len(scored)
        d = Drawing(170 * mm, height)
        chart = HorizontalBarChart()
        chart.x, chart.y, chart.width, chart.height = 110, 10, 170 * mm - 130, height - 20
        chart.data = [[float(u.score) for u in reversed(scored)]]
        chart.categoryAxis.categoryNames = [u.unit.name for u in reversed(scored)]
        chart.categoryAxis.labels.fontName = FONT
        chart.categoryAxis.labels.fontSize = 8
        chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
        chart.valueAxis.labels.fontSize = 8
        chart.bars[0].fillColor = colors.HexColor("#1f5fa8")
        chart.barLabelFormat = "%.2f"
        chart.barLabels.fontSize = 7
        chart.barLabels.nudge = 12
        d.add(chart)
        d.add(String(0, height - 8, "", fontName=FONT))
        story.append(d)

    story.append(Paragraph(gettext("二、排名"), h2))
    head = _head_row() + [gettext(INDICATORS[k].name) for k in SUMMARY_INDICATORS]
    data = [head] + [
        [_fmt(u.rank), u.unit.name, _fmt(u.score), u.grade]
        + [_fmt(u.figures[k].value) for k in SUMMARY_INDICATORS]
        for u in b.departments.units
    ]
    story.append(_table(data, Table, TableStyle, colors))

    story.append(Paragraph(gettext("三、通报表扬"), h2))
    if b.praised:
        for u in b.praised:
            story.append(
                Paragraph(
                    gettext("%(name)s：综合得分 %(score)s，等级 %(grade)s，排名第 %(rank)s。")
                    % {"name": u.unit.name, "score": u.score, "grade": u.grade, "rank": u.rank},
                    body,
                )
            )
    else:
        story.append(Paragraph(gettext("本期无。"), body))
    story.append(Paragraph(gettext("四、通报批评"), h2))
    if b.criticised:
        for u in b.criticised:
            story.append(
                Paragraph(
                    gettext(
                        "%(name)s：综合得分 %(score)s，等级 %(grade)s，排名第 %(rank)s，"
                        "请对照超期、回退和返工案件逐件整改。"
                    )
                    % {"name": u.unit.name, "score": u.score, "grade": u.grade, "rank": u.rank},
                    body,
                )
            )
    else:
        story.append(Paragraph(gettext("本期无。"), body))
    story.append(Paragraph(gettext("五、超期案件（%(n)s 件次）") % {"n": len(b.overdue)}, h2))
    rows = [[gettext("案件编号"), gettext("部门"), gettext("情形"), gettext("时间")]] + [
        [r["case"], r["department"], r["what"], _local(r["at"])] for r in b.overdue[:200]
    ]
    none = Paragraph(gettext("无。"), body)
    story.append(_table(rows, Table, TableStyle, colors) if b.overdue else none)
    story.append(
        Paragraph(gettext("六、推诿（回退）案件（%(n)s 件次）") % {"n": len(b.returned)}, h2)
    )
    rows = [[gettext("案件编号"), gettext("回退部门"), gettext("回退时间")]] + [
        [r["case"], r["department"], _local(r["at"])] for r in b.returned[:200]
    ]
    none = Paragraph(gettext("无。"), body)
    story.append(_table(rows, Table, TableStyle, colors) if b.returned else none)
    for number, section in enumerate(b.sections, start=7):
        heading = gettext("%(n)s、%(title)s") % {"n": _number(number), "title": section.title}
        story.append(Paragraph(heading, h2))
        story += _section_story(section, body, Paragraph, Table, TableStyle, colors)
    story.append(Spacer(1, 8 * mm))
    made = gettext("生成时间：%(time)s　网格精治 GridCity") % {"time": _local(timezone.now())}
    story.append(Paragraph(made, body))

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=b.title,
    )
    doc.build(story)
    return buf.getvalue()


def _section_story(section: Section, body, Paragraph, Table, TableStyle, colors) -> list:
    """A unit type's PDF section: its scheme, its ranking table (see pdf_rows for how many
    rows), then for grid managers and streets the commended and the criticised."""
    people = section.spec.level is None
    story = [
        Paragraph(
            gettext("考评方案：%(scheme)s。") % {"scheme": section.ranking.scheme or "—"}, body
        )
    ]
    scored = section.scored
    if not scored:
        story.append(Paragraph(gettext("%(text)s。") % {"text": gettext(NO_DATA)}, body))
        return story
    numbers = {"n": len(section.units), "scored": len(scored), "what": gettext(section.spec.label)}
    if people:
        note = gettext("参评 %(n)s 人，其中 %(scored)s 人有得分") % numbers
    else:
        note = gettext("参评 %(n)s 个%(what)s，其中 %(scored)s 个有得分") % numbers
    if section.has_classes:
        note += gettext("，按区域类别分别排名")
    story.append(Paragraph(note + gettext("。"), body))
    head = section_head(section)
    shown, left_out = pdf_rows(section)
    data = [head] + [
        [_fmt(v) for v in section_row(section, u)] if u is not None else ["…"] * len(head)
        for u in shown
    ]
    story.append(_table(data, Table, TableStyle, colors))
    if left_out:
        more = (
            gettext("另有 %(n)s 人未列出，详见 XLSX 通报附表。")
            if people
            else gettext("另有 %(n)s 个未列出，详见 XLSX 通报附表。")
        )
        story.append(Paragraph(more % {"n": left_out}, body))
    if section.spec.commend:
        story.append(Paragraph(gettext("通报表扬："), body))
        for u in section.praised:
            story.append(
                Paragraph(
                    gettext("%(name)s：综合得分 %(score)s，等级 %(grade)s，排名第 %(rank)s。")
                    % {
                        "name": _who(section, u),
                        "score": u.score,
                        "grade": u.grade,
                        "rank": u.rank,
                    },
                    body,
                )
            )
        if not section.praised:
            story.append(Paragraph(gettext("本期无。"), body))
        story.append(Paragraph(gettext("通报批评："), body))
        for u in section.criticised:
            story.append(
                Paragraph(
                    gettext(
                        "%(name)s：综合得分 %(score)s，等级 %(grade)s，排名第 %(rank)s，"
                        "请对照考评指标查找差距，限期整改。"
                    )
                    % {
                        "name": _who(section, u),
                        "score": u.score,
                        "grade": u.grade,
                        "rank": u.rank,
                    },
                    body,
                )
            )
        if not section.criticised:
            story.append(Paragraph(gettext("本期无。"), body))
    return story


def _table(data, Table, TableStyle, colors):
    t = Table(data, repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b9c3cf")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return t


def criticism_draft(
    unit_name: str, period_label: str, overdue: int, returned: int, reworks: int
) -> str:
    """The text of a draft criticism notice (责任追究), for a person to edit and sign."""
    parts = []
    if overdue:
        parts.append(gettext("超期 %(n)s 件次") % {"n": overdue})
    if returned:
        parts.append(gettext("回退（推诿）%(n)s 件次") % {"n": returned})
    if reworks:
        parts.append(gettext("返工 %(n)s 件次") % {"n": reworks})
    facts = gettext("、").join(parts) or gettext("无超期、回退、返工记录")
    today = timezone.localdate()
    return gettext(
        "关于对%(unit)s的通报批评（草稿）\n\n"
        "%(unit)s：\n"
        "经城市运行管理服务平台案件流转记录核查，%(period)s你单位%(facts)s，"
        "影响了城市管理问题的及时处置。现予以通报批评。\n"
        "请你单位于收到本通报之日起5个工作日内，逐件查明原因，落实整改措施，"
        "明确责任人，并将整改情况书面报送城市运行管理服务中心。\n\n"
        "附件：相关案件清单（见平台责任追究页面，可逐件查阅流转记录）\n\n"
        "城市运行管理服务中心\n"
        "%(year)s年%(month)02d月%(day)02d日"
    ) % {
        "unit": unit_name,
        "period": period_label,
        "facts": facts,
        "year": today.year,
        "month": today.month,
        "day": today.day,
    }


__all__ = [
    "build_bulletin",
    "bulletin_xlsx",
    "bulletin_pdf",
    "criticism_draft",
    "Section",
    "SECTION_SPECS",
    "UNIT_TYPE_LABELS",
]
