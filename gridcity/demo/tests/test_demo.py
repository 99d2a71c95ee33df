"""The demo city, built small (400 m cells, 80 cases over a month) at a fixed moment."""

import json
from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import shapely
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from shapely.geometry import shape

from gridcity.accounts.models import Role, User
from gridcity.campaigns.models import LedgerRow, LedgerStatus
from gridcity.cases.models import OPEN, Addressee, Case, CaseEvent, Status, SupervisionOrder
from gridcity.cases.workflow import STEP_OWNERS
from gridcity.demo.builder import DISTRICT_FILE, DemoOptions, build_demo, split_equal
from gridcity.grids.actions import locate
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.lib.coords import gcj02_to_wgs84
from gridcity.lib.geojson import area_m2

# A Wednesday afternoon, so the boards hold the work of the last two working days.
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction that is rolled back afterwards."""
    md5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=md5), transaction.atomic():
        yield build_demo(DemoOptions(seed=1, months=1, cases=80, cell_size_m=400, now=NOW))
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_it_builds_the_area_tree_with_coded_cells(demo):
    district = Area.objects.get(level=AreaLevel.DISTRICT)
    assert (district.code, district.name) == ("330102", "上城区")
    streets = Area.objects.filter(level=AreaLevel.STREET)
    assert streets.count() == 14
    assert {"湖滨街道", "清波街道", "九堡街道", "丁兰街道"} <= set(
        streets.values_list("name", flat=True)
    )
    assert not streets.filter(fallback_department__isnull=True).exists()
    for community in Area.objects.filter(level=AreaLevel.COMMUNITY).select_related("parent"):
        assert len(community.code) == 12 and community.code.startswith(community.parent.code)
        assert community.name.startswith(community.parent.name) and community.name.endswith("社区")
    cells = Area.objects.filter(level=AreaLevel.CELL).select_related("parent")
    assert cells.count() == demo.cells > 500
    for cell in cells:
        assert len(cell.code) == 15 and cell.code.isdigit()
        assert cell.code[:12] == cell.parent.code and cell.parent.level == AreaLevel.COMMUNITY


@pytest.mark.django_db
def test_it_stores_the_gcj02_boundary_in_wgs84(demo):
    source = json.loads(DISTRICT_FILE.read_text(encoding="utf-8"))
    assert "af059d09" in source["_provenance"]
    gcj = shape(source["features"][0]["geometry"])
    geom = shape(Area.objects.get(code="330102").geometry)
    # GCJ-02 is shifted a few hundred metres north-east of WGS84 around Hangzhou.
    (x0, y0), (x1, y1) = shapely.get_coordinates(gcj)[0], shapely.get_coordinates(geom)[0]
    assert (x0, y0) != (x1, y1)
    assert gcj02_to_wgs84(x0, y0) == pytest.approx((x1, y1), abs=1e-7)
    assert 110_000_000 < area_m2(geom) < 135_000_000  # 上城区 is about 122 km²
    point = geom.representative_point()
    where = locate(point.x, point.y)
    assert where.located and where.path.startswith("/330102/330102")
    assert not locate(120.0, 30.0).located


@pytest.mark.django_db
def test_it_gives_every_role_a_login_and_every_cell_a_grid_manager(demo):
    for role in set(Role) - {Role.SYSTEM}:
        assert User.objects.filter(role=role, is_active=True).exists(), role
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.get(username="inspector1").check_password("demo12345")
    assert Beat.objects.count() == 30
    assert not Area.objects.filter(level=AreaLevel.CELL, beats__isnull=True).exists()
    assert demo.token.startswith("gc_")
    assert {x.username for x in demo.logins} >= {"intake", "shiftlead", "sanitation", "hubin"}


@pytest.mark.django_db
def test_it_makes_a_history_with_every_kind_of_turn(demo):
    assert not demo.skipped
    actions = set(CaseEvent.objects.values_list("action", flat=True))
    assert {"report", "file", "dispatch", "sign", "report_back", "check_pass", "close"} <= actions
    assert {"return", "check_fail", "void", "request_extension", "overdue"} <= actions
    assert CaseEvent.objects.filter(overdue=True).exists()
    assert Case.objects.filter(status=Status.CLOSED, rework_count__gt=0).exists()
    assert Case.objects.filter(return_count__gt=0).exists()
    assert Case.objects.filter(channel="citizen", verified=True).exists()
    # Every step happened when the simulation said, not when the test ran.
    assert not CaseEvent.objects.filter(at__gt=NOW).exclude(action__startswith="supervis").exists()


@pytest.mark.django_db
def test_it_leaves_recent_work_on_the_boards(demo):
    open_statuses = set(Case.objects.filter(status__in=OPEN).values_list("status", flat=True))
    assert len(open_statuses) >= 5, open_statuses
    assert Status.HANDLING in open_statuses
    assert open_statuses & {Status.VERIFYING, Status.UNLOCATED, Status.REPORTED, Status.FILED}


def test_it_cuts_a_polygon_into_pieces_of_equal_area():
    from shapely.geometry import Polygon

    l_shape = Polygon([(0, 0), (4, 0), (4, 1), (1, 1), (1, 3), (0, 3)])
    pieces = split_equal(l_shape, 7)
    assert len(pieces) == 7
    assert all(abs(p.area - l_shape.area / 7) < 1e-6 for p in pieces)
    assert abs(sum(p.area for p in pieces) - l_shape.area) < 1e-9
    assert [p.wkt for p in split_equal(l_shape, 7)] == [p.wkt for p in pieces]


@pytest.mark.django_db
def test_the_command_refuses_a_database_with_data_and_skips_with_if_empty(demo):
    with pytest.raises(CommandError, match="数据库中已有数据"):
        call_command("demo", stdout=StringIO())
    out = StringIO()
    call_command("demo", "--if-empty", stdout=out)
    assert "跳过" in out.getvalue()
    assert Area.objects.filter(level=AreaLevel.DISTRICT).count() == 1


@pytest.mark.django_db
def test_no_standing_order_waits_on_a_finished_case_or_on_a_step_its_addressee_does_not_own(
    demo,
):
    orders = SupervisionOrder.objects.select_related("case")
    assert orders.filter(kind="overdue").exists() and orders.filter(kind="leader").exists()
    standing = [o for o in orders if o.settled_at is None]
    assert not [o.number for o in standing if o.case.status not in OPEN]
    for o in standing:
        if o.kind == "overdue":
            assert o.step == o.case.step, o.number  # a done step's order is settled
        owner = STEP_OWNERS[o.step][0]
        assert o.addressee_kind == owner or (
            owner == Addressee.FIELD and o.addressee_kind == Addressee.CENTRE
        ), o.number
    assert orders.filter(settled_at__isnull=False).exclude(settled_reason="").exists()


# Tables the demo leaves empty, with why (none today: every table shows the city at work).
NOT_DEMO_DATA: dict[str, str] = {}


@pytest.mark.django_db
@pytest.mark.parametrize("app", ["sensors", "campaigns", "people", "publicity"])
def test_every_supervision_module_has_demo_rows(demo, app):
    empty = [
        model._meta.label_lower
        for model in apps.get_app_config(app).get_models()
        if model._meta.label_lower not in NOT_DEMO_DATA and not model.objects.exists()
    ]
    assert empty == []


@pytest.mark.django_db
def test_no_ledger_row_of_a_closed_case_waits_for_rectification(demo):
    rows = LedgerRow.objects.filter(case__status=Status.CLOSED)
    assert rows.exists()
    waiting = rows.filter(status__in=[LedgerStatus.PENDING, LedgerStatus.RECTIFYING])
    assert list(waiting.values_list("case__number", "status")) == []
