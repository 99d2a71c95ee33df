from django.http import JsonResponse
from django.utils.translation import gettext
from ninja import Query, Router, Schema
from pydantic import Field

from gridcity.grids.actions import locate
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.coords import CRS, to_wgs84, validate_lonlat
from gridcity.lib.errors import InvalidInput

router = Router(tags=["区域与网格"])


class AreaFilter(Schema):
    level: int | None = Field(None, ge=1, le=4, description="1 区 2 街道 3 社区 4 单元网格")
    parent: str | None = Field(None, description="上级区域编码：只列其下一级")
    within: str | None = Field(None, description="区域编码：列出其整个子树")
    bbox: str | None = Field(None, description="minlon,minlat,maxlon,maxlat")
    geometry: bool = Field(True, description="是否返回边界")
    limit: int = Field(5000, ge=1, le=50000)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError as exc:
        raise InvalidInput(
            gettext("bbox 应为 minlon,minlat,maxlon,maxlat 四个数字"), field="bbox"
        ) from exc
    if len(parts) != 4 or any(p != p for p in parts):
        raise InvalidInput(gettext("bbox 应为 minlon,minlat,maxlon,maxlat 四个数字"), field="bbox")
    return parts[0], parts[1], parts[2], parts[3]


@router.get("/areas", auth=None, summary="区域（GeoJSON FeatureCollection，公开）")
def list_areas(request, filters: Query[AreaFilter]):
    qs = Area.objects.filter(is_active=True)
    if filters.level:
        qs = qs.filter(level=filters.level)
    if filters.parent:
        qs = qs.filter(parent__code=filters.parent)
    if filters.within:
        root = Area.objects.filter(code=filters.within).first()
        if root is None:
            raise InvalidInput(
                gettext("区域 %(within)s 不存在") % {"within": filters.within}, field="within"
            )
        qs = qs.filter(path__startswith=root.path)
    if filters.bbox:
        a, b, c, d = parse_bbox(filters.bbox)
        qs = qs.filter(max_lon__gte=a, min_lon__lte=c, max_lat__gte=b, min_lat__lte=d)
    fields = ["code", "name", "level", "path", "centroid_lon", "centroid_lat", "parent__code"]
    if filters.geometry:
        fields.append("geometry")
    features = []
    for row in qs.order_by("code").values(*fields)[: filters.limit]:
        features.append(
            {
                "type": "Feature",
                "id": row["code"],
                "geometry": row.get("geometry"),
                "properties": {
                    "code": row["code"],
                    "name": row["name"],
                    "level": row["level"],
                    "level_label": AreaLevel(row["level"]).label,
                    "parent": row["parent__code"],
                    "centroid": [row["centroid_lon"], row["centroid_lat"]],
                },
            }
        )
    return JsonResponse({"type": "FeatureCollection", "features": features})


class LocateOut(Schema):
    located: bool
    lon: float
    lat: float
    cell: str | None
    areas: list[dict]


@router.get(
    "/locate", auth=None, response=LocateOut, summary="定位：点所在的网格及上级区域（公开）"
)
def locate_point(request, lon: float, lat: float, crs: CRS = CRS.WGS84):
    try:
        validate_lonlat(lon, lat)
        wlon, wlat = to_wgs84(lon, lat, crs)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="lat" if "纬度" in str(exc) else "lon") from exc
    loc = locate(wlon, wlat)
    by_code = {a.code: a for a in Area.objects.filter(code__in=loc.codes)}
    areas = [
        {
            "code": c,
            "name": by_code[c].name,
            "level": by_code[c].level,
            "level_label": AreaLevel(by_code[c].level).label,
        }
        for c in loc.codes
        if c in by_code
    ]
    return LocateOut(located=loc.located, lon=wlon, lat=wlat, cell=loc.cell_code, areas=areas)
