"""A 311 administrator sets up a city outside China: the time zone, working hours and days and
the country's public holidays come from the environment, the city's own days off come from the
admin or a file, and every deadline follows them. A Chinese city keeps the State Council
calendar with its 调休 days as before."""

import io
import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import SimpleTestCase, TestCase, override_settings
from django.urls import reverse
from openpyxl import Workbook

from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.lib.workcalendar import Clock
from gridcity.system.models import ConfigStamp
from gridcity.taxonomy.actions import get_calendar, resolve_category
from gridcity.taxonomy.models import CalendarDay, FilingCondition, RecurringCalendarDay
from gridcity.testing import MID_LAT, build_city

NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")
BOSTON = {
    "TIME_ZONE": "America/New_York",
    "GRIDCITY_WORKING_PERIODS": [("09:00", "17:00")],
    "GRIDCITY_WORKING_DAYS": [1, 2, 3, 4, 5],
    "GRIDCITY_HOLIDAYS": "US",
}
SPOT = {"lon": 120.163, "lat": MID_LAT + 0.001}


# -- the environment --------------------------------------------------------------------------


def settings_in(env: dict[str, str], tmp: str) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process, as `gridcity runserver` would with this env."""
    script = (
        "import json, gridcity.settings as s; print(json.dumps([s.TIME_ZONE, "
        "s.GRIDCITY_WORKING_PERIODS, s.GRIDCITY_WORKING_DAYS, s.GRIDCITY_HOLIDAYS, "
        "s.LANGUAGE_CODE]))"
    )
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GRIDCITY_")},
        "GRIDCITY_DATA_DIR": tmp,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", script], env=full_env, capture_output=True, text=True, timeout=60
    )


class EnvironmentTest(SimpleTestCase):
    def setUp(self) -> None:
        import tempfile

        self.tmp = tempfile.mkdtemp(prefix="gridcity-env-")

    def test_it_defaults_to_a_chinese_city(self) -> None:
        run = settings_in({}, self.tmp)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(
            json.loads(run.stdout),
            [
                "Asia/Shanghai",
                [["08:00", "12:00"], ["14:00", "18:00"]],
                [1, 2, 3, 4, 5],
                "CN",
                "zh-hans",
            ],
        )

    def test_it_reads_a_boston_setup(self) -> None:
        run = settings_in(
            {
                "GRIDCITY_TIME_ZONE": "America/New_York",
                "GRIDCITY_WORKING_PERIODS": "09:00-17:00",
                "GRIDCITY_WORKING_DAYS": "mon-fri",
                "GRIDCITY_HOLIDAYS": "US-MA",
                "GRIDCITY_LANGUAGE": "en",
            },
            self.tmp,
        )
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(
            json.loads(run.stdout),
            ["America/New_York", [["09:00", "17:00"]], [1, 2, 3, 4, 5], "US-MA", "en"],
        )

    def test_it_names_the_variable_that_is_wrong(self) -> None:
        for variable, value in [
            ("GRIDCITY_TIME_ZONE", "Boston"),
            ("GRIDCITY_WORKING_PERIODS", "9-5"),
            ("GRIDCITY_WORKING_DAYS", "weekdays"),
            ("GRIDCITY_HOLIDAYS", "XX"),
            ("GRIDCITY_LANGUAGE", "fr"),
        ]:
            with self.subTest(variable=variable):
                run = settings_in({variable: value}, self.tmp)
                self.assertNotEqual(run.returncode, 0)
                self.assertIn("ImproperlyConfigured", run.stderr)
                self.assertIn(variable, run.stderr)
                self.assertIn(value, run.stderr)


# -- deadlines of a reported case -------------------------------------------------------------


class CityCalendarTest(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.city = build_city()
        cls.rubbish = resolve_category("06010")  # 暴露垃圾, 成堆、成片: 1 working day
        cls.one_day = FilingCondition.objects.get(category=cls.rubbish, text="成堆、成片")

    def report(self, at: datetime):
        with time_machine.travel(at, tick=False):
            return do_report_case(
                ReportInput(
                    category=self.rubbish,
                    channel="inspector",
                    filing_condition=self.one_day,
                    description="成堆垃圾",
                    **SPOT,
                ),
                acting_user=self.city.people["inspector"],
            ).case

    @override_settings(**BOSTON)
    def test_a_boston_case_reported_friday_afternoon_is_due_tuesday_after_memorial_day(
        self,
    ) -> None:
        case = self.report(datetime(2026, 5, 22, 16, 30, tzinfo=NY))
        self.assertEqual((case.handle_amount, case.handle_clock), (1, Clock.WORK_DAYS))
        due = case.handle_deadline.astimezone(NY)
        self.assertEqual(due, datetime(2026, 5, 26, 16, 30, tzinfo=NY))
        self.assertEqual(due.strftime("%A"), "Tuesday")
        self.assertTrue(9 <= due.hour < 17)

    @override_settings(**BOSTON)
    def test_a_boston_day_off_from_the_admin_moves_the_deadline(self) -> None:
        admin_user = self.city.people["admin"]
        self.client.force_login(admin_user)
        r = self.client.post(
            reverse("admin:taxonomy_recurringcalendarday_add"),
            {"month": "5", "day": "26", "is_workday": "", "note": "Local day off"},
        )
        self.assertEqual(r.status_code, 302, r.content[:2000])
        self.assertFalse(get_calendar().is_workday(date(2027, 5, 26)))
        case = self.report(datetime(2026, 5, 22, 16, 30, tzinfo=NY))
        self.assertEqual(case.handle_deadline, datetime(2026, 5, 27, 16, 30, tzinfo=NY))

    def test_a_chinese_city_works_the_adjusted_saturday(self) -> None:
        self.assertTrue(get_calendar().is_workday(date(2026, 10, 10)))
        self.assertFalse(get_calendar().is_workday(date(2026, 10, 1)))
        # Fri 10-09 16:00 Shanghai + 1 working day: 2 h on Friday, 6 h on the 调休 Saturday.
        case = self.report(datetime(2026, 10, 9, 16, tzinfo=SH))
        self.assertEqual(case.handle_deadline, datetime(2026, 10, 10, 16, tzinfo=SH))

    def test_the_admin_refuses_a_month_day_that_does_not_exist(self) -> None:
        self.client.force_login(self.city.people["admin"])
        r = self.client.post(
            reverse("admin:taxonomy_recurringcalendarday_add"),
            {"month": "2", "day": "30", "is_workday": "", "note": ""},
        )
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "2 月没有 30 日")
        self.assertFalse(RecurringCalendarDay.objects.exists())

    def test_it_imports_a_file_from_the_calendar_page(self) -> None:
        self.client.force_login(self.city.people["admin"])
        r = self.client.get(reverse("admin:taxonomy_calendarday_changelist"))
        self.assertContains(r, reverse("admin:taxonomy_calendarday_import_holidays"))
        upload = SimpleUploadedFile("boston.ics", GOOD_ICS.encode(), content_type="text/calendar")
        r = self.client.post(
            reverse("admin:taxonomy_calendarday_import_holidays"), {"file": upload}
        )
        self.assertRedirects(r, reverse("admin:taxonomy_calendarday_changelist"))
        self.assertEqual(CalendarDay.objects.count(), 2)

    def test_the_calendar_page_shows_every_rejected_row_and_imports_nothing(self) -> None:
        self.client.force_login(self.city.people["admin"])
        upload = SimpleUploadedFile("holidays.csv", BAD_CSV.encode(), content_type="text/csv")
        r = self.client.post(
            reverse("admin:taxonomy_calendarday_import_holidays"), {"file": upload}
        )
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "未导入任何数据")
        self.assertContains(r, "<td>第3行</td><td>date</td>", html=False)
        self.assertContains(r, "<td>第4行</td><td>type</td>", html=False)
        self.assertFalse(CalendarDay.objects.exists())


# -- import-holidays --------------------------------------------------------------------------

GOOD_CSV = (
    "date,type,note\n"
    "2026-12-24,off,Christmas Eve\n"
    "03-17,off,Evacuation Day\n"
    "2026-12-26,work,Inventory Saturday\n"
)
BAD_CSV = (
    "date,type,note\n"
    "2026-12-24,off,Christmas Eve\n"
    "12/24/2026,off,Written the American way\n"
    "2026-12-31,maybe,New Year's Eve\n"
)
GOOD_ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//City of Boston//Holidays//EN\r
BEGIN:VEVENT\r
UID:1@boston\r
DTSTART;VALUE=DATE:20261224\r
DTEND;VALUE=DATE:20261226\r
SUMMARY:Christmas Eve and\r
  Christmas\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:2@boston\r
DTSTART;VALUE=DATE:20260317\r
RRULE:FREQ=YEARLY\r
SUMMARY:Evacuation Day\r
END:VEVENT\r
END:VCALENDAR\r
"""
BAD_ICS = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
DTSTART;VALUE=DATE:20261224
SUMMARY:Christmas Eve
END:VEVENT
BEGIN:VEVENT
DTSTART:20261231T170000Z
SUMMARY:Office party
END:VEVENT
END:VCALENDAR
"""


class ImportHolidaysTest(TestCase):
    def setUp(self) -> None:
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="gridcity-holidays-"))

    def file(self, name: str, content: str | bytes) -> str:
        path = self.dir / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return str(path)

    def xlsx(self, rows: list[list]) -> str:
        workbook = Workbook()
        for row in rows:
            workbook.active.append(row)
        out = io.BytesIO()
        workbook.save(out)
        return self.file("holidays.xlsx", out.getvalue())

    def run_command(self, path: str) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        call_command("import-holidays", path, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def rejected(self, path: str) -> str:
        err = io.StringIO()
        with self.assertRaises(CommandError) as raised:
            call_command("import-holidays", path, stdout=io.StringIO(), stderr=err)
        self.assertIn("未写入任何数据", str(raised.exception))
        self.assertFalse(CalendarDay.objects.exists())
        self.assertFalse(RecurringCalendarDay.objects.exists())
        return err.getvalue()

    def days(self) -> dict:
        return dict(CalendarDay.objects.values_list("date", "is_workday"))

    @override_settings(**BOSTON)
    def test_it_imports_a_csv_and_the_deadlines_follow_at_once(self) -> None:
        self.assertTrue(get_calendar().is_workday(date(2026, 12, 24)))
        stamp_before = ConfigStamp.objects.filter(pk="calendar").first()
        out, _err = self.run_command(self.file("holidays.csv", GOOD_CSV))
        self.assertIn("导入 3 天", out)
        self.assertEqual(self.days(), {date(2026, 12, 24): False, date(2026, 12, 26): True})
        evacuation = RecurringCalendarDay.objects.get()
        self.assertEqual((evacuation.month, evacuation.day), (3, 17))
        self.assertEqual(evacuation.note, "Evacuation Day")
        self.assertNotEqual(ConfigStamp.objects.filter(pk="calendar").first(), stamp_before)
        calendar = get_calendar()
        self.assertFalse(calendar.is_workday(date(2026, 12, 24)))
        self.assertTrue(calendar.is_workday(date(2026, 12, 26)))  # a Saturday worked
        self.assertFalse(calendar.is_workday(date(2027, 3, 17)))
        # Importing the same file again changes nothing.
        out, _err = self.run_command(self.file("holidays.csv", GOOD_CSV))
        self.assertIn("未变 3", out)

    def test_it_rejects_a_csv_with_bad_rows_by_line_and_writes_nothing(self) -> None:
        err = self.rejected(self.file("holidays.csv", BAD_CSV))
        self.assertIn("第3行 [date]", err)
        self.assertIn("12/24/2026", err)
        self.assertIn("第4行 [type]", err)
        self.assertIn("maybe", err)
        self.assertNotIn("第2行", err)

    def test_it_reads_chinese_headers_and_days(self) -> None:
        self.run_command(
            self.file("节假日.csv", "日期,类型,说明\n2026-10-12,休息,防台风\n10-31,上班,\n")
        )
        self.assertEqual(self.days(), {date(2026, 10, 12): False})
        self.assertTrue(RecurringCalendarDay.objects.get(month=10, day=31).is_workday)

    def test_it_imports_an_xlsx_with_real_date_cells(self) -> None:
        path = self.xlsx(
            [
                ["Date", "Type", "Name"],
                [datetime(2026, 12, 24), "off", "Christmas Eve"],
                ["07-05", "off", "Day after Independence Day"],
            ]
        )
        out, _err = self.run_command(path)
        self.assertIn("新建 2", out)
        self.assertEqual(self.days(), {date(2026, 12, 24): False})
        self.assertTrue(RecurringCalendarDay.objects.filter(month=7, day=5).exists())

    def test_it_rejects_an_xlsx_row_by_its_row_number(self) -> None:
        path = self.xlsx(
            [
                ["date", "type", "note"],
                [datetime(2026, 12, 24), "off", "Christmas Eve"],
                [datetime(2026, 12, 31, 17, 0), "off", "Party"],
                ["02-30", "off", "No such day"],
                ["2026-12-28", "off", "x" * 101],
            ]
        )
        err = self.rejected(path)
        self.assertIn("第3行 [date]", err)
        self.assertIn("第4行 [date]", err)
        self.assertIn("第5行 [note]", err)

    def test_it_imports_an_ics_calendar_of_all_day_events(self) -> None:
        out, _err = self.run_command(self.file("boston.ics", GOOD_ICS))
        self.assertIn("导入 3 天（其中每年重复 1 天）", out)
        self.assertEqual(self.days(), {date(2026, 12, 24): False, date(2026, 12, 25): False})
        self.assertEqual(
            CalendarDay.objects.get(date=date(2026, 12, 25)).note, "Christmas Eve and Christmas"
        )
        self.assertFalse(RecurringCalendarDay.objects.get(month=3, day=17).is_workday)

    def test_it_rejects_a_timed_ics_event_by_its_line(self) -> None:
        err = self.rejected(self.file("boston.ics", BAD_ICS))
        self.assertIn("第8行 [DTSTART]", err)
        self.assertIn("不是全天事件", err)

    def test_it_rejects_a_file_that_says_a_day_is_both_off_and_worked(self) -> None:
        err = self.rejected(
            self.file("holidays.csv", "date,type\n2026-12-24,off\n2026-12-24,work\n")
        )
        self.assertIn("第3行", err)
        self.assertIn("第2行矛盾", err)

    def test_it_lists_the_columns_a_file_without_dates_has(self) -> None:
        err = self.rejected(self.file("holidays.csv", "day off,name\nx,y\n"))
        self.assertIn("day off、name", err)

    def test_it_refuses_a_missing_file_and_an_unknown_format(self) -> None:
        with self.assertRaisesMessage(CommandError, "文件不存在"):
            call_command("import-holidays", str(self.dir / "none.csv"), stderr=io.StringIO())
        err = self.rejected(self.file("holidays.txt", "2026-12-24\n"))
        self.assertIn(".ics", err)
