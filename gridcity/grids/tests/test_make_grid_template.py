"""`gridcity make-grid --code-template`: a city that does not use GB/T codes cuts its grid from
whatever level its area tree has, names the cells by its own scheme, and gets as many cells as
the size asks for."""

import io
import math

import pytest
from django.core.management import CommandError, call_command
from shapely.geometry import box, mapping, shape

from gridcity.grids.actions import import_areas, locate, metres_to_degrees
from gridcity.grids.models import Area, AreaLevel

pytestmark = pytest.mark.django_db

# A box in Boston, about 4.1 km × 3.3 km: at 100 m it makes 42 × 30 squares.
W, S = -71.10, 42.33
E, N = W + 0.05, S + 0.03


def fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def feature(code, name, geom, parent=None):
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "parent": parent},
        "geometry": mapping(geom),
    }


def import_level(level, *features):
    import_areas(
        fc(*features),
        level=level,
        code_field="code",
        name_field="name",
        parent_field="parent",
    )


def run(code: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("make-grid", code, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(code: str, *args: str) -> str:
    """Runs a make-grid that must fail; returns the message and stderr together."""
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("make-grid", code, *args, stdout=io.StringIO(), stderr=err)
    return f"{exc.value}\n{err.getvalue()}"


def cells() -> list[Area]:
    return list(Area.objects.filter(level=AreaLevel.CELL, is_active=True).order_by("code"))


def test_it_cuts_a_city_without_communities_into_more_than_999_cells():
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, E, N)))
    out, err = run("BOS", "--cell-size", "100", "--code-template", "BOS{seq:05d}")
    made = cells()
    assert len(made) > 999
    assert f"新建 {len(made)}，更新 0，拒绝 0" in out
    assert err == ""
    assert [c.code for c in made] == [f"BOS{i:05d}" for i in range(1, len(made) + 1)]
    assert all(c.parent.code == "BOS" and c.path == f"/BOS/{c.code}/" for c in made)
    # Cells cover the city exactly, and a point in it is located in one of them.
    assert sum(c.area_m2 for c in made) == pytest.approx(
        Area.objects.get(code="BOS").area_m2, rel=0.001
    )
    assert locate(W + 0.0001, N - 0.0001).cell_code == "BOS00001"


def test_row_and_column_count_from_the_north_west_corner():
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, E, N)))
    run("BOS", "--cell-size", "100", "--code-template", "BOS-{row:03d}-{col:03d}")
    by_code = {c.code: c for c in cells()}
    dlon, dlat = metres_to_degrees(100, (S + N) / 2)
    rows, cols = math.ceil((N - S) / dlat), math.ceil((E - W) / dlon)
    assert (rows, cols) == (34, 42)
    # Every row and column is there; only a corner crumb may have gone into a neighbour.
    assert set(by_code) <= {f"BOS-{r:03d}-{c:03d}" for r in range(1, 35) for c in range(1, 43)}
    assert len(by_code) >= rows * cols - 1
    north_west, next_east, next_south = (
        by_code["BOS-001-001"],
        by_code["BOS-001-002"],
        by_code["BOS-002-001"],
    )
    assert next_east.centroid_lon > north_west.centroid_lon
    assert next_east.centroid_lat == pytest.approx(north_west.centroid_lat)
    assert next_south.centroid_lat < north_west.centroid_lat
    # The middle of the square in row 2, column 3.
    assert locate(W + 2.5 * dlon, N - 1.5 * dlat).cell_code == "BOS-002-003"


def test_it_cuts_each_community_and_parent_keeps_codes_apart():
    whole = box(W, S, E, N)
    west, east = box(W, S, W + 0.02, N), box(W + 0.02, S, E, N)
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", whole))
    import_level(
        AreaLevel.COMMUNITY,
        feature("ALLSTON", "Allston", west, "BOS"),
        feature("BACKBAY", "Back Bay", east, "BOS"),
    )
    run("BOS", "--cell-size", "500", "--code-template", "{parent}-{seq:03d}")
    made = cells()
    allston = [c for c in made if c.parent.code == "ALLSTON"]
    back_bay = [c for c in made if c.parent.code == "BACKBAY"]
    assert allston and back_bay and len(allston) + len(back_bay) == len(made)
    # With {parent}, each community numbers its own cells from 1.
    assert allston[0].code == "ALLSTON-001" and back_bay[0].code == "BACKBAY-001"
    assert all(c.path == f"/BOS/BACKBAY/{c.code}/" for c in back_bay)


def test_a_sequence_without_parent_runs_across_the_whole_city():
    west, east = box(W, S, W + 0.02, N), box(W + 0.02, S, E, N)
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, E, N)))
    import_level(
        AreaLevel.STREET,
        feature("ALLSTON", "Allston", west, "BOS"),
        feature("BACKBAY", "Back Bay", east, "BOS"),
    )
    run("BOS", "--cell-size", "500", "--code-template", "C{seq:04d}")
    made = cells()
    assert [c.code for c in made] == [f"C{i:04d}" for i in range(1, len(made) + 1)]
    assert {c.parent.code for c in made} == {"ALLSTON", "BACKBAY"}


