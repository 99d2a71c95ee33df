"""Operations on the area tree: imports, cutting cells, beats, locating a point."""

import math
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from shapely.geometry import shape

from gridcity.grids.models import Area, AreaLevel, Beat, GridLayerVersion, PositionProblem
from gridcity.grids.spatial import forget_index, get_index
from gridcity.lib.coords import CRS
from gridcity.lib.geojson import (
    GeoJSONError,
    area_m2,
    geometry_to_geojson,
    load_feature_collection,
    parse_feature,
)
from gridcity.lib.tables import field_errors
from gridcity.system import stamps


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
    missing = _missing_fields(
        features,
        {"--code-field": code_field, "--name-field": name_field, "--parent-field": parent_field},
    )
    if missing:
        raise ImportRejected([missing])
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
        too_long = field_errors(
            i, Area, {"code": code, "name": name}, columns={"code": code_field, "name": name_field}
        )
        if too_long:
            errors.extend(f"{label} [{e.column}]：{e.reason}" for e in too_long)
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


def _missing_fields(features: list, options: dict[str, str | None]) -> str:
    """One message naming each option whose field no feature has, with the fields the file
    does have, instead of one error per feature; "" when every named field is there."""
    present: dict[str, None] = {}
    for feature in features:
        props = feature.get("properties") if isinstance(feature, dict) else None
        if isinstance(props, dict):
            present.update(dict.fromkeys(str(k) for k in props))
    absent = [
        f"{option} {name}" for option, name in options.items() if name and name not in present
    ]
    if not absent:
        return ""
    listed = list(present)
    have = "、".join(listed[:40]) + ("……" if len(listed) > 40 else "")
    return f"文件中没有字段 {'、'.join(absent)}（{len(features)}个要素都没有）；" + (
        f"文件中的字段有：{have}" if listed else "要素都没有属性（properties）"
    )


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
    return [piece for _, _, piece in cut_squares_indexed(geom, cell_size_m, min_share=min_share)]


def cut_squares_indexed(
    geom, cell_size_m: float, *, min_share: float = 0.05
) -> list[tuple[int, int, Any]]:
    """`cut_squares` with each piece's row and column in the square grid over the bounds:
    (row, col, piece), both from 1, row 1 the northernmost and column 1 the westernmost."""
    minx, miny, maxx, maxy = geom.bounds
    dlon, dlat = metres_to_degrees(cell_size_m, (miny + maxy) / 2)
    cols = max(1, math.ceil((maxx - minx) / dlon))
    rows = max(1, math.ceil((maxy - miny) / dlat))
    xs = minx + np.arange(cols) * dlon
    ys = maxy - (np.arange(rows) + 1) * dlat
    gx, gy = np.meshgrid(xs, ys)  # row 0 is the northernmost
    gr, gc = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    squares = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + dlon, gy.ravel() + dlat)
    shapely.prepare(geom)
    hit = shapely.intersects(geom, squares)
    pieces = shapely.intersection(squares[hit], geom)
    positions = list(zip(gr.ravel()[hit].tolist(), gc.ravel()[hit].tolist(), strict=True))
    keep: list[tuple[int, int, Any]] = []
    full = dlon * dlat
    small = []
    for (row, col), piece in zip(positions, pieces, strict=True):
        piece = _polygonal(piece)
        if piece is None:
            continue
        item = (row + 1, col + 1, piece)
        (small if piece.area < min_share * full else keep).append(item)
    if keep and small:
        tree = shapely.STRtree([p for _, _, p in keep])
        for _, _, crumb in small:
            idx = tree.query(crumb, predicate="intersects")
            if len(idx):
                target = int(idx[0])
                row, col, piece = keep[target]
                keep[target] = (row, col, _polygonal(shapely.union(piece, crumb)) or piece)
    elif small and not keep:
        keep = small
    return keep


def _polygonal(geom):
    from gridcity.lib.geojson import polygonal_part

    if geom.is_empty:
        return None
    return polygonal_part(geom)


CODE_TEMPLATE_FIELDS = ("row", "col", "seq", "parent")
GBT_CELLS_PER_COMMUNITY = 999  # the 3-digit sequence of a 15-digit GB/T cell code
CELL_CODE_MAX = 32  # Area.code


class InvalidCodeTemplate(ValueError):
    """A code template that cannot name cells; the message says why, for the user to fix it."""


