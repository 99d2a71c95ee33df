"""The rectification notice (整改通知书) as a PDF, with reportlab's built-in CID font so no font
file has to be shipped."""

import io

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from gridcity.campaigns.models import RectificationNotice

FONT = "STSong-Light"


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _esc(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notice_pdf(notice: RectificationNotice) -> bytes:
    from gridcity.campaigns.actions import notice_rows

    font = _font()
    base = ParagraphStyle("base", fontName=font, fontSize=11, leading=18)
    title = ParagraphStyle("title", parent=base, fontSize=20, leading=28, alignment=TA_CENTER)
    center = ParagraphStyle("center", parent=base, alignment=TA_CENTER)
    right = ParagraphStyle("right", parent=base, alignment=TA_RIGHT)
    cell = ParagraphStyle("cell", parent=base, fontSize=9.5, leading=13)

    insp = notice.inspection
    plan = insp.plan
    issued = timezone.localtime(notice.issued_at)
    story = [
        Paragraph("整改通知书", title),
        Spacer(1, 2 * mm),
        Paragraph(_esc(notice.number), center),
        Spacer(1, 6 * mm),
        Paragraph(f"{_esc(notice.department.name)}：", base),
        Paragraph(
            f"　　{insp.scheduled_for:%Y年%m月%d日}，按照“{_esc(plan.name)}”"
            f"（{plan.get_method_display()}、{plan.get_openness_display()}、"
            f"{plan.get_scope_display()}）安排，对{_esc(plan.area.name)}开展督查检查"
            f"（检查编号 {insp.number}），发现你单位责任范围内存在以下问题：",
            base,
        ),
        Spacer(1, 3 * mm),
    ]
    data = [[Paragraph(h, cell) for h in ("序号", "问题描述", "位置", "台账编号", "扣分")]]
    rows = {r.pk: r for r in notice_rows(notice)}
    findings = insp.findings.filter(department=notice.department).select_related("cell")
    for i, f in enumerate(findings, start=1):
        row = rows.get(f.ledger_row_id)
        where = f.cell.name if f.cell else ""
        if f.lon is not None:
            where += f" {f.lon:.5f},{f.lat:.5f}"
        data.append(
            [
                Paragraph(str(i), cell),
                Paragraph(_esc(f.description), cell),
                Paragraph(_esc(where), cell),
                Paragraph(row.number if row else (f.case.number if f.case_id else ""), cell),
                Paragraph(f"{f.deduction.normalize():f}", cell),
            ]
        )
    table = Table(data, colWidths=[12 * mm, 70 * mm, 45 * mm, 35 * mm, 14 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [
        table,
        Spacer(1, 5 * mm),
        Paragraph(
            f"　　请你单位于 <b>{notice.deadline:%Y年%m月%d日}</b> 前整改完毕，在整改台账中上传整改前后"
            "照片并提交验收。逾期未整改的，将予以督办并在综合评价中扣分。",
            base,
        ),
        Paragraph(
            "　　复查安排："
            + (
                f"{notice.reinspection.scheduled_for:%Y年%m月%d日}（复查编号 "
                f"{notice.reinspection.number}）。"
                if notice.reinspection
                else "另行通知。"
            ),
            base,
        ),
        Spacer(1, 14 * mm),
        Paragraph("城市运行管理服务中心（督查）", right),
        Paragraph(f"{issued:%Y年%m月%d日}", right),
        Paragraph(f"签发：{_esc(str(notice.issued_by))}", right),
    ]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=f"整改通知书 {notice.number}",
    )
    doc.build(story)
    return buf.getvalue()
