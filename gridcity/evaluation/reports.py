"""The 通报 of a period: rankings, commendations (top N), criticisms (bottom N), the overdue
and pushed-around (returned) lists — as XLSX (openpyxl) and as a PDF with a chart (reportlab,
Chinese in its built-in CID font STSong-Light, so no font file is needed)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.utils import timezone

from gridcity.accounts.models import Department
from gridcity.evaluation.compute import Ranking, get_ranking, source_for
from gridcity.evaluation.indicators import INDICATORS, UNIT_TYPE_LABELS, parse_period

SUMMARY_INDICATORS = [
    "handle_due",
    "close_rate",
    "on_time_close_rate",
    "handle_on_time_rate",
    "rework_rate",
    "returns",
]


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


def build_bulletin(period_key: str, top_n: int = 3) -> Bulletin:
    period = parse_period(period_key)
    ranking = get_ranking(period_key, "department")
    scored = [u for u in ranking.units if u.score is not None]
    praised = scored[:top_n]
    criticised = [u for u in reversed(scored[-top_n:]) if u not in praised]
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
                "what": "处置超时" + ("（申诉已批准，不扣分）" if r["appealed"] else ""),
                "at": r["at"],
            }
        )
    for r in source.rows("overdue_open").order_by("at").values("case_number", "u_dept", "at"):
        overdue.append(
            {
                "case": r["case_number"],
                "department": names.get(r["u_dept"], ""),
                "what": "期末超期未处置",
                "at": r["at"],
            }
        )
    returned = [
        {"case": r["case_number"], "department": names.get(r["u_dept"], ""), "at": r["at"]}
        for r in source.rows("return").order_by("at").values("case_number", "u_dept", "at")
    ]
    return Bulletin(
        f"{period.label}城市管理综合评价通报",
        period.label,
        ranking.frozen,
        ranking,
        praised,
        criticised,
        overdue,
        returned,
    )


def _fmt(v) -> str:
    return "—" if v is None else str(v)


def _local(dt) -> str:
    return f"{timezone.localtime(dt):%Y-%m-%d %H:%M}"


def bulletin_xlsx(period_key: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    b = build_bulletin(period_key)
    wb = Workbook()
    ws = wb.active
    ws.title = "部门排名"
    ws.append([b.title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(
        ["状态", "已冻结" if b.frozen else "实时计算（未冻结）", "方案", b.departments.scheme]
    )
    ws.append([])
    ws.append(["名次", "部门", "得分", "等级"] + [INDICATORS[k].name for k in SUMMARY_INDICATORS])
    for u in b.departments.units:
        ws.append(
            [u.rank, u.unit.name, _fmt(u.score), u.grade]
            + [_fmt(u.figures[k].value) for k in SUMMARY_INDICATORS]
        )
    for title, units in (("通报表扬", b.praised), ("通报批评", b.criticised)):
        s = wb.create_sheet(title)
        s.append(["名次", "部门", "得分", "等级"])
        for u in units:
            s.append([u.rank, u.unit.name, _fmt(u.score), u.grade])
    s = wb.create_sheet("超期案件")
    s.append(["案件编号", "部门", "情形", "时间"])
    for r in b.overdue:
        s.append([r["case"], r["department"], r["what"], _local(r["at"])])
    s = wb.create_sheet("推诿（回退）案件")
    s.append(["案件编号", "回退部门", "回退时间"])
    for r in b.returned:
        s.append([r["case"], r["department"], _local(r["at"])])
    for sheet in wb.worksheets:
        sheet.column_dimensions["A"].width = 18
        sheet.column_dimensions["B"].width = 22
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


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
        "本期数据已冻结，以下数字不再随案件后续变化。"
        if b.frozen
        else "本期尚未冻结，为实时计算结果。"
    )
    story.append(Paragraph(f"考评方案：{b.departments.scheme or '—'}。{status}", body))

    scored = [u for u in b.departments.units if u.score is not None]
    if scored:
        story.append(Paragraph("一、专业部门综合得分", h2))
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

    story.append(Paragraph("二、排名", h2))
    head = ["名次", "部门", "得分", "等级"] + [INDICATORS[k].name for k in SUMMARY_INDICATORS]
    data = [head] + [
        [_fmt(u.rank), u.unit.name, _fmt(u.score), u.grade]
        + [_fmt(u.figures[k].value) for k in SUMMARY_INDICATORS]
        for u in b.departments.units
    ]
    story.append(_table(data, Table, TableStyle, colors))

    story.append(Paragraph("三、通报表扬", h2))
    if b.praised:
        for u in b.praised:
            story.append(
                Paragraph(
                    f"{u.unit.name}：综合得分 {u.score}，等级 {u.grade}，排名第 {u.rank}。", body
                )
            )
    else:
        story.append(Paragraph("本期无。", body))
    story.append(Paragraph("四、通报批评", h2))
    if b.criticised:
        for u in b.criticised:
            story.append(
                Paragraph(
                    f"{u.unit.name}：综合得分 {u.score}，等级 {u.grade}，排名第 {u.rank}，"
                    "请对照超期、回退和返工案件逐件整改。",
                    body,
                )
            )
    else:
        story.append(Paragraph("本期无。", body))
    story.append(Paragraph(f"五、超期案件（{len(b.overdue)} 件次）", h2))
    rows = [["案件编号", "部门", "情形", "时间"]] + [
        [r["case"], r["department"], r["what"], _local(r["at"])] for r in b.overdue[:200]
    ]
    story.append(_table(rows, Table, TableStyle, colors) if b.overdue else Paragraph("无。", body))
    story.append(Paragraph(f"六、推诿（回退）案件（{len(b.returned)} 件次）", h2))
    rows = [["案件编号", "回退部门", "回退时间"]] + [
        [r["case"], r["department"], _local(r["at"])] for r in b.returned[:200]
    ]
    story.append(_table(rows, Table, TableStyle, colors) if b.returned else Paragraph("无。", body))
    story.append(Spacer(1, 8 * mm))
    story.append(Paragraph(f"生成时间：{_local(timezone.now())}　网格精治 GridCity", body))

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
        parts.append(f"超期 {overdue} 件次")
    if returned:
        parts.append(f"回退（推诿）{returned} 件次")
    if reworks:
        parts.append(f"返工 {reworks} 件次")
    facts = "、".join(parts) or "无超期、回退、返工记录"
    return (
        f"关于对{unit_name}的通报批评（草稿）\n\n"
        f"{unit_name}：\n"
        f"经城市运行管理服务平台案件流转记录核查，{period_label}你单位{facts}，"
        "影响了城市管理问题的及时处置。现予以通报批评。\n"
        "请你单位于收到本通报之日起5个工作日内，逐件查明原因，落实整改措施，"
        "明确责任人，并将整改情况书面报送城市运行管理服务中心。\n\n"
        "附件：相关案件清单（见平台责任追究页面，可逐件查阅流转记录）\n\n"
        "城市运行管理服务中心\n"
        f"{timezone.localdate():%Y年%m月%d日}"
    )


__all__ = ["build_bulletin", "bulletin_xlsx", "bulletin_pdf", "criticism_draft", "UNIT_TYPE_LABELS"]
