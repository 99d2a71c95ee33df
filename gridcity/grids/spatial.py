"""In-memory spatial index of the grid cells (Shapely 2 STRtree).

Routing a point is microseconds; the index is rebuilt when the grid layer's version changes,
so every process stays consistent after an import."""

import math
from dataclasses import dataclass

import numpy as np
import shapely
from django.conf import settings
from shapely import intersects_xy
from shapely.geometry import shape
from shapely.strtree import STRtree

from gridcity.lib.stamped import StampedValue


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
        self._build_buckets()

    def __len__(self) -> int:
        return len(self.cells)

    def _build_buckets(self) -> None:
        """A uniform grid of buckets about one typical cell wide, each listing the cells whose
        bounding box touches it: one point is then tested against two or three prepared
        polygons, without building a Point or walking the tree."""
        bounds = shapely.bounds(self.geometries) if len(self.geometries) else np.zeros((0, 4))
        self._buckets: dict[tuple[int, int], list[int]] = {}
        if not len(bounds):
            self._origin, self._size = (0.0, 0.0), 1.0
            return
        widths = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
        size = float(np.median(widths)) or 1e-3
        x0, y0 = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        self._origin, self._size = (x0, y0), size
        lo = np.floor((bounds[:, :2] - (x0, y0)) / size).astype(int)
        hi = np.floor((bounds[:, 2:] - (x0, y0)) / size).astype(int)
        buckets = self._buckets
        for i in range(len(bounds)):
            for bx in range(lo[i, 0], hi[i, 0] + 1):
                for by in range(lo[i, 1], hi[i, 1] + 1):
                    buckets.setdefault((bx, by), []).append(i)

    def locate(self, lon: float, lat: float) -> IndexedCell | None:
        x0, y0 = self._origin
        key = (math.floor((lon - x0) / self._size), math.floor((lat - y0) / self._size))
        # Candidates are in index order, so on a shared border the cell with the lowest code
        # wins, as in locate_many().
        for i in self._buckets.get(key, ()):
            if intersects_xy(self.geometries[i], lon, lat):
                return self.cells[i]
        return None

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Index into `cells` for each point, -1 where no cell contains it."""
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        point_idx, cell_idx = self.tree.query(points, predicate="intersects")
        result = np.full(len(points), -1, dtype=np.int64)
        # Write the higher cell indices first so the lowest one wins, as in locate().
        order = np.argsort(-cell_idx, kind="stable")
        result[point_idx[order]] = cell_idx[order]
        return result


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


# A process asks the database whether the grid layer changed at most every
# GRIDCITY_STAMP_CHECK_SECONDS; an import in this process refreshes at once (forget_index).
_index = StampedValue(
    build_index, current_version, check_every=lambda: settings.GRIDCITY_STAMP_CHECK_SECONDS
)


def forget_index() -> None:
    _index.forget()


def get_index() -> CellIndex:
    return _index.get()
