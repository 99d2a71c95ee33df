"""The 通报 beyond the departments: grid managers, streets, communities and the centre's staff,
each ranked in its own XLSX sheet and its own PDF section, on the September scenario."""

import base64
import re
import shutil
import subprocess
import zlib
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from gridcity.evaluation.actions import do_freeze_period
from gridcity.evaluation.compute import Ranking, Unit, UnitResult, get_ranking
from gridcity.evaluation.indicators import INDICATORS, parse_period
from gridcity.evaluation.reports import (
    SECTION_SPECS,
    Section,
    build_bulletin,
    bulletin_pdf,
    bulletin_xlsx,
    pdf_rows,
)
from gridcity.evaluation.tests.scenario import at, build_september

DEPARTMENT_SHEETS = ["部门排名", "通报表扬", "通报批评", "超期案件", "推诿（回退）案件"]
OTHER_SHEETS = ["网格员排名", "街道排名", "社区排名", "派遣员排名", "受理员排名", "值班长排名"]


def pdf_text(pdf: bytes) -> str:
    """The text a reportlab PDF draws, one shown string a line: each content stream decoded
    (ASCII85, then Flate), its string operands unescaped, and those set in the CID font
    STSong-Light (UniGB-UCS2-H) read as UTF-16."""
    cid_fonts = set(re.findall(rb"/Encoding /UniGB-UCS2-H /Name /(\w+)", pdf))
    assert cid_fonts, "no Chinese font in the PDF"
    lines = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        raw = re.sub(rb"\s", b"", m.group(1)).removesuffix(b"~>")
        data = zlib.decompress(base64.a85decode(raw))
        font = None
        for f, s in re.findall(rb"/(\w+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\)\s*Tj", data, re.S):
            if f:
                font = f
                continue
            s = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda e: (
                    bytes([int(e[1], 8)])
                    if e[1][:1].isdigit()
                    else {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(
                        e[1], e[1]
                    )
                ),
                s,
                flags=re.S,
            )
            lines.append(s.decode("utf-16-be") if font in cid_fonts else s.decode("latin-1"))
    return "\n".join(lines)


def sheet_rows(ws) -> list[dict]:
    """A ranking sheet's rows below its header row (row 4), keyed by the header."""
    head = [c.value for c in ws[4]]
    return [dict(zip(head, r, strict=True)) for r in ws.iter_rows(min_row=5, values_only=True)]


@pytest.fixture
def frozen_september(city):
    cases = build_september(city)
    do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    return cases


def test_the_xlsx_ranks_every_group_in_its_own_sheet(city, frozen_september):
    wb = load_workbook(BytesIO(bulletin_xlsx("2025-09")))
    assert wb.sheetnames == DEPARTMENT_SHEETS + OTHER_SHEETS

    ws = wb["网格员排名"]
    assert ws["A1"].value == "2025年9月城市管理综合评价通报——网格员排名"
    assert ws["B2"].value == "已冻结" and ws["D2"].value == "网格员考评方案"
    assert [c.value for c in ws[4]] == ["名次", "名称", "得分", "等级"] + [
        INDICATORS[k].name
        for k in ("valid_report_rate", "miss_rate", "verify_on_time_rate", "check_on_time_rate")
    ]
    zhao = next(u for u in get_ranking("2025-09", "inspector").units if u.unit.name == "网格员小赵")
    assert zhao.score == Decimal("92.00")
    rows = {r["名称"]: r for r in sheet_rows(ws)}
    assert rows["网格员小赵"]["名次"] == 1
    assert Decimal(str(rows["网格员小赵"]["得分"])) == zhao.score
    assert rows["网格员小赵"]["等级"] == zhao.grade == "A"
    assert rows["网格员小赵"]["漏报率"] == pytest.approx(16.67)  # 1 missed of 6
    assert rows["网格员小孙"]["得分"] == "—"  # on the list, but given no work this month

    areas = get_ranking("2025-09", "area").units
    hubin = next(u for u in areas if u.unit.name == "湖滨街道")
    streets = {r["名称"]: r for r in sheet_rows(wb["街道排名"])}
    assert set(streets) == {"湖滨街道", "清波街道"}  # not the district, nor the communities
    assert streets["湖滨街道"]["等级"] == hubin.grade == "C"
    assert Decimal(str(streets["湖滨街道"]["得分"])) == hubin.score
    communities = [r["名称"] for r in sheet_rows(wb["社区排名"])]
    assert communities[:2] == ["湖滨南社区", "湖滨北社区"]
    assert len(communities) == 4
    assert [r["名称"] for r in sheet_rows(wb["值班长排名"])] == ["值班长老周"]
    # The department sheets are as they were.
    assert [r[1] for r in wb["部门排名"].iter_rows(min_row=5, values_only=True)][:2] == [
        "市政设施科室",
        "城市管理执法科室",
    ]


