"""Operations on the area tree: imports, cutting cells, beats, locating a point."""

import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.db import transaction
from django.db.models import F
from shapely.geometry import shape

from gridcity.grids.models import Area, AreaLevel, Beat, GridLayerVersion
from gridcity.grids.spatial import forget_index, get_index
from gridcity.lib.coords import CRS
from gridcity.lib.geojson import (
    GeoJSONError,
    area_m2,
    geometry_to_geojson,
    load_feature_collection,
    parse_feature,
)


class ImportRejected(Exception):
    """Nothing was imported; `errors` says why, feature by feature."""

    def __init__(self, errors: list[str], warnings: list[str] | None = None) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.warnings = warnings or []


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def bump_layer_version() -> None:
    transaction.on_commit(forget_index)
    forget_index()
    token = uuid.uuid4().hex
    updated = GridLayerVersion.objects.filter(pk=1).update(version=F("version") + 1, token=token)
    if not updated:
        GridLayerVersion.objects.create(pk=1, version=1, token=token)


def _geometry_fields(geom) -> dict[str, Any]:
    minx, miny, maxx, maxy = geom.bounds
    point = geom.representative_point() if not geom.centroid.within(geom) else geom.centroid
    return {
        "geometry": geometry_to_geojson(geom),
        "centroid_lon": point.x,
        "centroid_lat": point.y,
        "min_lon": minx,
        "min_lat": miny,
        "max_lon": maxx,
        "max_lat": maxy,
        "area_m2": area_m2(geom),
    }


def _path(parent: Area | None, code: str) -> str:
    return f"{parent.path if parent else '/'}{code}/"


def import_areas(
    source: Any,
    *,
    level: int,
    code_field: str,
    name_field: str,
    parent_field: str | None = None,
    crs: CRS = CRS.WGS84,
    strict: bool = False,
) -> ImportResult:
    """All or nothing: every feature is checked first; any error rejects the whole file.

    Re-importing updates areas by code. Invalid polygons are repaired with a warning (or
    rejected when `strict`). Without a parent field, a cell's parent is the area one level up
    that contains its interior point, when there is one."""
    try:
        features = load_feature_collection(source)
    except GeoJSONError as exc:
        raise ImportRejected([str(exc)]) from exc
    errors: list[str] = []
    warnings: list[str] = []
    parsed = []
    seen: dict[str, int] = {}
    for i, feature in enumerate(features, start=1):
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = props or {}
        code = props.get(code_field)
        code = str(code).strip() if code not in (None, "") else ""
        name = str(props.get(name_field) or "").strip()
        label = f"第{i}个要素" + (f"（{code}）" if code else "")
        if not code:
            errors.append(f"{label}缺少编码字段 {code_field}")
            continue
        if len(code) > 32:
            errors.append(f"{label}的编码过长（最多32位）")
            continue
        if code in seen:
            errors.append(f"{label}的编码与第{seen[code]}个要素重复")
            continue
        seen[code] = i
        if not name:
            errors.append(f"{label}缺少名称字段 {name_field}")
            continue
        try:
            pf = parse_feature(i, feature, crs, code)
        except GeoJSONError as exc:
            errors.append(str(exc))
            continue
        if pf.warnings and strict:
            errors.extend(pf.warnings)
            continue
        warnings.extend(pf.warnings)
        parent_code = str(props.get(parent_field) or "").strip() if parent_field else ""
        parsed.append((code, name, parent_code, pf.geometry))
    if errors:
        raise ImportRejected(errors, warnings)

    parents: dict[str, Area] = {}
    if parent_field:
        wanted = {p for _, _, p, _ in parsed if p}
        parents = {a.code: a for a in Area.objects.filter(code__in=wanted)}
        for code, _, parent_code, _ in parsed:
            if parent_code and parent_code not in parents:
                errors.append(f"要素（{code}）的上级区域 {parent_code} 不存在")
        if errors:
            raise ImportRejected(errors, warnings)

    result = ImportResult(warnings=warnings)
    with transaction.atomic():
        existing = {a.code: a for a in Area.objects.filter(code__in=[p[0] for p in parsed])}
        candidates = None
        if not parent_field and level > AreaLevel.DISTRICT:
            candidates = list(Area.objects.filter(level=level - 1, geometry__isnull=False))
            cand_geoms = [shape(a.geometry) for a in candidates]
            tree = shapely.STRtree(cand_geoms) if cand_geoms else None
        for code, name, parent_code, geom in parsed:
            parent = parents.get(parent_code) if parent_code else None
            if parent is None and candidates:
                point = geom.representative_point()
                hits = tree.query(point, predicate="within") if tree is not None else []
                parent = candidates[int(hits[0])] if len(hits) else None
            if parent is not None and parent.level >= level:
                raise ImportRejected([f"要素（{code}）的上级区域 {parent.code} 层级不高于本层"])
            fields = _geometry_fields(geom)
            area = existing.get(code)
            if area is None:
                area = Area(code=code)
                result.created.append(code)
            else:
                result.updated.append(code)
            area.name = name
            area.level = level
            area.parent = parent
            area.path = _path(parent, code)
            for k, v in fields.items():
                setattr(area, k, v)
            area.save()
            _refresh_descendant_paths(area)
        bump_layer_version()
    return result


def _refresh_descendant_paths(area: Area) -> None:
    children = list(area.children.all())
    for child in children:
        new_path = _path(area, child.code)
        if child.path != new_path:
            child.path = new_path
            child.save(update_fields=["path"])
            _refresh_descendant_paths(child)


def metres_to_degrees(metres: float, lat: float) -> tuple[float, float]:
    dlat = metres / 110_574.0
    dlon = metres / (111_320.0 * math.cos(math.radians(lat)))
    return dlon, dlat