def check_code_template(template: str) -> str:
    """The template stripped, if it makes a valid, distinct code for every cell of an area.

    Placeholders: {row} and {col} (from 1, row 1 the northernmost, column 1 the westernmost),
    {seq} (from 1, west→east then north→south) and {parent} (the code of the area the cell
    is cut from), each with an optional format spec such as {seq:05d}."""
    template = (template or "").strip()
    if not template:
        raise InvalidCodeTemplate(gettext("模板为空"))
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidCodeTemplate(
            gettext("“%(template)s”的花括号不成对（%(exc)s）") % {"template": template, "exc": exc}
        ) from exc
    used: set[str] = set()
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in CODE_TEMPLATE_FIELDS:
            raise InvalidCodeTemplate(
                gettext("未知的占位符 {%(name)s}，可用 {row} {col} {seq} {parent}") % {"name": name}
            )
        if conversion or (spec and "{" in spec):
            raise InvalidCodeTemplate(
                gettext("占位符 {%(name)s} 只能带格式说明，如 {%(name2)s:03d}")
                % {"name": name, "name2": name}
            )
        used.add(name)
    if "seq" not in used and not {"row", "col"} <= used:
        raise InvalidCodeTemplate(
            gettext("须包含 {seq}，或同时包含 {row} 和 {col}，否则网格编码会重复")
        )
    try:
        sample = template.format(row=1, col=1, seq=1, parent="A1")
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidCodeTemplate(gettext("格式说明无效（%(exc)s）") % {"exc": exc}) from exc
    if "/" in sample or any(ch.isspace() for ch in sample):
        raise InvalidCodeTemplate(gettext("编码不能包含“/”或空白字符"))
    return template


def _template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _grid_leaves(area: Area) -> list[Area]:
    """The areas a template grid is cut from: the deepest areas at or below `area` above cell
    level, so a district with communities is cut community by community and one without is
    cut whole."""
    below = list(
        Area.objects.filter(path__startswith=area.path, level__lt=AreaLevel.CELL).exclude(
            pk=area.pk
        )
    )
    parents = {a.parent_id for a in below}
    leaves = [a for a in below if a.pk not in parents]
    return sorted(leaves, key=lambda a: a.code) if leaves else [area]


@dataclass
class _CellPlan:
    leaf: Area
    code: str
    name: str
    piece: Any


def make_grid(
    area: Area, *, cell_size_m: float = 100.0, code_template: str | None = None
) -> ImportResult:
    """Cut an area into cells of about `cell_size_m`, numbered west→east, north→south.

    By default the codes are 15-digit GB/T codes: the community's 12-digit code + a 3-digit
    sequence, so an area above community level is cut community by community and each
    community holds at most 999 cells. With `code_template` (see `check_code_template`) the
    cells are cut from the deepest areas below `area` (or from `area` itself when nothing is
    below it), at any level and with codes of any shape, in any number. {seq} runs per area
    cut when the template has {parent}, across the whole run otherwise.

    Re-running replaces the cells of the areas cut; cells no longer needed are deactivated."""
    if area.level == AreaLevel.CELL:
        raise ImportRejected([f"{area.name}已是单元网格，不能再划分"])
    if code_template is not None:
        code_template = check_code_template(code_template)
        leaves = _grid_leaves(area)
    elif area.level == AreaLevel.COMMUNITY:
        leaves = [area]
    else:
        leaves = list(Area.objects.filter(level=AreaLevel.COMMUNITY, path__startswith=area.path))
        if not leaves:
            raise ImportRejected(
                [
                    f"{area.name}下没有社区：请先导入社区边界，再按社区划分网格；"
                    "或用 --code-template 指定编码模板，直接划分该区域"
                ]
            )
    errors = []
    for leaf in leaves:
        if not leaf.geometry:
            errors.append(f"{AreaLevel(leaf.level).label} {leaf.name}（{leaf.code}）没有边界")
        elif code_template is None and (len(leaf.code) != 12 or not leaf.code.isdigit()):
            errors.append(
                f"社区 {leaf.name} 的编码 {leaf.code} 不是12位数字（6位行政区划+3位街道+3位社区）；"
                "其他编码方案请用 --code-template"
            )
    if errors:
        raise ImportRejected(errors)
    plans: list[_CellPlan] = []
    seq_per_leaf = code_template is None or "parent" in _template_fields(code_template)
    seq = 0
    for leaf in leaves:
        pieces = cut_squares_indexed(shape(leaf.geometry), cell_size_m)
        if code_template is None and len(pieces) > GBT_CELLS_PER_COMMUNITY:
            errors.append(
                f"社区 {leaf.name} 按 {cell_size_m:g} 米划分会得到 {len(pieces)} 个网格，"
                "超过3位顺序码上限999；更多网格请用 --code-template 指定编码模板"
            )
            continue
        if seq_per_leaf:
            seq = 0
        for row, col, piece in pieces:
            seq += 1
            if code_template is None:
                code, name = f"{leaf.code}{seq:03d}", f"{leaf.name}{seq:03d}号网格"
            else:
                code = code_template.format(row=row, col=col, seq=seq, parent=leaf.code)
                name = f"{leaf.name} {code}"[:100]
            plans.append(_CellPlan(leaf, code, name, piece))
    if errors:
        raise ImportRejected(errors)
    # A template grid is the whole grid of the area: it replaces every cell below it, also
    # those cut before from areas that are no longer the deepest.
    replaced = Q(parent__in=leaves)
    if code_template is not None:
        replaced |= Q(path__startswith=area.path)
    replaced &= Q(level=AreaLevel.CELL)
    errors = _check_cell_codes(plans, replaced)
    if errors:
        raise ImportRejected(errors)
    return _write_cells(plans, replaced)


