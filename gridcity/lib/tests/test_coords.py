"""Coordinate conversions checked against pairs published by widely used libraries."""

import math
from decimal import Decimal

import numpy as np
import pytest

from gridcity.lib.coords import (
    CRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    from_wgs84_many,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    to_wgs84_many,
    validate_lonlat,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# wandergis/coordtransform, test/app.js: every conversion applied to (116.404, 39.915), the
# results quoted in its "//result" comment (also asserted by hutool's CoordinateUtilTest).
# Its gcj02towgs84 is the one-step approximation, so that value is only close to ours.
CT_INPUT = (116.404, 39.915)
CT_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
CT_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
CT_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)
CT_GCJ02_TO_WGS84_APPROX = (116.39775550083061, 39.91359571849836)

# googollee/eviltransform, python/test.py TESTS (given there as lat, lng; here lon, lat).
EVIL_WGS84_GCJ02 = [
    ("上海", (121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ("深圳", (113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ("北京", (116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
]

# hujiulong/gcoord, test/fixtures/china-cities.json: the same city centre in WGS84, GCJ-02 and
# BD-09, rounded to 7 decimals by the fixture; gcoord's own tests allow 1e-5.
GCOORD_CITIES = [
    ("驻马店市", (114.0164322, 33.0133556), (114.022306, 33.0115324), (114.0287781, 33.0176697)),
    ("郑州市", (113.6192856, 34.7478004), (113.6253334, 34.7466173), (113.6317519, 34.7528605)),
    ("沈阳市", (123.4253306, 41.8032629), (123.4314787, 41.8057023), (123.438095, 41.8114013)),
]


def close(actual: tuple[float, float], expected: tuple[float, float], tol: float) -> bool:
    return abs(actual[0] - expected[0]) <= tol and abs(actual[1] - expected[1]) <= tol


# -- published reference points ---------------------------------------------------------------


def test_it_matches_coordtransform_for_the_forward_formulas() -> None:
    assert close(wgs84_to_gcj02(*CT_INPUT), CT_WGS84_TO_GCJ02, 1e-9)
    assert close(gcj02_to_bd09(*CT_INPUT), CT_GCJ02_TO_BD09, 1e-9)
    assert close(bd09_to_gcj02(*CT_INPUT), CT_BD09_TO_GCJ02, 1e-9)


def test_it_inverts_gcj02_more_precisely_than_the_one_step_approximation() -> None:
    ours = gcj02_to_wgs84(*CT_INPUT)
    assert close(ours, CT_GCJ02_TO_WGS84_APPROX, 1e-5)
    assert close(wgs84_to_gcj02(*ours), CT_INPUT, 1e-7)
    approx_back = wgs84_to_gcj02(*CT_GCJ02_TO_WGS84_APPROX)
    assert not close(approx_back, CT_INPUT, 1e-7)  # the approximation misses by ~5e-7


@pytest.mark.parametrize(("city", "wgs", "gcj"), EVIL_WGS84_GCJ02)
def test_it_matches_eviltransform(
    city: str, wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    assert close(wgs84_to_gcj02(*wgs), gcj, 1e-9), city
    assert close(gcj02_to_wgs84(*gcj), wgs, 1e-6), city


@pytest.mark.parametrize(("city", "wgs", "gcj", "bd"), GCOORD_CITIES)
def test_it_matches_gcoords_city_fixtures(
    city: str, wgs: tuple[float, float], gcj: tuple[float, float], bd: tuple[float, float]
) -> None:
    assert close(wgs84_to_gcj02(*wgs), gcj, 1e-5), city
    assert close(gcj02_to_wgs84(*gcj), wgs, 1e-5), city
    assert close(gcj02_to_bd09(*gcj), bd, 1e-5), city
    assert close(bd09_to_gcj02(*bd), gcj, 1e-5), city
    assert close(bd09_to_wgs84(*bd), wgs, 1e-5), city
    assert close(wgs84_to_bd09(*wgs), bd, 1e-5), city
    assert close(to_wgs84(*bd, CRS.BD09), wgs, 1e-5), city
    assert close(to_wgs84(*gcj, "gcj02"), wgs, 1e-5), city


# -- round trips and the China box -----------------------------------------------------------


@pytest.mark.parametrize(
    "point", [CT_INPUT, (121.4737, 31.2304), (87.6168, 43.8256), (109.5120, 18.2528)]
)
def test_it_round_trips_gcj02_through_wgs84(point: tuple[float, float]) -> None:
    assert close(wgs84_to_gcj02(*gcj02_to_wgs84(*point)), point, 1e-6)
    assert close(bd09_to_gcj02(*gcj02_to_bd09(*point)), point, 1e-5)


@pytest.mark.parametrize(
    "point", [(2.3522, 48.8566), (-74.006, 40.7128), (139.6917, 35.6895), (0.0, 0.0)]
)
def test_it_leaves_points_outside_china_alone(point: tuple[float, float]) -> None:
    assert out_of_china(*point)
    for convert in (
        wgs84_to_gcj02,
        gcj02_to_wgs84,
        gcj02_to_bd09,
        bd09_to_gcj02,
        bd09_to_wgs84,
        wgs84_to_bd09,
    ):
        assert convert(*point) == point
    for crs in CRS:
        assert to_wgs84(*point, crs) == point
        assert from_wgs84(*point, crs) == point


def test_it_stores_wgs84_as_given() -> None:
    assert to_wgs84(116.404, 39.915, CRS.WGS84) == (116.404, 39.915)
    assert to_wgs84(116, 40, "wgs84") == (116.0, 40.0)
    with pytest.raises(ValueError):
        to_wgs84(116.404, 39.915, "cgcs2000")


def test_from_wgs84_undoes_to_wgs84() -> None:
    # The published BD-09 -> GCJ-02 formula is itself approximate (about 1e-6 degree, 10 cm),
    # so the Baidu round trip is only as good as that.
    for crs, tol in ((CRS.WGS84, 0.0), (CRS.GCJ02, 1e-6), (CRS.BD09, 1e-5)):
        there = from_wgs84(116.404, 39.915, crs)
        assert close(to_wgs84(*there, crs), (116.404, 39.915), tol)


# -- vectorised -------------------------------------------------------------------------------


def sample_points() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2026)
    lons = np.concatenate([rng.uniform(73.0, 135.0, 500), [2.3522, -74.006, 180.0, 72.004]])
    lats = np.concatenate([rng.uniform(3.0, 53.0, 500), [48.8566, 40.7128, -90.0, 0.8293]])
    return lons, lats


@pytest.mark.parametrize("crs", list(CRS))
def test_the_vectorised_version_gives_the_scalar_answers(crs: CRS) -> None:
    lons, lats = sample_points()
    got_lons, got_lats = to_wgs84_many(lons, lats, crs)
    expected = np.array(
        [to_wgs84(float(x), float(y), crs) for x, y in zip(lons, lats, strict=True)]
    )
    np.testing.assert_allclose(got_lons, expected[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_lats, expected[:, 1], rtol=0, atol=1e-9)

    back_lons, back_lats = from_wgs84_many(lons, lats, crs)
    expected = np.array(
        [from_wgs84(float(x), float(y), crs) for x, y in zip(lons, lats, strict=True)]
    )
    np.testing.assert_allclose(back_lons, expected[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(back_lats, expected[:, 1], rtol=0, atol=1e-9)


def test_the_vectorised_version_keeps_shape_and_does_not_touch_its_input() -> None:
    lons = np.array([[116.404, 121.4737], [2.3522, 113.6253334]])
    lats = np.array([[39.915, 31.2304], [48.8566, 34.7466173]])
    before = lons.copy(), lats.copy()
    got_lons, got_lats = to_wgs84_many(lons, lats, CRS.GCJ02)
    assert got_lons.shape == (2, 2)
    assert (got_lons[1, 0], got_lats[1, 0]) == (2.3522, 48.8566)
    assert close((got_lons[1, 1], got_lats[1, 1]), GCOORD_CITIES[1][1], 1e-5)
    np.testing.assert_array_equal(lons, before[0])
    np.testing.assert_array_equal(lats, before[1])
    assert to_wgs84_many([], [], CRS.BD09)[0].shape == (0,)


@pytest.mark.parametrize(
    ("lons", "lats", "field"),
    [
        ([116.0, math.nan], [39.0, 39.0], "经度"),
        ([116.0, 116.0], [39.0, 91.0], "纬度"),
        ([181.0], [39.0], "经度"),
        ([116.0], [-math.inf], "纬度"),
        (["东经116度"], [39.0], "经度"),
    ],
)
def test_the_vectorised_version_names_the_bad_field(
    lons: list[object], lats: list[object], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        to_wgs84_many(lons, lats, CRS.WGS84)


def test_the_vectorised_version_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="数量不一致"):
        to_wgs84_many([116.0, 117.0], [39.0], CRS.WGS84)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "field"),
    [
        (math.nan, 39.9, "经度"),
        (116.4, math.nan, "纬度"),
        (math.inf, 39.9, "经度"),
        (116.4, -math.inf, "纬度"),
        (180.0001, 39.9, "经度"),
        (-180.5, 39.9, "经度"),
        (116.4, 90.5, "纬度"),
        (116.4, -91, "纬度"),
        ("116.4", 39.9, "经度"),
        (116.4, None, "纬度"),
        (True, 39.9, "经度"),
    ],
)
def test_it_rejects_a_bad_coordinate_naming_the_field(lon: object, lat: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        validate_lonlat(lon, lat)
    with pytest.raises(ValueError, match=field):
        to_wgs84(lon, lat, CRS.GCJ02)  # type: ignore[arg-type]


def test_it_accepts_the_edges_of_the_globe_and_other_number_types() -> None:
    for lon, lat in [
        (180, 90),
        (-180, -90),
        (0, 0),
        (np.float64(116.4), np.int32(39)),
        (Decimal("116.404"), Decimal("39.915")),
    ]:
        validate_lonlat(lon, lat)
    assert to_wgs84(Decimal("116.404"), Decimal("39.915"), CRS.WGS84) == (116.404, 39.915)
    with pytest.raises(ValueError, match="经度"):
        validate_lonlat(Decimal("NaN"), 39.9)
