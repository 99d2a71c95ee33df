"""The rectification notice (整改通知书) as a PDF, with reportlab's built-in CID font so no font
file has to be shipped, and as a Word document (.docx, python-docx) that a city can edit and
print on its letterhead. Both are drawn from the same content."""

import io
from dataclasses import dataclass

from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop
from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
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
# Word picks the East Asian font by name; 宋体 is on every Chinese Windows and WPS install.
DOCX_FONT = "宋体"
# The fixed words are in the reader's language (the active one when the document is made).
ISSUER = gettext_noop("城市运行管理服务中心（督查）")
HEADERS = (
    gettext_noop("序号"),
    gettext_noop("问题描述"),
    gettext_noop("位置"),
    gettext_noop("台账编号"),
    gettext_noop("扣分"),
)


def _indent() -> str:
    """Two full-width spaces open a paragraph of a Chinese official letter, not an English one."""
    return "\u3000\u3000" if (translation.get_language() or "zh").startswith("zh") else ""


def _day(d) -> str:
    return d.strftime(gettext("%Y年%m月%d日"))


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _esc(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class NoticeContent:
    number: str
    addressee: str
    intro: str
    rows: list[tuple[str, ...]]
    deadline: str
    demand: str
    reinspection: str
    issued: str
    signer: str


def notice_content(notice: RectificationNotice) -> NoticeContent:
    """The words of the notice, shared by the PDF and the Word document."""
    from gridcity.campaigns.actions import notice_rows

    insp = notice.inspection
    plan = insp.plan
    ledger = {r.pk: r for r in notice_rows(notice)}
    findings = insp.findings.filter(department=notice.department).select_related("cell", "case")
    rows = []
    for i, f in enumerate(findings, start=1):
        row = ledger.get(f.ledger_row_id)
        where = f.cell.name if f.cell else ""
        if f.lon is not None:
            where += f" {f.lon:.5f},{f.lat:.5f}"
        number = row.number if row else (f.case.number if f.case_id else "")
        rows.append((str(i), f.description, where.strip(), number, f"{f.deduction.normalize():f}"))
    if notice.reinspection:
        re = notice.reinspection
        reinspection = gettext("%(day)s（复查编号 %(number)s）。") % {
            "day": _day(re.scheduled_for),
            "number": re.number,
        }
    else:
        reinspection = gettext("另行通知。")
    return NoticeContent(
        number=notice.number,
        addressee=gettext("%(unit)s：") % {"unit": notice.department.name},
        intro=gettext(
            "%(day)s，按照“%(plan)s”（%(method)s、%(openness)s、%(scope)s）安排，"
            "对%(area)s开展督查检查（检查编号 %(number)s），发现你单位责任范围内存在以下问题："
        )
        % {
            "day": _day(insp.scheduled_for),
            "plan": plan.name,
            "method": plan.get_method_display(),
            "openness": plan.get_openness_display(),
            "scope": plan.get_scope_display(),
            "area": plan.area.name,
            "number": insp.number,
        },
        rows=rows,
        deadline=_day(notice.deadline),
        demand=gettext(
            "前整改完毕，在整改台账中上传整改前后照片并提交验收。"
            "逾期未整改的，将予以督办并在综合评价中扣分。"
        ),
        reinspection=gettext("复查安排：") + reinspection,
        issued=_day(timezone.localtime(notice.issued_at)),
        signer=gettext("签发：%(name)s") % {"name": notice.issued_by},
    )


def notice_pdf(notice: RectificationNotice) -> bytes:
    c = notice_content(notice)
    font = _font()
    base = ParagraphStyle("base", fontName=font, fontSize=11, leading=18)
    title = ParagraphStyle("title", parent=base, fontSize=20, leading=28, alignment=TA_CENTER)
    center = ParagraphStyle("center", parent=base, alignment=TA_CENTER)
    right = ParagraphStyle("right", parent=base, alignment=TA_RIGHT)
    cell = ParagraphStyle("cell", parent=base, fontSize=9.5, leading=13)
    story = [
        Paragraph(_esc(gettext("整改通知书")), title),
        Spacer(1, 2 * mm),
        Paragraph(_esc(c.number), center),
        Spacer(1, 6 * mm),
        Paragraph(_esc(c.addressee), base),
        Paragraph(_indent() + _esc(c.intro), base),
        Spacer(1, 3 * mm),
    ]
    by = gettext("请你单位于")
    data = [[Paragraph(_esc(gettext(h)), cell) for h in HEADERS]]
    data += [[Paragraph(_esc(v), cell) for v in row] for row in c.rows]
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
        Paragraph(f"{_indent()}{_esc(by)} <b>{_esc(c.deadline)}</b> {_esc(c.demand)}", base),
        Paragraph(_indent() + _esc(c.reinspection), base),
        Spacer(1, 14 * mm),
        Paragraph(_esc(gettext(ISSUER)), right),
        Paragraph(c.issued, right),
        Paragraph(_esc(c.signer), right),
    ]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=gettext("整改通知书 %(number)s") % {"number": notice.number},
    )
    doc.build(story)
    return buf.getvalue()


def _east_asian(run, size: float | None = None, bold: bool = False) -> None:
    run.font.name = DOCX_FONT
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), DOCX_FONT)
    if size:
        run.font.size = Pt(size)
    run.bold = bold or None


def _para(doc, text: str = "", *, size: float = 12, align=None, bold: bool = False, indent=True):
    p = doc.add_paragraph()
    if align is not None:
        p.alignment = align
    if indent:
        p.paragraph_format.first_line_indent = Pt(size * 2)
    if text:
        _east_asian(p.add_run(text), size, bold)
    return p


def notice_docx(notice: RectificationNotice) -> bytes:
    """The same notice as a Word document: A4, 宋体, the findings as a real table."""
    c = notice_content(notice)
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.2)
    section.top_margin = section.bottom_margin = Cm(2.5)
    doc.core_properties.title = gettext("整改通知书 %(number)s") % {"number": c.number}
    _para(
        doc,
        gettext("整改通知书"),
        size=22,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        bold=True,
        indent=False,
    )
    _para(doc, c.number, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False)
    _para(doc, c.addressee, indent=False)
    _para(doc, c.intro)
    table = doc.add_table(rows=1, cols=len(HEADERS))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = [Cm(1.2), Cm(7.5), Cm(4.2), Cm(3.4), Cm(1.3)]
    for cell, text, width in zip(table.rows[0].cells, HEADERS, widths, strict=True):
        cell.width = width
        _east_asian(cell.paragraphs[0].add_run(gettext(text)), 10.5, bold=True)
    for values in c.rows:
        cells = table.add_row().cells
        for cell, text, width in zip(cells, values, widths, strict=True):
            cell.width = width
            _east_asian(cell.paragraphs[0].add_run(text), 10.5)
    p = _para(doc, "")
    _east_asian(p.add_run(gettext("请你单位于") + " "), 12)
    _east_asian(p.add_run(c.deadline), 12, bold=True)
    _east_asian(p.add_run(" " + c.demand), 12)
    _para(doc, c.reinspection)
    doc.add_paragraph()
    for line in (gettext(ISSUER), c.issued, c.signer):
        _para(doc, line, align=WD_ALIGN_PARAGRAPH.RIGHT, indent=False)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