def test_the_pdf_has_a_section_per_group_with_its_commendations(city, frozen_september, tmp_path):
    pdf = bulletin_pdf("2025-09")
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    headings = ["七、网格员排名", "八、街道排名", "九、社区排名"]
    headings += ["十、派遣员排名", "十一、受理员排名", "十二、值班长排名"]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions) and text.index("六、推诿（回退）案件") < positions[0]
    grid = text[positions[0] : positions[1]]
    assert "考评方案：网格员考评方案。" in grid
    assert "网格员小赵：综合得分 92.00，等级 A，排名第 1。" in grid
    assert grid.index("通报表扬") < grid.index("网格员小赵：") < grid.index("通报批评")
    street = text[positions[1] : positions[2]]
    assert "湖滨街道：综合得分 65.00，等级 C，排名第 1。" in street
    assert "派遣员小王" in text[positions[3] : positions[4]]
    if shutil.which("pdftoppm"):
        out = tmp_path / "bulletin"
        subprocess.run(["pdftoppm", "-png", "-r", "50", "-", str(out)], input=pdf, check=True)
        assert list(tmp_path.glob("bulletin*.png"))


def test_a_period_without_cases_still_has_every_sheet_and_section(city):
    b = build_bulletin("2025-09")
    assert [s.title for s in b.sections] == OTHER_SHEETS
    assert not any(s.scored for s in b.sections)
    wb = load_workbook(BytesIO(bulletin_xlsx("2025-09")))
    for name in OTHER_SHEETS:
        assert wb[name]["A5"].value == "本期无考评数据", name
        assert wb[name]["B2"].value == "实时计算（未冻结）"
    text = pdf_text(bulletin_pdf("2025-09"))
    assert text.count("本期无考评数据。") == len(OTHER_SHEETS)


def unit(i: int, score, area_class: str = "") -> UnitResult:
    return UnitResult(
        Unit(str(i), f"社区{i}", 3, area_class),
        {},
        None if score is None else Decimal(score),
        "",
        None,
    )


def section(key: str, units: list[UnitResult]) -> Section:
    spec = next(s for s in SECTION_SPECS if s.key == key)
    ranking = Ranking(parse_period("2025-09"), spec.unit_type, "", units, False, [])
    return Section(spec, ranking, units, [])


def test_the_pdf_lists_the_top_ten_and_bottom_five_communities_of_each_class():
    core = [unit(i, 100 - i, "核心区") for i in range(20)] + [unit(20, None, "核心区")]
    suburb = [unit(30 + i, 90 - i, "城郊区") for i in range(3)]
    rows, left_out = pdf_rows(section("community", core + suburb))
    names = [u.unit.name if u else None for u in rows]
    assert names == (
        [f"社区{i}" for i in range(10)]
        + [None]
        + [f"社区{i}" for i in range(15, 20)]
        + ["社区30", "社区31", "社区32"]
    )
    assert left_out == 6  # five from the middle, and the unscored one
    people = [unit(i, 100 - i) for i in range(12)]
    rows, left_out = pdf_rows(section("dispatcher", people))
    assert len(rows) == 10 and None not in rows and left_out == 2
    rows, left_out = pdf_rows(section("street", people))
    assert len(rows) == 12 and left_out == 0