def _check_cell_codes(plans: list["_CellPlan"], replaced: Q) -> list[str]:
    """Every planned code fits, is made once, and is not another area's already (a cell being
    replaced is updated in place)."""
    errors: list[str] = []
    first: dict[str, _CellPlan] = {}
    for plan in plans:
        if len(plan.code) > CELL_CODE_MAX:
            errors.append(f"--code-template 生成的编码 {plan.code} 超过{CELL_CODE_MAX}个字符")
        elif len(plan.leaf.path) + len(plan.code) + 1 > Area._meta.get_field("path").max_length:
            errors.append(f"网格 {plan.code} 的区域路径过长，请缩短 --code-template")
        elif plan.code in first:
            errors.append(
                f"--code-template 在 {first[plan.code].leaf.name} 和 {plan.leaf.name} 生成了相同的编码 "
                f"{plan.code}：请在模板中加入 {{parent}}，或改用 {{seq}}"
            )
        else:
            first[plan.code] = plan
        if len(errors) >= 20:
            errors.append("……（仅列出前20个错误）")
            return errors
    if errors:
        return errors
    codes = list(first)
    for i in range(0, len(codes), 500):
        taken = Area.objects.filter(code__in=codes[i : i + 500]).exclude(replaced)
        for other in taken.only("code", "name", "level"):
            errors.append(
                f"编码 {other.code} 已被{AreaLevel(other.level).label} {other.name} 使用，"
                "请换一个 --code-template"
            )
    return errors[:20]


def _write_cells(plans: list["_CellPlan"], replaced: Q) -> ImportResult:
    result = ImportResult()
    with transaction.atomic():
        old = {a.code: a for a in Area.objects.select_for_update().filter(replaced)}
        new_cells, changed = [], []
        for plan in plans:
            cell = old.pop(plan.code, None)
            if cell is None:
                cell = Area(code=plan.code)
                new_cells.append(cell)
                result.created.append(plan.code)
            else:
                changed.append(cell)
                result.updated.append(plan.code)
            cell.name = plan.name
            cell.level = AreaLevel.CELL
            cell.parent = plan.leaf
            cell.path = _path(plan.leaf, plan.code)
            cell.is_active = True
            for k, v in _geometry_fields(plan.piece).items():
                setattr(cell, k, v)
        Area.objects.bulk_create(new_cells, batch_size=500)
        fields = ["name", "level", "parent", "path", "is_active", "updated_at", *CELL_GEOMETRY]
        now = timezone.now()
        for cell in changed:
            cell.updated_at = now
        Area.objects.bulk_update(changed, fields, batch_size=500)
        stale = sorted(old.values(), key=lambda a: a.code)
        Area.objects.filter(pk__in=[a.pk for a in stale if a.is_active]).update(is_active=False)
        for cell in stale:
            if cell.is_active:
                result.warnings.append(f"网格 {cell.code} 不再需要，已停用")
        # Written in bulk, the cells send no save signals: stamp the area change for the
        # processes that keep areas in memory (dispatch fallbacks), as a save would.
        stamps.bump(stamps.DISPATCH)
        bump_layer_version()
    return result


# The fields _geometry_fields sets.
CELL_GEOMETRY = [
    "geometry",
    "centroid_lon",
    "centroid_lat",
    "min_lon",
    "min_lat",
    "max_lon",
    "max_lat",
    "area_m2",
]


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


def position_problem(lon: float | None, lat: float | None) -> str:
    """Why a WGS84 point that no cell holds is no real position: "zero" for (0, 0), the
    placeholder many systems send for "no location"; "outside" when no area of the city
    contains it; "" for a real point inside the city (a river, a gap between cells) that
    someone places by hand. Asked only of points `locate` did not place, so a query is fine."""
    if lon is None or lat is None:
        return ""
    if abs(lon) < 1e-7 and abs(lat) < 1e-7:
        return PositionProblem.ZERO.value
    around = Area.objects.filter(
        is_active=True,
        geometry__isnull=False,
        min_lon__lte=lon,
        max_lon__gte=lon,
        min_lat__lte=lat,
        max_lat__gte=lat,
    ).values_list("geometry", flat=True)
    for geometry in around:
        if shapely.intersects_xy(shape(geometry), lon, lat):
            return ""
    return PositionProblem.OUTSIDE.value


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
    "position_problem",
    "cells_in_bbox",
    "beat_manager_for_cell",
]
