"""`gridcity import-cases`: a city's history from an older system, checked whole, imported in
chunks that resume, with its events and evaluation facts as the live actions would leave them."""

from datetime import date, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from gridcity.cases import hooks
from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.cases.facts import FACT_COLUMNS, rebuild_facts
from gridcity.cases.models import Case, CaseEvent, CaseFact, Channel, Report, StaleDay, Status
from gridcity.evaluation.compute import measure_counts, source_for
from gridcity.evaluation.indicators import UnitType, parse_period
from gridcity.history import importer
from gridcity.history.importer import ImportRejected, import_cases
from gridcity.history.models import ImportedCase, ImportRun, RunStatus
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import build_city

SAMPLE = Path(__file__).parent / "sample_cases.csv"
HEADER = SAMPLE.read_text(encoding="utf-8").splitlines()[0]
GOOD = SAMPLE.read_text(encoding="utf-8").splitlines()[1:]


@pytest.fixture
def city(db):
    return build_city()


def run_command(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import-cases", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write_csv(tmp_path, lines: list[str], name: str = "cases.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def facts_snapshot() -> list[tuple]:
    return sorted(
        tuple(r)
        for r in CaseFact.objects.values_list(*(c for c in FACT_COLUMNS if c != "event_id"))
    )


def test_it_imports_every_row_with_its_record_and_facts(city, client):
    out, err = run_command(SAMPLE, "--source", "上城区数字城管")
    assert "共 7 行：导入 7，已存在跳过 0，拒绝 0，未定位到网格 2" in out
    assert Case.objects.count() == 7

    link = ImportedCase.objects.select_related("case").get(external_id="SZCG-2023-000101")
    case = link.case
    assert link.original_number == "上城2023050100101"
    assert case.status == Status.CLOSED
    assert case.number == f"20230501{case.pk:06d}"
    assert case.department.code == "HJWS"
    assert case.cell_id is not None and case.area_path.startswith("/330102/330102001/")
    local = timezone.localtime(case.closed_at)
    assert (local.date(), local.hour, local.minute) == (date(2023, 5, 1), 14, 30)
    assert timezone.localtime(case.handle_deadline).strftime("%H:%M") == "12:41"
    actions = list(case.events.values_list("action", flat=True))
    assert actions == [
        "report", "file", "dispatch", "sign", "report_back", "check_pass", "close", "import"
    ]  # fmt: skip
    close = case.events.get(action="close")
    assert close.note == "已清运，现场整洁" and close.from_status == Status.CHECKED
    imported = case.events.get(action="import")
    assert "上城2023050100101" in imported.note
    assert imported.data["external_id"] == "SZCG-2023-000101"
    report = Report.objects.get(case=case)
    assert report.external_id == "SZCG-2023-000101"

    # The detail page's data shows the old record and the original number.
    client.force_login(city.people["admin"])
    body = client.get(f"/api/cases/{case.number}").json()
    labels = [e["action"] for e in body["timeline"]]
    assert labels[:2] == ["report", "file"] and labels[-1] == "import"
    assert body["timeline"][-1]["label"] == "历史导入"
    assert any("上城2023050100101" in e["note"] for e in body["timeline"])

    # Open cases keep their recorded deadline; voided and reported ones end where they were.
    open_case = ImportedCase.objects.get(external_id="SZCG-2023-000105").case
    assert open_case.status == Status.HANDLING and open_case.step == "handle"
    assert open_case.step_deadline == open_case.handle_deadline
    voided = ImportedCase.objects.get(external_id="SZCG-2023-000104").case
    assert voided.status == Status.VOIDED and voided.closed_at is None
    assert voided.events.filter(action="void").exists()
    unlocated = ImportedCase.objects.get(external_id="SZCG-2023-000107").case
    assert unlocated.cell_id is None and unlocated.status == Status.CLOSED

    # The facts are the evaluation's own reading of those events.
    imported_facts = facts_snapshot()
    assert imported_facts
    rebuild_facts()
    assert facts_snapshot() == imported_facts
    assert set(StaleDay.objects.values_list("day", flat=True)) >= {
        date(2023, 5, d) for d in (1, 2, 3, 4)
    }
    counts = measure_counts(source_for(parse_period("2023-05")), UnitType.DEPARTMENT)
    handle = counts[str(city.departments["HJWS"].pk)]["handle"]
    # 101 reported back before its deadline, 102 a day late.
    assert (handle.n, handle.f1) == (2, 1)
    run = ImportRun.objects.get()
    assert (run.status, run.imported, run.unlocated) == (RunStatus.FINISHED, 7, 2)


def test_it_writes_no_hooks_and_keeps_live_numbering_apart(
    city, django_capture_on_commit_callbacks
):
    heard = []

    def listener(change):
        heard.append(change)

    hooks.subscribe(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            import_cases(SAMPLE)
        assert heard == []
        live = do_report_case(
            ReportInput(
                category=resolve_category("matter:06042"),
                channel=Channel.CITIZEN,
                lon=120.1632,
                lat=30.2455,
                description="垃圾箱满溢",
            ),
            acting_user=None,
        ).case
    finally:
        hooks._subscribers.remove(listener)
    assert Case.objects.filter(number=live.number).count() == 1
    assert live.pk > max(ImportedCase.objects.values_list("case_id", flat=True))


BAD = [
    # line 2: unknown category
    "X-1,,2023-05-01 08:00,,,,,,,,99999,,120.1632,30.2455,,,,,",
    # line 3: a time that is no time
    "X-2,,2023-13-45 08:00,,,,,,,,06042,,120.1632,30.2455,,,,,",
    # line 4: closed before it was filed
    "X-3,,2023-05-01 08:00,2023-05-01 09:00,,,,,2023-05-01 08:30,,06042,,120.1632,30.2455,,,,,",
    # line 5: no external id
    ",,2023-05-01 08:00,,,,,,,,06042,,120.1632,30.2455,,,,,",
    # line 6: an address longer than the column
    "X-5,,2023-05-01 08:00,,,,,,,,06042,,120.1632,30.2455," + "长" * 301 + ",,,,",
    # line 7: fine
    "X-6,,2023-05-01 08:00,,,,,,,,06042,,120.1632,30.2455,,,,,",
    # line 8: the same external id again
    "X-6,,2023-05-01 08:00,,,,,,,,06042,,120.1632,30.2455,,,,,",
]


def test_it_rejects_the_whole_file_and_names_every_bad_line(city, tmp_path):
    path = write_csv(tmp_path, BAD)
    with pytest.raises(CommandError, match="6 行被拒绝，未导入任何案件"):
        out, err = run_command(path)
    with pytest.raises(ImportRejected) as caught:
        import_cases(path)
    found = {(r.line, r.field) for r in caught.value.rejections}
    assert found == {
        (2, "category"),
        (3, "reported_at"),
        (4, "closed_at"),
        (5, "external_id"),
        (6, "address"),
        (8, "external_id"),
    }
    text = "\n".join(map(str, caught.value.rejections))
    assert "第 2 行，类别：未知的类别“99999”" in text
    assert "第 6 行，地址：内容过长（301 字，最多 300 字）" in text
    assert Case.objects.count() == 0 and CaseEvent.objects.count() == 0
    assert not ImportedCase.objects.exists()
    assert set(ImportRun.objects.values_list("status", flat=True)) == {RunStatus.REJECTED}


def test_it_reports_the_bad_lines_in_the_command_output(city, tmp_path):
    path = write_csv(tmp_path, BAD)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import-cases", str(path), stdout=StringIO(), stderr=err)
    lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("拒绝：")]
    assert [ln.split("第 ")[1].split(" 行")[0] for ln in lines] == ["2", "3", "4", "5", "6", "8"]


def test_it_imports_the_good_rows_with_skip_invalid(city, tmp_path):
    path = write_csv(tmp_path, BAD)
    out, err = run_command(path, "--skip-invalid")
    assert "导入 1" in out and "拒绝 6" in out
    assert "已跳过：第 4 行，结案时间" in err
    assert list(ImportedCase.objects.values_list("external_id", flat=True)) == ["X-6"]


def test_it_rejects_a_file_without_the_required_columns(city, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("编号,时间\n1,2023-05-01\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as caught:
        import_cases(path)
    assert {(r.line, r.field) for r in caught.value.rejections} == {
        (1, "external_id"),
        (1, "reported_at"),
        (1, "category"),
    }


def test_it_resumes_after_a_limit_without_duplicates(city):
    out, _ = run_command(SAMPLE, "--chunk-size", "2", "--limit", "3")
    assert "还有 4 行未导入" in out
    assert Case.objects.count() == 3
    run = ImportRun.objects.get()
    assert run.status == RunStatus.RUNNING and run.imported == 3 and run.last_line == 4

    out, _ = run_command(SAMPLE, "--chunk-size", "2")
    assert "继续上次未完成的导入" in out and "导入 4，已存在跳过 3" in out
    assert Case.objects.count() == 7
    assert ImportedCase.objects.count() == 7
    run = ImportRun.objects.get()
    assert (run.status, run.imported, run.skipped) == (RunStatus.FINISHED, 7, 0)


def test_it_resumes_after_a_failure_inside_a_chunk(city, monkeypatch):
    calls = {"n": 0}
    real = importer.write_facts

    def crash_on_second_chunk(rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the machine went down")
        real(rows)

    monkeypatch.setattr(importer, "write_facts", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        import_cases(SAMPLE, chunk_size=3)
    # The first chunk is in, with everything that belongs to it; the second left nothing.
    assert Case.objects.count() == 3
    assert CaseEvent.objects.filter(action="import").count() == 3
    assert ImportRun.objects.get().last_line == 4

    monkeypatch.setattr(importer, "write_facts", real)
    summary = import_cases(SAMPLE, chunk_size=3)
    assert summary.resumed and (summary.imported, summary.skipped) == (4, 3)
    assert Case.objects.count() == 7
    assert CaseEvent.objects.filter(action="import").count() == 7
    before = facts_snapshot()
    rebuild_facts()
    assert facts_snapshot() == before


def test_it_imports_nothing_when_the_file_is_run_again(city):
    run_command(SAMPLE)
    events = CaseEvent.objects.count()
    out, _ = run_command(SAMPLE)
    assert "导入 0，已存在跳过 7" in out
    assert Case.objects.count() == 7 and CaseEvent.objects.count() == events
    # A different source is a different system: the same external ids are other cases.
    run_command(SAMPLE, "--source", "12345")
    assert Case.objects.count() == 14


def test_it_reads_xlsx(city, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["外部编号", "上报时间", "结案时间", "类别", "经度", "纬度", "状态", "结案意见"])
    ws.append([10023, datetime(2023, 6, 1, 9, 30), datetime(2023, 6, 2, 10, 0), "06042",
               120.1632, 30.2455, "已结案", "已处理"])  # fmt: skip
    path = tmp_path / "cases.xlsx"
    wb.save(path)
    summary = import_cases(path)
    assert summary.imported == 1
    case = ImportedCase.objects.get(external_id="10023").case
    assert case.status == Status.CLOSED
    assert list(case.events.values_list("action", flat=True)) == ["report", "close", "import"]


def test_it_parses_the_time_formats_of_older_exports():
    tz = timezone.get_current_timezone()
    expected = datetime(2023, 5, 1, 8, 5, tzinfo=tz)
    for text in ("2023-05-01 08:05", "2023/5/1 8:05", "2023-05-01T08:05:00", "2023年5月1日 8:05"):
        assert importer.parse_time(text, tz) == expected, text
    for text in ("2023-13-01 08:00", "yesterday", "2023-02-30"):
        with pytest.raises(ValueError):
            importer.parse_time(text, tz)
