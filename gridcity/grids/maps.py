"""Where a map starts: the settings every page with a map passes to its Leaflet view."""

from django.conf import settings
from django.db.models import Max, Min

from gridcity.grids.models import Area, AreaLevel


def map_extent() -> list[float] | None:
    """The bounds of the whole area tree: where a map starts before it knows anything else."""
    agg = Area.objects.filter(level=AreaLevel.DISTRICT, is_active=True).aggregate(
        a=Min("min_lon"), b=Min("min_lat"), c=Max("max_lon"), d=Max("max_lat")
    )
    if agg["a"] is None:
        return None
    return [agg["a"], agg["b"], agg["c"], agg["d"]]


def map_settings() -> dict:
    return {"extent": map_extent(), "tiles": settings.GRIDCITY_TILE_URL}
