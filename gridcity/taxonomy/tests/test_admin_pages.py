"""The Chinese admin: every page opens for the system administrator, big tables never render a
select of all cells, the dispatch test tool explains itself, and the calendar warns in time."""

import io
import re
from datetime import date
from urllib.parse import urlencode

import time_machine
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from gridcity.accounts.actions import do_create_token
from gridcity.accounts.models import ApiToken
from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.cases.models import Case
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.lib.coords import wgs84_to_gcj02
from gridcity.taxonomy.actions import resolve_category
from gridcity.taxonomy.admin import official_calendar_warnings
from gridcity.taxonomy.models import CalendarDay, FilingCondition
from gridcity.testing import MID_LAT, build_city

GRIDCITY_APPS = {"accounts", "grids", "taxonomy", "dispatch", "cases"}
# A point in the north-west community (湖滨街道), well inside a cell.
WEST_LON, NORTH_LAT = 120.163, MID_LAT + 0.001
TEST_POINT_URL = "admin:dispatch_responsibilityrule_test_point"


class AdminPagesTest(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.city = build_city()
        cls.admin_user = cls.city.people["admin"]
        category = resolve_category("06042")
        cls.case = do_report_case(
            ReportInput(
                category=category,
                channel="inspector",
                lon=WEST_LON,
                lat=NORTH_LAT,
                description="垃圾桶满了",
            ),
            acting_user=cls.city.people["inspector"],
        ).case

    def setUp(self) -> None:
        self.client.force_login(self.admin_user)

    def get(self, name: str, *args, **params):
        url = reverse(name, args=args)
        if params:
            url += "?" + urlencode(params)
        return self.client.get(url)

    # -- every page -------------------------------------------------------------------------

    def test_it_opens_every_changelist_and_change_page(self) -> None:
        models = [m for m in admin.site._registry if m._meta.app_label in GRIDCITY_APPS]
        self.assertGreaterEqual(len(models), 14)
        for model in models:
            opts = model._meta
            with self.subTest(model=opts.label):
                r = self.get(f"admin:{opts.app_label}_{opts.model_name}_changelist")
                self.assertEqual(r.status_code, 200)
                obj = model._default_manager.order_by("pk").first()
                if obj is not None:
                    r = self.get(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk)
                    self.assertEqual(r.status_code, 200)

    def test_it_searches_and_filters_the_area_list(self) -> None:
        r = self.get("admin:grids_area_changelist", q="330102001001001")
        self.assertContains(r, "330102001001001")
        r = self.get("admin:grids_area_changelist", level__exact=AreaLevel.STREET)
        self.assertContains(r, "湖滨街道")
        self.assertNotContains(r, "330102001001001")

    def test_it_lists_areas_in_a_fixed_number_of_queries(self) -> None:
        with self.assertNumQueries(6):
            self.get("admin:grids_area_changelist", level__exact=AreaLevel.CELL)

    def test_it_never_renders_a_select_of_all_cells(self) -> None:
        cell = Area.objects.filter(level=AreaLevel.CELL).first()
        self.assertGreater(Area.objects.filter(level=AreaLevel.CELL).count(), 50)
        pages = [
            (self.get("admin:grids_area_change", cell.pk), "parent"),
            (self.get("admin:grids_beat_change", Beat.objects.first().pk), "cells"),
            (
                self.get("admin:accounts_user_change", self.city.people["inspector"].pk),
                "jurisdiction",
            ),
            (self.get("admin:grids_component_add"), "cell"),
            (self.get("admin:dispatch_responsibilityrule_add"), "area"),
        ]
        for r, field in pages:
            with self.subTest(page=r.request["PATH_INFO"], field=field):
                self.assertEqual(r.status_code, 200)
                select = re.search(rf'<select name="{field}".*?</select>', r.content.decode(), re.S)
                # Either no select at all (read-only or a raw id input) or an autocomplete
                # select holding only the current value.
                if select is not None:
                    self.assertIn("admin-autocomplete", select.group(0))
                    self.assertLessEqual(select.group(0).count("<option"), 2)

    def test_it_shows_the_boundary_as_a_summary_not_raw_json(self) -> None:
        cell = Area.objects.filter(level=AreaLevel.CELL).first()
        r = self.get("admin:grids_area_change", cell.pk)
        self.assertContains(r, "个顶点")
        self.assertNotContains(r, '"coordinates"')
        self.assertNotContains(r, 'name="geometry"')

    def test_it_refuses_to_add_or_change_cases_and_events(self) -> None:
        r = self.get("admin:cases_case_add")
        self.assertEqual(r.status_code, 403)
        r = self.get("admin:cases_case_change", self.case.pk)
        self.assertContains(r, self.case.number)
        self.assertContains(r, "环境卫生科室")
        self.assertNotContains(r, 'name="_save"')
        event = self.case.events.first()
        r = self.client.post(reverse("admin:cases_caseevent_delete", args=[event.pk]))
        self.assertEqual(r.status_code, 403)

    # -- tokens ------------------------------------------------------------------------------

    def test_it_revokes_a_token_and_never_shows_the_hash(self) -> None:
        do_create_token(self.city.people["inspector"], name="巡查手机")
        token = ApiToken.objects.get(name="巡查手机")
        r = self.get("admin:accounts_apitoken_change", token.pk)
        self.assertNotContains(r, token.key_hash)
        r = self.get("admin:accounts_apitoken_changelist")
        self.assertContains(r, token.prefix)
        self.assertNotContains(r, token.key_hash)
        r = self.client.post(
            reverse("admin:accounts_apitoken_changelist"),
            {"action": "revoke", "_selected_action": [token.pk]},
            follow=True,
        )
        self.assertContains(r, "已吊销 1 个令牌")
        token.refresh_from_db()
        self.assertIsNotNone(token.revoked_at)

    # -- the dispatch test tool ----------------------------------------------------------

    def test_it_says_which_cell_and_department_get_a_point_and_why(self) -> None:
        r = self.get(TEST_POINT_URL, category="06042", lon=WEST_LON, lat=NORTH_LAT, crs="wgs84")
        self.assertEqual(r.status_code, 200)
        result = r.context["result"]
        self.assertEqual(result["cell"].code, self.city.cell(WEST_LON, NORTH_LAT).code)
        self.assertEqual(result["decision"].department_name, "环境卫生科室")
        self.assertEqual(result["decision"].source, "rule")
        self.assertContains(r, "环境卫生科室")
        self.assertContains(r, "规则“06042 垃圾站（箱）满溢 · 上城区 → 环境卫生科室”")
        self.assertContains(r, "湖滨街道")

    def test_it_converts_a_gcj02_point_before_locating_it(self) -> None:
        lon, lat = wgs84_to_gcj02(WEST_LON, NORTH_LAT)
        r = self.get(TEST_POINT_URL, category="06042", lon=lon, lat=lat, crs="gcj02")
        self.assertEqual(r.context["result"]["cell"].code, self.city.cell(WEST_LON, NORTH_LAT).code)

    def test_it_falls_back_to_the_street_office_without_a_rule(self) -> None:
        r = self.get(TEST_POINT_URL, category="06002", lon=WEST_LON, lat=NORTH_LAT, crs="wgs84")
        self.assertEqual(r.context["result"]["decision"].source, "territorial")
        self.assertContains(r, "属地兜底")
        self.assertContains(r, "湖滨街道办事处")

    def test_it_uses_the_filing_condition_when_given(self) -> None:
        condition = FilingCondition.objects.get(category__code="06042")
        r = self.get(
            TEST_POINT_URL,
            category="matter:06042",
            lon=WEST_LON,
            lat=NORTH_LAT,
            crs="wgs84",
            filing_condition=condition.pk,
        )
        self.assertEqual(r.context["result"]["decision"].department_name, "环境卫生科室")

    def test_it_reports_a_point_outside_every_cell(self) -> None:
        r = self.get(TEST_POINT_URL, category="06042", lon=116.4, lat=39.9, crs="wgs84")
        self.assertContains(r, "该点不在任何单元网格内")

    def test_it_puts_bad_input_next_to_the_field(self) -> None:
        bad = [
            ({"lat": 999}, "lat", "纬度超出范围"),
            ({"lat": "nan"}, "lat", "纬度必须是有限数字"),
            ({"lon": "inf"}, "lon", "经度必须是有限数字"),
            ({"lon": -181}, "lon", "经度超出范围"),
            ({"category": "99999"}, "category", "类别“99999”不存在"),
            ({"crs": "utm"}, "crs", "utm"),
            ({"component": "33010201002000001"}, "component", "部件 33010201002000001 不存在"),
        ]
        other = FilingCondition.objects.exclude(category__code="06042").first()
        bad.append(({"filing_condition": other.pk}, "filing_condition", "该立案条件不属于类别"))
        for change, field, message in bad:
            with self.subTest(field=field, change=change):
                params = {"category": "06042", "lon": WEST_LON, "lat": NORTH_LAT, "crs": "wgs84"}
                params.update(change)
                r = self.get(TEST_POINT_URL, **params)
                self.assertEqual(r.status_code, 200)
                self.assertIsNone(r.context["result"])
                errors = r.context["form"].errors
                self.assertEqual(list(errors), [field])
                self.assertIn(message, errors[field][0])
                self.assertContains(r, "errorlist")

    def test_the_rule_list_links_to_the_tool(self) -> None:
        r = self.get("admin:dispatch_responsibilityrule_changelist")
        self.assertContains(r, reverse(TEST_POINT_URL))

    # -- the working calendar -----------------------------------------------------------------

    def test_it_warns_when_the_official_calendar_lacks_a_year(self) -> None:
        with time_machine.travel(date(2027, 3, 1), tick=False):
            # Log in inside the travelled time, or the session would have expired.
            self.client.force_login(self.admin_user)
            r = self.get("admin:taxonomy_calendarday_changelist")
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "官方节假日数据尚未包含 2027 年：该年按周末休息计算")
        self.assertContains(r, "官方节假日数据尚未包含 2028 年")

    def test_it_does_not_warn_for_published_years(self) -> None:
        self.assertEqual(official_calendar_warnings(date(2024, 5, 1)), [])

    def test_it_warns_for_next_year_alone_late_in_a_covered_year(self) -> None:
        CalendarDay.objects.create(date=date(2027, 1, 1), is_workday=False, note="元旦")
        warnings = official_calendar_warnings(date(2026, 11, 1))
        self.assertEqual(len(warnings), 1)
        self.assertIn("2027 年", warnings[0])
        self.assertIn("已录入该年 1 天", warnings[0])

    # -- 立结案标准 export and import -----------------------------------------------------------

    def test_it_exports_the_standards(self) -> None:
        r = self.get("admin:taxonomy_category_export_standards", "csv")
        self.assertEqual(r.status_code, 200)
        self.assertIn("attachment", r["Content-Disposition"])
        text = r.content.decode("utf-8-sig")
        self.assertTrue(text.startswith("大类代码,大类名称,小类代码"))
        self.assertIn("06042", text)
        r = self.get("admin:taxonomy_category_export_standards", "xlsx")
        self.assertEqual(r.content[:2], b"PK")

    def test_it_lists_every_error_of_a_rejected_upload_and_imports_nothing(self) -> None:
        before = FilingCondition.objects.count()
        csv_text = (
            "大类代码,大类名称,小类代码,小类名称,处置单位,主管部门,立案条件,结案条件,处置时限\n"
            "06,市容环境类,06010,暴露垃圾,环境卫生科室,环境卫生科室,新的条件,清除,1工作日\n"
            "06,市容环境类,06011,积存垃圾渣土,环境卫生科室,环境卫生科室,另一条件,清除,很快\n"
            "06,市容环境类,0601,积存垃圾渣土,环境卫生科室,环境卫生科室,第三条件,清除,1工作日\n"
        )
        upload = SimpleUploadedFile("标准.csv", csv_text.encode(), content_type="text/csv")
        r = self.client.post(reverse("admin:taxonomy_category_import_standards"), {"file": upload})
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "未导入任何数据")
        self.assertContains(r, "<td>第3行</td><td>处置时限</td>", html=False)
        self.assertContains(r, "<td>第4行</td><td>小类代码</td>", html=False)
        self.assertEqual(FilingCondition.objects.count(), before)

    def test_it_imports_an_uploaded_xlsx(self) -> None:
        from openpyxl import Workbook

        wb = Workbook()
        wb.active.append(
            ["大类代码", "大类名称", "小类代码", "小类名称", "处置单位", "主管部门"]
            + ["立案条件", "结案条件", "处置时限"]
        )
        wb.active.append(
            ["06", "市容环境类", "06010", "暴露垃圾", "环境卫生科室", "环境卫生科室"]
            + ["零星垃圾", "清除", "4工作时"]
        )
        buf = io.BytesIO()
        wb.save(buf)
        upload = SimpleUploadedFile("标准.xlsx", buf.getvalue())
        r = self.client.post(
            reverse("admin:taxonomy_category_import_standards"), {"file": upload}, follow=True
        )
        self.assertContains(r, "新建 1 条立案条件")
        fc = FilingCondition.objects.get(category__code="06010", text="零星垃圾")
        self.assertEqual(fc.time_limit_text, "4工作时")

    def test_it_refuses_other_file_types(self) -> None:
        upload = SimpleUploadedFile("标准.txt", b"hello")
        r = self.client.post(reverse("admin:taxonomy_category_import_standards"), {"file": upload})
        self.assertContains(r, "只接受 .csv 或 .xlsx 文件")

    def test_an_outsider_cannot_open_the_tools(self) -> None:
        self.client.force_login(self.city.people["sanitation"])
        r = self.get(TEST_POINT_URL, category="06042", lon=WEST_LON, lat=NORTH_LAT)
        self.assertEqual(r.status_code, 302)
        r = self.get("admin:taxonomy_category_export_standards", "csv")
        self.assertEqual(r.status_code, 302)
        self.assertEqual(Case.objects.count(), 1)
