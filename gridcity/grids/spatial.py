"""In-memory spatial index of the grid cells (Shapely 2 STRtree).

Routing a point is microseconds; the index is rebuilt when the grid layer's version changes,
so every process stays consistent after an import."""

import threading
import time
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.strtree import STRtree


@dataclass(frozen=True, slots=True)
class IndexedCell:
    id: int
    code: str
    path: str


class CellIndex:
    def __init__(self, cells: list[IndexedCell], geometries: list) -> None:
        self.cells = cells
        self.geometries = np.asarray(geometries, dtype=object)
        for g in self.geometries:
            shapely.prepare(g)
        self.tree = STRtree(self.geometries)

    def __len__(self) -> int:
        return len(self.cells)

    def locate(self, lon: float, lat: float) -> IndexedCell | None:
        point = shapely.Point(lon, lat)
        hits = self.tree.query(point, predicate="intersects")
        if len(hits) == 0:
            return None
        # Shared borders: a point on an edge belongs to the cell with the lowest code.
        return self.cells[int(hits.min())]

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Index into `cells` for each point, -1 where no cell contains it."""
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        point_idx, cell_idx = self.tree.query(points, predicate="intersects")
        result = np.full(len(points), -1, dtype=np.int64)
        # Write the higher cell indices first so the lowest one wins, as in locate().
        order = np.argsort(-cell_idx, kind="stable")
        result[point_idx[order]] = cell_idx[order]
        return result


_lock = threading.Lock()
_cached: tuple[str, CellIndex] | None = None


def build_index() -> CellIndex:
    from gridcity.grids.models import Area, AreaLevel

    rows = (
        Area.objects.filter(level=AreaLevel.CELL, is_active=True, geometry__isnull=False)
        .order_by("code")
        .values_list("id", "code", "path", "geometry")
    )
    cells, geoms = [], []
    for pk, code, path, geometry in rows:
        cells.append(IndexedCell(pk, code, path))
        geoms.append(shape(geometry))
    return CellIndex(cells, geoms)


def current_version() -> str:
    from gridcity.grids.models import GridLayerVersion

    row = GridLayerVersion.objects.filter(pk=1).values_list("token", flat=True).first()
    return row or ""


# How often a process asks the database whether the grid layer changed. An import in this
# process refreshes at once (forget_index); other processes follow within this many seconds.
VERSION_CHECK_SECONDS = 2.0
_checked_at = 0.0


def forget_index() -> None:
    global _cached, _checked_at
    _cached, _checked_at = None, 0.0


def get_index() -> CellIndex:
    global _cached, _checked_at
    cached = _cached
    now = time.monotonic()
    if cached is not None and now - _checked_at < VERSION_CHECK_SECONDS:
        return cached[1]
    version = current_version()
    _checked_at = now
    if cached is not None and cached[0] == version:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != version:
            _cached = (version, build_index())
        return _cached[1]
