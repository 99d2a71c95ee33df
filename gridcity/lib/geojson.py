"""GeoJSON reading and checking for area imports. Pure: no database."""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from django.utils.translation import gettext
from shapely.geometry import shape
from shapely.validation import explain_validity, make_valid

from gridcity.lib.coords import CRS, to_wgs84_many

POLYGONAL = ("Polygon", "MultiPolygon")


class GeoJSONError(ValueError):
    pass


@dataclass
class ParsedFeature:
    index: int  # 1-based position in the file, for messages
    properties: dict[str, Any]
    geometry: Any  # shapely geometry in WGS84, valid, polygonal
    warnings: list[str] = field(default_factory=list)


def load_feature_collection(source: str | Path | dict) -> list[dict]:
    if isinstance(source, dict):
        data = source
    else:
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise GeoJSONError(
                gettext("不是有效的 JSON：第%(lineno)s行第%(colno)s列 %(msg)s")
                % {"lineno": exc.lineno, "colno": exc.colno, "msg": exc.msg}
            ) from exc
        except OSError as exc:
            raise GeoJSONError(gettext("无法读取文件：%(exc)s") % {"exc": exc}) from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise GeoJSONError(gettext("文件必须是 GeoJSON FeatureCollection"))
    features = data.get("features")
    if not isinstance(features, list):
        raise GeoJSONError(gettext("FeatureCollection 缺少 features 数组"))
    if not features:
        raise GeoJSONError(gettext("FeatureCollection 为空：没有任何要素"))
    return features


def _to_wgs84(geom, crs: CRS):
    if crs == CRS.WGS84:
        return geom

    def transform(coords: np.ndarray) -> np.ndarray:
        lons, lats = to_wgs84_many(coords[:, 0], coords[:, 1], crs)
        return np.column_stack([lons, lats])

    return shapely.transform(geom, transform)


def polygonal_part(geom):
    """make_valid may return a collection with lines or points: keep the polygons."""
    if geom.geom_type in POLYGONAL:
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type in POLYGONAL]
    if not polys:
        return None
    return shapely.union_all(polys)


def parse_feature(index: int, feature: Any, crs: CRS, label_code: str | None) -> ParsedFeature:
    """Check one feature; raises GeoJSONError naming it when it cannot be used."""
    name = f"第{index}个要素" + (f"（{label_code}）" if label_code else "")
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise GeoJSONError(gettext("%(name)s不是 GeoJSON Feature") % {"name": name})
    raw = feature.get("geometry")
    if not raw:
        raise GeoJSONError(gettext("%(name)s没有几何图形") % {"name": name})
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise GeoJSONError(
            gettext("%(name)s的几何图形无法解析：%(exc)s") % {"name": name, "exc": exc}
        ) from exc
    if geom.geom_type not in POLYGONAL:
        raise GeoJSONError(
            gettext("%(name)s的几何类型是 %(geom_type)s，应为 Polygon 或 MultiPolygon")
            % {"name": name, "geom_type": geom.geom_type}
        )
    if geom.is_empty:
        raise GeoJSONError(gettext("%(name)s的几何图形为空") % {"name": name})
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise GeoJSONError(gettext("%(name)s含有非数值坐标") % {"name": name})
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise GeoJSONError(
            gettext("%(name)s的坐标超出经纬度范围，请确认是否为经纬度（WGS84/GCJ-02/BD-09）")
            % {"name": name}
        )
    warnings = []
    geom = _to_wgs84(geom, crs)
    if not geom.is_valid:
        reason = explain_validity(geom)
        repaired = polygonal_part(make_valid(geom))
        if repaired is None or repaired.is_empty:
            raise GeoJSONError(
                gettext("%(name)s的几何图形无效且无法修复：%(reason)s")
                % {"name": name, "reason": reason}
            )
        warnings.append(f"{name}的几何图形无效（{reason}），已自动修复")
        geom = repaired
    return ParsedFeature(index, feature.get("properties") or {}, geom, warnings)


def geometry_to_geojson(geom) -> dict:
    return json.loads(shapely.to_geojson(geom))


def area_m2(geom) -> float:
    """Area in square metres by a local equirectangular projection: good to ~0.5 % for a
    city-sized polygon, without a projection library."""
    lat0 = geom.centroid.y
    kx = 111_320.0 * math.cos(math.radians(lat0))
    ky = 110_574.0
    scaled = shapely.transform(geom, lambda c: c * np.array([kx, ky]))
    return float(scaled.area)