def cut_squares(geom, cell_size_m: float, *, min_share: float = 0.05) -> list:
    """Square pieces of `geom` of about cell_size_m, ordered north→south, west→east.

    Slivers smaller than `min_share` of a square are merged into a neighbour so no cell is a
    crumb along the boundary."""
    minx, miny, maxx, maxy = geom.bounds
    dlon, dlat = metres_to_degrees(cell_size_m, (miny + maxy) / 2)
    cols = max(1, math.ceil((maxx - minx) / dlon))
    rows = max(1, math.ceil((maxy - miny) / dlat))
    xs = minx + np.arange(cols) * dlon
    ys = maxy - (np.arange(rows) + 1) * dlat
    gx, gy = np.meshgrid(xs, ys)  # row 0 is the northernmost
    squares = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + dlon, gy.ravel() + dlat)
    shapely.prepare(geom)
    hit = shapely.intersects(geom, squares)
    pieces = shapely.intersection(squares[hit], geom)
    keep = []
    full = dlon * dlat
    small = []
    for piece in pieces:
        piece = _polygonal(piece)
        if piece is None:
            continue
        (small if piece.area < min_share * full else keep).append(piece)
    if keep and small:
        tree = shapely.STRtree(keep)
        for crumb in small:
            idx = tree.query(crumb, predicate="intersects")
            if len(idx):
                target = int(idx[0])
                keep[target] = _polygonal(shapely.union(keep[target], crumb)) or keep[target]
    elif small and not keep:
        keep = small
    return keep


def _polygonal(geom):
    from gridcity.lib.geojson import polygonal_part

    if geom.is_empty:
        return None
    return polygonal_part(geom)


def make_grid(area: Area, *, cell_size_m: float = 100.0) -> ImportResult:
    """Cut an area into cells of about `cell_size_m`, with 15-digit codes: the community's
    12-digit code + a 3-digit sequence numbered west→east, north→south. An area above
    community level is cut community by community, so every cell has its community's code.
    Re-running replaces the cells of those communities."""
    if area.level == AreaLevel.CELL:
        raise ImportRejected([f"{area.name}已是单元网格，不能再划分"])
    if area.level == AreaLevel.COMMUNITY:
        communities = [area]
    else:
        communities = list(
            Area.objects.filter(level=AreaLevel.COMMUNITY, path__startswith=area.path)
        )
    if not communities:
        raise ImportRejected([f"{area.name}下没有社区：请先导入社区边界，再按社区划分网格"])
    errors = []
    for c in communities:
        if not c.geometry:
            errors.append(f"社区 {c.name}（{c.code}）没有边界")
        elif len(c.code) != 12 or not c.code.isdigit():
            errors.append(
                f"社区 {c.name} 的编码 {c.code} 不是12位数字（6位行政区划+3位街道+3位社区）"
            )
    if errors:
        raise ImportRejected(errors)
    result = ImportResult()
    plans = []
    for c in communities:
        pieces = cut_squares(shape(c.geometry), cell_size_m)
        if len(pieces) > 999:
            errors.append(
                f"社区 {c.name} 按 {cell_size_m:g} 米划分会得到 {len(pieces)} 个网格，超过3位顺序码上限999"
            )
        plans.append((c, pieces))
    if errors:
        raise ImportRejected(errors)
    with transaction.atomic():
        for community, pieces in plans:
            # cut_squares returns pieces row by row from the north, west→east within a row.
            old = {a.code: a for a in Area.objects.filter(parent=community, level=AreaLevel.CELL)}
            for seq, piece in enumerate(pieces, start=1):
                code = f"{community.code}{seq:03d}"
                cell = old.pop(code, None)
                if cell is None:
                    cell = Area(code=code)
                    result.created.append(code)
                else:
                    result.updated.append(code)
                cell.name = f"{community.name}{seq:03d}号网格"
                cell.level = AreaLevel.CELL
                cell.parent = community
                cell.path = _path(community, code)
                for k, v in _geometry_fields(piece).items():
                    setattr(cell, k, v)
                cell.save()
            for stale in old.values():
                stale.is_active = False
                stale.save(update_fields=["is_active"])
                result.warnings.append(f"网格 {stale.code} 不再需要，已停用")
        bump_layer_version()
    return result


@dataclass(frozen=True)
class Location:
    cell_id: int | None
    cell_code: str | None
    path: str

    @property
    def codes(self) -> list[str]:
        return [c for c in self.path.strip("/").split("/") if c]

    @property
    def located(self) -> bool:
        return self.cell_id is not None


def locate(lon: float, lat: float) -> Location:
    """The cell containing a WGS84 point and its ancestors' codes, or an unlocated result."""
    hit = get_index().locate(lon, lat)
    if hit is None:
        return Location(None, None, "")
    return Location(hit.id, hit.code, hit.path)


def cells_in_bbox(min_lon: float, min_lat: float, max_lon: float, max_lat: float):
    return Area.objects.filter(
        level=AreaLevel.CELL,
        max_lon__gte=min_lon,
        min_lon__lte=max_lon,
        max_lat__gte=min_lat,
        min_lat__lte=max_lat,
    )


def beat_manager_for_cell(cell_id: int | None):
    """The grid manager whose beat covers this cell, if any."""
    if cell_id is None:
        return None
    beat = (
        Beat.objects.filter(cells__id=cell_id, manager__isnull=False)
        .select_related("manager")
        .order_by("pk")
        .first()
    )
    return beat.manager if beat else None


__all__ = [
    "ImportRejected",
    "ImportResult",
    "import_areas",
    "make_grid",
    "locate",
    "Location",
    "cells_in_bbox",
    "beat_manager_for_cell",
]
