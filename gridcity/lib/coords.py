"""Conversions between the three coordinate systems phones in China report (DOMAIN.md §2).

GPS gives WGS84; AMap and Tencent give GCJ-02 (the state's obfuscated "Mars" datum); Baidu gives
BD-09, a further offset of GCJ-02. GridCity stores WGS84, so intake converts with ``to_wgs84``.

The GCJ-02 formula is the one every public implementation carries (Krasovsky 1940 ellipsoid,
a = 6378245 m); it has no closed-form inverse, so ``gcj02_to_wgs84`` iterates the forward
transform until it reproduces the input to 1e-7 degree (about 1 cm) instead of the common
one-step approximation, which is off by up to a few metres.

Points outside the rough China bounding box are returned unchanged by every conversion,
including the BD-09 step: Baidu serves WGS84 outside China. (coordtransform and gcoord apply the
box to the WGS84/GCJ-02 step only; eviltransform applies it to every step, as here.)
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import StrEnum
from numbers import Real

import numpy as np
import numpy.typing as npt

__all__ = [
    "CRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "from_wgs84_many",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "to_wgs84",
    "to_wgs84_many",
    "validate_lonlat",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = npt.NDArray[np.float64]


class CRS(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid, as GCJ-02 uses
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_TOLERANCE = 1e-7  # degrees, about 1 cm
_MAX_ITERATIONS = 30  # converges in 3–5 in practice; the cap only guards against a bug


def out_of_china(lon: float, lat: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


# -- scalar -----------------------------------------------------------------------------------


def _gcj_delta(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    sqrt_abs_x = math.sqrt(abs(x))
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    d_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (
        (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    d_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lon += (
        (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    if out_of_china(lon, lat):
        return lon, lat
    d_lon, d_lat = _gcj_delta(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    if out_of_china(lon, lat):
        return lon, lat
    w_lon, w_lat = lon, lat
    for _ in range(_MAX_ITERATIONS):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = g_lon - lon, g_lat - lat
        if abs(e_lon) < _TOLERANCE and abs(e_lat) < _TOLERANCE:
            break
        w_lon -= e_lon
        w_lat -= e_lat
    return w_lon, w_lat


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    if out_of_china(lon, lat):
        return lon, lat
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    if out_of_china(lon, lat):
        return lon, lat
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def to_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    """Validate a point reported in ``crs`` and convert it to WGS84 for storage."""
    validate_lonlat(lon, lat)
    lon, lat = float(lon), float(lat)
    crs = CRS(crs)
    if crs is CRS.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if crs is CRS.BD09:
        return bd09_to_wgs84(lon, lat)
    return lon, lat


def from_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    """A stored WGS84 point in ``crs``, for drawing on an AMap (GCJ-02) or Baidu (BD-09) map."""
    validate_lonlat(lon, lat)
    lon, lat = float(lon), float(lat)
    crs = CRS(crs)
    if crs is CRS.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if crs is CRS.BD09:
        return wgs84_to_bd09(lon, lat)
    return lon, lat


# -- validation -------------------------------------------------------------------------------


def _validate_one(value: object, name: str, limit: float) -> None:
    # Decimal is accepted because a Django DecimalField or a JSON parser may hand one over.
    if isinstance(value, bool) or not isinstance(value, Real | Decimal):
        raise ValueError(f"{name}必须是数字，收到：{value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name}必须是有限数字，收到：{value!r}")
    if not -limit <= number <= limit:
        raise ValueError(f"{name}超出范围 [-{limit:g}, {limit:g}]：{value!r}")


def validate_lonlat(lon: object, lat: object) -> None:
    """Raise ValueError naming 经度 or 纬度 for a value that is not a usable coordinate."""
    _validate_one(lon, "经度", 180.0)
    _validate_one(lat, "纬度", 90.0)


def _validate_many(lons: FloatArray, lats: FloatArray) -> None:
    if lons.shape != lats.shape:
        raise ValueError(f"经度与纬度的数量不一致：{lons.shape} 对 {lats.shape}")
    for values, name, limit in ((lons, "经度", 180.0), (lats, "纬度", 90.0)):
        bad = ~np.isfinite(values) | (np.abs(values) > limit)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"第 {index} 个{name}无效（须为 [-{limit:g}, {limit:g}] 内的有限数字）："
                f"{values.flat[index]!r}"
            )


def _as_float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}必须是数字数组") from exc


# -- vectorised -------------------------------------------------------------------------------


def _out_of_china_many(lons: FloatArray, lats: FloatArray) -> npt.NDArray[np.bool_]:
    return ~((lons >= 72.004) & (lons <= 137.8347) & (lats >= 0.8293) & (lats <= 55.8271))


def _gcj_delta_many(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    pi = np.pi
    x, y = lons - 105.0, lats - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    d_lat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    d_lon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lats / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    return d_lon, d_lat


def _wgs84_to_gcj02_many(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    d_lon, d_lat = _gcj_delta_many(lons, lats)
    outside = _out_of_china_many(lons, lats)
    return np.where(outside, lons, lons + d_lon), np.where(outside, lats, lats + d_lat)


def _gcj02_to_wgs84_many(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    outside = _out_of_china_many(lons, lats)
    w_lon, w_lat = lons.copy(), lats.copy()
    # Iterate only the points still off by more than the tolerance, so each point stops at the
    # same step as it would in the scalar loop and both give identical answers.
    active = ~outside
    for _ in range(_MAX_ITERATIONS):
        if not active.any():
            break
        g_lon, g_lat = _wgs84_to_gcj02_many(w_lon[active], w_lat[active])
        e_lon, e_lat = g_lon - lons[active], g_lat - lats[active]
        moving = (np.abs(e_lon) >= _TOLERANCE) | (np.abs(e_lat) >= _TOLERANCE)
        index = np.flatnonzero(active)[moving]
        w_lon[index] -= e_lon[moving]
        w_lat[index] -= e_lat[moving]
        active[:] = False
        active[index] = True
    return w_lon, w_lat


def _gcj02_to_bd09_many(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.hypot(lons, lats) + 0.00002 * np.sin(lats * _X_PI)
    theta = np.arctan2(lats, lons) + 0.000003 * np.cos(lons * _X_PI)
    outside = _out_of_china_many(lons, lats)
    return (
        np.where(outside, lons, z * np.cos(theta) + 0.0065),
        np.where(outside, lats, z * np.sin(theta) + 0.006),
    )


def _bd09_to_gcj02_many(lons: FloatArray, lats: FloatArray) -> tuple[FloatArray, FloatArray]:
    x, y = lons - 0.0065, lats - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    outside = _out_of_china_many(lons, lats)
    return np.where(outside, lons, z * np.cos(theta)), np.where(outside, lats, z * np.sin(theta))


def to_wgs84_many(
    lons: npt.ArrayLike, lats: npt.ArrayLike, crs: CRS | str
) -> tuple[FloatArray, FloatArray]:
    """``to_wgs84`` for whole arrays (an import of a component census, a GPS track).

    Returns new float64 arrays of the input's shape; raises ValueError naming the first bad
    经度/纬度 and its flat index.
    """
    lon_arr = _as_float_array(lons, "经度")
    lat_arr = _as_float_array(lats, "纬度")
    _validate_many(lon_arr, lat_arr)
    shape = lon_arr.shape
    lon_arr, lat_arr = lon_arr.ravel(), lat_arr.ravel()
    crs = CRS(crs)
    if crs is CRS.BD09:
        lon_arr, lat_arr = _bd09_to_gcj02_many(lon_arr, lat_arr)
        crs = CRS.GCJ02
    if crs is CRS.GCJ02:
        lon_arr, lat_arr = _gcj02_to_wgs84_many(lon_arr, lat_arr)
    else:
        lon_arr, lat_arr = lon_arr.copy(), lat_arr.copy()
    return lon_arr.reshape(shape), lat_arr.reshape(shape)


def from_wgs84_many(
    lons: npt.ArrayLike, lats: npt.ArrayLike, crs: CRS | str
) -> tuple[FloatArray, FloatArray]:
    """``from_wgs84`` for whole arrays."""
    lon_arr = _as_float_array(lons, "经度")
    lat_arr = _as_float_array(lats, "纬度")
    _validate_many(lon_arr, lat_arr)
    shape = lon_arr.shape
    lon_arr, lat_arr = lon_arr.ravel().copy(), lat_arr.ravel().copy()
    crs = CRS(crs)
    if crs in (CRS.GCJ02, CRS.BD09):
        lon_arr, lat_arr = _wgs84_to_gcj02_many(lon_arr, lat_arr)
    if crs is CRS.BD09:
        lon_arr, lat_arr = _gcj02_to_bd09_many(lon_arr, lat_arr)
    return lon_arr.reshape(shape), lat_arr.reshape(shape)
