"""`gridcity import-areas`: prints what it created, updated and rejected, exits non-zero when it
rejects anything, and imports all or nothing."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from shapely.geometry import Point, box, mapping, shape

from gridcity.grids.actions import locate
from gridcity.grids.models import Area, AreaLevel, GridLayerVersion

DATA = Path(__file__).parent / "data"
# Two real DataV features (GCJ-02): 东城区 is valid, 顺义区 self-intersects.
BEIJING = DATA / "beijing_dongcheng_shunyi_datav.json"
# wandergis/coordtransform test/app.js: WGS84 (116.404, 39.915) is GCJ-02 (116.41024…, 39.91640…).
CT_WGS84 = (116.404, 39.915)
CT_GCJ02 = (116.41024449916938, 39.91640428150164)
# A self-intersecting "bow-tie" ring: its two triangles cross at (120.165, 30.245).
BOW_TIE = {
    "type": "Polygon",
    "coordinates": [
        [[120.16, 30.24], [120.17, 30.25], [120.17, 30.24], [120.16, 30.25], [120.16, 30.24]]
    ],
}

pytestmark = pytest.mark.django_db


def feature(code, name, geometry, **props):
    properties = {"code": code, "name": name, **props}
    if code is None:
        del properties["code"]
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def write(tmp_path: Path, features=None, *, raw: str | None = None, name="areas.geojson") -> str:
    path = tmp_path / name
    if raw is None:
        raw = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    path.write_text(raw, encoding="utf-8")
    return str(path)


def run(path: str, *args: str, level="district") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import-areas",
        path,
        "--level",
        level,
        "--code-field",
        "code",
        "--name-field",
        "name",
        *args,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


def rejected(path: str, *args: str, level="district") -> str:
    """Runs an import that must fail; returns what it wrote to stderr."""
    err = io.StringIO()
    with pytest.raises(CommandError, match="未写入任何数据"):
        call_command(
            "import-areas",
            path,
            "--level",
            level,
            "--code-field",
            "code",
            "--name-field",
            "name",
            *args,
            stdout=io.StringIO(),
            stderr=err,
        )
    return err.getvalue()


SQUARE = mapping(box(120.16, 30.24, 120.17, 30.25))


def test_it_creates_areas_and_says_so(tmp_path):
    out, err = run(write(tmp_path, [feature("330102", "上城区", SQUARE)]))
    assert "新建 1，更新 0，拒绝 0，警告 0" in out
    assert err == ""
    area = Area.objects.get(code="330102")
    assert area.level == AreaLevel.DISTRICT
    assert area.path == "/330102/"
    # 0.01° × 0.01° at 30.245° N is about 962 m × 1,106 m.
    assert area.area_m2 == pytest.approx(1_064_000, rel=0.01)


def test_it_updates_by_code_on_reimport(tmp_path):
    run(write(tmp_path, [feature("330102", "上城区", SQUARE)]))
    version = GridLayerVersion.objects.get(pk=1).version
    bigger = mapping(box(120.16, 30.24, 120.18, 30.25))
    out, _ = run(write(tmp_path, [feature("330102", "上城区（新）", bigger)]))
    assert "新建 0，更新 1，拒绝 0" in out
    assert Area.objects.count() == 1
    area = Area.objects.get(code="330102")
    assert area.name == "上城区（新）"
    assert area.max_lon == pytest.approx(120.18)
    assert GridLayerVersion.objects.get(pk=1).version == version + 1


def test_it_repairs_a_bow_tie_and_names_the_feature(tmp_path):
    out, err = run(write(tmp_path, [feature("330102", "上城区", BOW_TIE)]))
    assert "警告 1" in out
    assert "第1个要素（330102）的几何图形无效" in err
    assert "已自动修复" in err
    geom = shape(Area.objects.get(code="330102").geometry)
    assert geom.is_valid
    assert geom.geom_type == "MultiPolygon"
    assert len(geom.geoms) == 2


def test_it_rejects_a_bow_tie_when_strict(tmp_path):
    path = write(
        tmp_path, [feature("330101", "好区", SQUARE), feature("330102", "上城区", BOW_TIE)]
    )
    err = rejected(path, "--strict")
    assert "拒绝：第2个要素（330102）的几何图形无效" in err
    assert not Area.objects.exists()


def test_it_repairs_the_real_self_intersecting_shunyi_boundary(tmp_path):
    out, err = run(str(BEIJING), "--code-field", "adcode", "--crs", "gcj02")
    assert "新建 2，更新 0，拒绝 0，警告 1" in out
    assert "第2个要素（110113）的几何图形无效（Self-intersection" in err
    assert all(shape(a.geometry).is_valid for a in Area.objects.all())
    # DataV is GCJ-02: after conversion the WGS84 point of the published pair is in 东城区.
    dongcheng = shape(Area.objects.get(code="110101").geometry)
    assert dongcheng.contains(Point(*CT_WGS84))


def test_it_rejects_a_feature_without_geometry_and_imports_nothing(tmp_path):
    path = write(tmp_path, [feature("330101", "好区", SQUARE), feature("330102", "上城区", None)])
    err = rejected(path)
    assert "拒绝：第2个要素（330102）没有几何图形" in err
    assert not Area.objects.exists()


def test_it_rejects_a_feature_without_code_and_imports_nothing(tmp_path):
    path = write(tmp_path, [feature("330101", "好区", SQUARE), feature(None, "无名区", SQUARE)])
    err = rejected(path)
    assert "拒绝：第2个要素缺少编码字段 code" in err
    assert not Area.objects.exists()


def test_it_lists_every_bad_feature_at_once(tmp_path):
    path = write(
        tmp_path,
        [
            feature("330101", "", SQUARE),
            feature("330102", "上城区", {"type": "Point", "coordinates": [120.1, 30.2]}),
            feature("330102", "重复", SQUARE),
            feature("330103", "投影坐标", mapping(box(500000, 3340000, 501000, 3341000))),
        ],
    )
    err = rejected(path)
    assert "第1个要素（330101）缺少名称字段 name" in err
    assert "第2个要素（330102）的几何类型是 Point" in err
    assert "第3个要素（330102）的编码与第2个要素重复" in err
    assert "第4个要素（330103）的坐标超出经纬度范围" in err
    assert not Area.objects.exists()


def test_it_rejects_an_empty_feature_collection(tmp_path):
    err = rejected(write(tmp_path, []))
    assert "FeatureCollection 为空" in err


def test_it_rejects_malformed_json(tmp_path):
    err = rejected(write(tmp_path, raw='{"type": "FeatureCollection", "features": [}'))
    assert "不是有效的 JSON：第1行" in err


def test_it_rejects_something_that_is_not_a_feature_collection(tmp_path):
    err = rejected(write(tmp_path, raw=json.dumps(feature("330102", "上城区", SQUARE))))
    assert "必须是 GeoJSON FeatureCollection" in err


def test_it_rejects_a_missing_file(tmp_path):
    err = rejected(str(tmp_path / "nope.geojson"))
    assert "无法读取文件" in err


def test_it_converts_gcj02_so_a_wgs84_point_lands_in_the_right_cell(tmp_path):
    lon, lat = CT_GCJ02
    # A ~90 m square drawn on a GCJ-02 map around the published point.
    cell = mapping(box(lon - 0.0005, lat - 0.0004, lon + 0.0005, lat + 0.0004))
    path = write(tmp_path, [feature("110101001001001", "天安门网格", cell)])
    run(path, "--crs", "gcj02", level="cell")
    assert locate(*CT_WGS84).cell_code == "110101001001001"
    # Read as WGS84 the same square lies ~600 m off and misses the point.
    run(path, level="cell")
    assert not locate(*CT_WGS84).located


def test_it_finds_the_parent_by_containment_or_by_field(tmp_path):
    run(write(tmp_path, [feature("330102", "上城区", SQUARE)]))
    west = mapping(box(120.16, 30.24, 120.165, 30.25))
    run(write(tmp_path, [feature("330102001", "湖滨街道", west)], name="s.geojson"), level="street")
    assert Area.objects.get(code="330102001").path == "/330102/330102001/"
    east = mapping(box(120.165, 30.24, 120.17, 30.25))
    path = write(tmp_path, [feature("330102002", "清波街道", east, p="330102")], name="e.geojson")
    run(path, "--parent-field", "p", level="street")
    assert Area.objects.get(code="330102002").parent.code == "330102"


def test_it_rejects_an_unknown_parent(tmp_path):
    path = write(tmp_path, [feature("330102001", "湖滨街道", SQUARE, p="999999")])
    err = rejected(path, "--parent-field", "p", level="street")
    assert "要素（330102001）的上级区域 999999 不存在" in err
    assert not Area.objects.exists()


def test_a_field_no_feature_has_is_reported_once_with_the_fields_there_are(tmp_path):
    # Real files name their fields their own way: here every feature has NAME and GEOID.
    features = [
        {
            "type": "Feature",
            "properties": {"GEOID": f"25025{i:04d}", "NAME": f"Tract {i}"},
            "geometry": SQUARE,
        }
        for i in range(71)
    ]
    err = rejected(write(tmp_path, features))
    lines = [ln for ln in err.splitlines() if ln.startswith("拒绝：")]
    assert len(lines) == 1
    assert "文件中没有字段 --code-field code、--name-field name" in lines[0]
    assert "71个要素都没有" in lines[0]
    assert "文件中的字段有：GEOID、NAME" in lines[0]
    assert not Area.objects.exists()


def test_a_missing_parent_field_is_named_by_its_option(tmp_path):
    err = rejected(
        write(tmp_path, [feature("330102001", "湖滨街道", SQUARE)]),
        "--parent-field",
        "district",
        level="street",
    )
    assert "文件中没有字段 --parent-field district" in err
    assert "文件中的字段有：code、name" in err