def test_row_and_column_alone_clash_across_areas_and_it_says_how_to_fix_it():
    west, east = box(W, S, W + 0.02, N), box(W + 0.02, S, E, N)
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, E, N)))
    import_level(
        AreaLevel.COMMUNITY,
        feature("ALLSTON", "Allston", west, "BOS"),
        feature("BACKBAY", "Back Bay", east, "BOS"),
    )
    message = refused("BOS", "--cell-size", "500", "--code-template", "R{row}C{col}")
    assert "生成了相同的编码 R1C1" in message
    assert "{parent}" in message
    assert not Area.objects.filter(level=AreaLevel.CELL).exists()


def test_a_community_without_a_12_digit_code_works_with_a_template():
    import_level(AreaLevel.COMMUNITY, feature("HB01", "湖滨社区", box(W, S, W + 0.004, S + 0.003)))
    assert "不是12位数字" in refused("HB01")
    assert "--code-template" in refused("HB01")
    out, _ = run("HB01", "--code-template", "HB01-{seq:03d}")
    assert "新建 " in out
    assert cells()[0].code == "HB01-001"


def test_a_district_without_communities_is_told_about_the_template():
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, E, N)))
    message = refused("BOS")
    assert "下没有社区" in message
    assert "--code-template" in message


def test_a_rerun_updates_and_a_coarser_one_deactivates():
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, W + 0.01, S + 0.01)))
    run("BOS", "--cell-size", "200", "--code-template", "B{seq:04d}")
    ids = {c.code: c.pk for c in cells()}
    out, _ = run("BOS", "--cell-size", "200", "--code-template", "B{seq:04d}")
    assert f"新建 0，更新 {len(ids)}，拒绝 0" in out
    assert {c.code: c.pk for c in cells()} == ids
    out, err = run("BOS", "--cell-size", "500", "--code-template", "B{seq:04d}")
    assert "新建 0，更新 6" in out
    assert f"网格 B{len(ids):04d} 不再需要，已停用" in err
    assert len(cells()) == 6


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("BOS-{block}", "未知的占位符 {block}"),
        ("BOS-{row:03d}", "须包含 {seq}，或同时包含 {row} 和 {col}"),
        ("BOS-{seq:zz}", "格式说明无效"),
        ("BOS-{seq", "花括号不成对"),
        ("BOS/{seq}", "不能包含“/”或空白字符"),
        ("BOS {seq}", "不能包含“/”或空白字符"),
        ("{seq!r}", "只能带格式说明"),
        ("  ", "模板为空"),
    ],
)
def test_a_bad_template_is_refused_naming_the_option(template, reason):
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, W + 0.01, S + 0.01)))
    message = refused("BOS", "--code-template", template)
    assert "--code-template 无效" in message
    assert reason in message
    assert not Area.objects.filter(level=AreaLevel.CELL).exists()


def test_codes_longer_than_a_code_may_be_are_refused():
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, W + 0.01, S + 0.01)))
    message = refused("BOS", "--code-template", "BOSTON-MASSACHUSETTS-CITY-GRID-{seq:05d}")
    assert "超过32个字符" in message
    assert not Area.objects.filter(level=AreaLevel.CELL).exists()


def test_a_code_already_used_by_another_area_is_refused():
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, W + 0.01, S + 0.01)))
    import_level(AreaLevel.DISTRICT, feature("X0001", "Cambridge", box(W - 0.02, S, W - 0.01, N)))
    message = refused("BOS", "--cell-size", "500", "--code-template", "X{seq:04d}")
    assert "编码 X0001 已被区 Cambridge 使用" in message
    assert not Area.objects.filter(level=AreaLevel.CELL).exists()
    assert shape(Area.objects.get(code="X0001").geometry).area > 0


def test_a_template_grid_replaces_every_cell_below_the_area():
    west, east = box(W, S, W + 0.005, S + 0.005), box(W + 0.005, S, W + 0.01, S + 0.005)
    import_level(AreaLevel.DISTRICT, feature("BOS", "Boston", box(W, S, W + 0.01, S + 0.005)))
    run("BOS", "--cell-size", "250", "--code-template", "B{seq:04d}")
    first = {c.code for c in cells()}
    assert first and all(c.parent.code == "BOS" for c in cells())
    # The city later imports its neighbourhoods and cuts them instead.
    import_level(
        AreaLevel.COMMUNITY,
        feature("ALLSTON", "Allston", west, "BOS"),
        feature("BACKBAY", "Back Bay", east, "BOS"),
    )
    out, err = run("BOS", "--cell-size", "250", "--code-template", "{parent}-{seq:03d}")
    assert "更新 0" in out
    assert all(f"网格 {code} 不再需要，已停用" in err for code in first)
    assert {c.parent.code for c in cells()} == {"ALLSTON", "BACKBAY"}
