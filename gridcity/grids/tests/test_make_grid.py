"""`gridcity make-grid`: 15-digit cells numbered west→east, north→south, of about the size asked
for, and a rerun updates instead of duplicating."""

import io
import math

import pytest
from django.core.management import CommandError, call_command
from shapely.geometry import Polygon, box, mapping, shape

from gridcity.grids.actions import import_areas, metres_to_degrees
from gridcity.grids.models import Area, AreaLevel

pytestmark = pytest.mark.django_db

# About 430 m × 330 m at 30.24° N, deliberately not a multiple of 100 m.
W, S = 120.160, 30.240
E, N = W + 0.0045, S + 0.003


def fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def feature(code, name, geom, parent=None):
    props = {"code": code, "name": name, "parent": parent}
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


def import_tree(community_geom, *, code="330102001001"):
    """A district, a street and one community, through the real importer."""
    whole = box(W - 0.01, S - 0.01, E + 0.01, N + 0.01)
    import_areas(
        fc(feature("330102", "上城区", whole)),
        level=AreaLevel.DISTRICT,
        code_field="code",
        name_field="name",
    )
    import_areas(
        fc(feature("330102001", "湖滨街道", whole, "330102")),
        level=AreaLevel.STREET,
        code_field="code",
        name_field="name",
        parent_field="parent",
    )
    import_areas(
        fc(feature(code, "湖滨社区", community_geom, "330102001")),
        level=AreaLevel.COMMUNITY,
        code_field="code",
        name_field="name",
        parent_field="parent",
    )
    return Area.objects.get(code=code)


def run(code: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("make-grid", code, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def cells(community: Area) -> list[Area]:
    return list(Area.objects.filter(parent=community, level=AreaLevel.CELL).order_by("code"))


def test_it_codes_cells_community_code_plus_sequence():
    community = import_tree(box(W, S, E, N))
    out, _ = run(community.code, "--cell-size", "100")
    made = cells(community)
    # ceil(433 m / 100) × ceil(332 m / 100) squares.
    assert len(made) == 5 * 4
    assert f"新建 {len(made)}，更新 0，拒绝 0" in out
    assert [c.code for c in made] == [f"330102001001{i:03d}" for i in range(1, 21)]
    assert all(len(c.code) == 15 and c.code.isdigit() for c in made)
    assert all(c.path == f"/330102/330102001/330102001001/{c.code}/" for c in made)


def test_it_numbers_west_to_east_then_north_to_south():
    community = import_tree(box(W, S, E, N))
    run(community.code, "--cell-size", "100")
    first_row = cells(community)[:5]
    lats = [c.centroid_lat for c in first_row]
    lons = [c.centroid_lon for c in first_row]
    # 001–005 form the northernmost row, west to east; 006 starts the next row in the west.
    assert max(lats) - min(lats) < 1e-9
    assert lons == sorted(lons)
    assert first_row[0].centroid_lat == max(c.centroid_lat for c in cells(community))
    sixth = cells(community)[5]
    assert sixth.centroid_lat < first_row[0].centroid_lat
    assert sixth.centroid_lon == pytest.approx(first_row[0].centroid_lon)


def test_it_numbers_cut_pieces_by_the_square_they_come_from():
    # A trapezoid: its sloping east edge cuts the squares of each row to different heights,
    # so the pieces of one row have different centroids.
    community = import_tree(Polygon([(W, S), (E, S), (W + 0.003, N), (W, N)]))
    run(community.code, "--cell-size", "100")
    made = cells(community)
    minx, _, _, maxy = shape(community.geometry).bounds
    dlon, dlat = metres_to_degrees(100, (S + N) / 2)

    def square(cell: Area) -> tuple[int, int]:
        point = shape(cell.geometry).representative_point()
        return math.floor((maxy - point.y) / dlat), math.floor((point.x - minx) / dlon)

    # Pieces that absorbed a boundary crumb span two squares and keep their own square's number;
    # every other piece must be numbered row by row from the north, west to east.
    def single_square(cell: Area) -> bool:
        x0, y0, x1, y1 = shape(cell.geometry).bounds
        return y1 - y0 <= dlat * 1.001 and x1 - x0 <= dlon * 1.001

    positions = [square(c) for c in made if single_square(c)]
    assert len(positions) >= len(made) - 2
    assert positions == sorted(positions), positions


def test_interior_cells_are_the_size_asked_for():
    community = import_tree(box(W, S, E, N))
    run(community.code, "--cell-size", "100")
    boundary = shape(community.geometry).boundary
    interior = [c for c in cells(community) if not shape(c.geometry).intersects(boundary)]
    assert len(interior) >= 6
    for c in interior:
        assert c.area_m2 == pytest.approx(10_000, rel=0.2), c.code
    # The whole community is covered, nothing more.
    total = sum(c.area_m2 for c in cells(community))
    assert total == pytest.approx(community.area_m2, rel=0.001)


def test_a_rerun_updates_instead_of_duplicating():
    community = import_tree(box(W, S, E, N))
    run(community.code, "--cell-size", "100")
    ids = {c.code: c.pk for c in cells(community)}
    out, _ = run(community.code, "--cell-size", "100")
    assert f"新建 0，更新 {len(ids)}，拒绝 0" in out
    assert {c.code: c.pk for c in cells(community)} == ids


def test_a_coarser_rerun_deactivates_cells_no_longer_needed():
    community = import_tree(box(W, S, E, N))
    run(community.code, "--cell-size", "100")
    out, err = run(community.code, "--cell-size", "200")
    assert "新建 0，更新 6" in out
    assert "网格 330102001001020 不再需要，已停用" in err
    active = Area.objects.filter(level=AreaLevel.CELL, is_active=True)
    assert active.count() == 6


def test_it_cuts_a_district_community_by_community():
    community = import_tree(box(W, S, E, N))
    run("330102", "--cell-size", "100")
    assert Area.objects.filter(level=AreaLevel.CELL).count() == 20
    assert all(c.code.startswith(community.code) for c in cells(community))


def test_it_refuses_more_than_999_cells_in_a_community():
    community = import_tree(box(W, S, E, N))
    err = io.StringIO()
    with pytest.raises(CommandError, match="未写入任何数据"):
        call_command("make-grid", community.code, "--cell-size", "10", stderr=err)
    assert "超过3位顺序码上限999" in err.getvalue()
    assert not Area.objects.filter(level=AreaLevel.CELL).exists()


def test_it_refuses_a_community_code_that_is_not_12_digits():
    community = import_tree(box(W, S, E, N), code="HB01")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("make-grid", community.code, stderr=err)
    assert "编码 HB01 不是12位数字" in err.getvalue()


def test_it_refuses_an_unknown_area_and_a_silly_size():
    import_tree(box(W, S, E, N))
    with pytest.raises(CommandError, match="区域 999 不存在"):
        call_command("make-grid", "999")
    with pytest.raises(CommandError, match="10 到 5000 米"):
        call_command("make-grid", "330102001001", "--cell-size", "1")
