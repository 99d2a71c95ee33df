from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from gridcity.grids.actions import bump_layer_version
from gridcity.grids.models import Area, Beat, Component


@admin.register(Area)
class AreaAdmin(admin.ModelAdmin):
    """Boundaries and the tree come from `import-areas` and `make-grid`, which keep `path` and
    the spatial index consistent; here only the attributes a city tunes are editable."""

    list_display = (
        "code",
        "name",
        "level",
        "parent",
        "area_class",
        "fallback_department",
        "area_display",
        "is_active",
    )
    list_filter = ("level", "is_active", "area_class")
    search_fields = ("code", "name")
    list_select_related = ("parent", "fallback_department")
    autocomplete_fields = ("fallback_department",)
    list_per_page = 100
    fieldsets = (
        (None, {"fields": ("code", "name", "level", "parent", "path")}),
        ("管理属性", {"fields": ("area_class", "fallback_department", "is_active")}),
        (
            "边界",
            {
                "classes": ("collapse",),
                "fields": ("area_display", "bbox_display", "geometry_summary"),
                "description": "边界只能通过 import-areas 或 make-grid 导入，不在此处编辑。",
            },
        ),
    )
    readonly_fields = (
        "code",
        "level",
        "parent",
        "path",
        "area_display",
        "bbox_display",
        "geometry_summary",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Area]:
        # A list page would otherwise load a hundred boundaries, and the parent's with each.
        return super().get_queryset(request).defer("geometry", "parent__geometry")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Area | None = None) -> bool:
        # Cases and rules point at areas; an area that is no longer needed is deactivated.
        return False

    def save_model(self, request, obj: Area, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "is_active" in form.changed_data:
            # The spatial index only holds active cells: make every process rebuild it.
            bump_layer_version()

    @admin.display(description=gettext_lazy("面积"), ordering="area_m2")
    def area_display(self, obj: Area) -> str:
        if obj.area_m2 is None:
            return "-"
        if obj.area_m2 >= 1_000_000:
            return f"{obj.area_m2 / 1_000_000:.2f} 平方公里"
        return f"{obj.area_m2:,.0f} 平方米"

    @admin.display(description=gettext_lazy("范围（经纬度）"))
    def bbox_display(self, obj: Area) -> str:
        if obj.min_lon is None:
            return "-"
        return (
            f"{obj.min_lon:.6f}, {obj.min_lat:.6f} — {obj.max_lon:.6f}, {obj.max_lat:.6f}；"
            f"中心点 {obj.centroid_lon:.6f}, {obj.centroid_lat:.6f}"
        )

    @admin.display(description=gettext_lazy("边界"))
    def geometry_summary(self, obj: Area) -> str:
        geom = obj.geometry
        if not geom:
            return "无边界"
        kind = geom.get("type", "?")
        coords = geom.get("coordinates") or []
        rings = coords if kind == "Polygon" else [r for poly in coords for r in poly]
        vertices = sum(len(r) for r in rings)
        return format_html("{}，{} 个环，{} 个顶点（WGS84）", kind, len(rings), vertices)


@admin.register(Beat)
class BeatAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "manager", "cell_count")
    search_fields = ("code", "name", "manager__username", "manager__display_name")
    list_select_related = ("manager",)
    autocomplete_fields = ("manager",)
    # A beat may hold hundreds of the city's ~12,000 cells: filter_horizontal would render them
    # all, so cells are entered by id with a search popup.
    raw_id_fields = ("cells",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Beat]:
        return super().get_queryset(request).annotate(n_cells=Count("cells"))

    @admin.display(description=gettext_lazy("网格数"), ordering="n_cells")
    def cell_count(self, obj: Beat) -> int:
        return obj.n_cells


@admin.register(Component)
class ComponentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "category", "state", "owner", "maintainer", "cell")
    list_filter = ("state", "category__major_name")
    search_fields = ("code", "name", "category__code", "category__name")
    list_select_related = ("category", "owner", "maintainer", "cell")
    autocomplete_fields = ("category", "owner", "maintainer")
    raw_id_fields = ("cell",)
