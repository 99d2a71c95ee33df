from django.db import models
from django.utils.translation import gettext_lazy as _


class AreaLevel(models.IntegerChoices):
    DISTRICT = 1, _("区")
    STREET = 2, _("街道")
    COMMUNITY = 3, _("社区")
    CELL = 4, _("单元网格")


class PositionProblem(models.TextChoices):
    """Why a reported point was not placed: it is no real position in the city, as opposed to a
    real point that only lacks a cell and is placed by hand."""

    ZERO = "zero", _("坐标为(0,0)")
    OUTSIDE = "outside", _("不在辖区内")


class Area(models.Model):
    """A node of the area tree. Geometry is a GeoJSON geometry in WGS84."""

    code = models.CharField(_("编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    level = models.PositiveSmallIntegerField(_("层级"), choices=AreaLevel.choices, db_index=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级区域"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    # "/330102/330102001/330102001002/" — subtree queries are a prefix match.
    path = models.CharField(max_length=255, db_index=True, editable=False)
    geometry = models.JSONField(_("边界"), null=True, blank=True)
    centroid_lon = models.FloatField(null=True, blank=True, editable=False)
    centroid_lat = models.FloatField(null=True, blank=True, editable=False)
    min_lon = models.FloatField(null=True, blank=True, editable=False)
    min_lat = models.FloatField(null=True, blank=True, editable=False)
    max_lon = models.FloatField(null=True, blank=True, editable=False)
    max_lat = models.FloatField(null=True, blank=True, editable=False)
    area_m2 = models.FloatField(_("面积(平方米)"), null=True, blank=True, editable=False)
    area_class = models.CharField(
        _("区域类别"), max_length=32, blank=True, help_text=_("如 核心区、城郊区，评价时分类比较。")
    )
    fallback_department = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("属地兜底部门"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fallback_areas",
    )
    is_active = models.BooleanField(_("启用"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("区域")
        verbose_name_plural = _("区域")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    def ancestors(self) -> list["Area"]:
        """Root first, self last; one query."""
        codes = [c for c in self.path.strip("/").split("/") if c]
        by_code = {a.code: a for a in Area.objects.filter(code__in=codes)}
        return [by_code[c] for c in codes if c in by_code]


class GridLayerVersion(models.Model):
    """Bumped by every import, so each process knows when to rebuild its spatial index."""

    version = models.PositiveIntegerField(default=0)
    # A fresh random token per change: a counter alone can repeat after a rolled-back import.
    token = models.CharField(max_length=32, default="")
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"v{self.version}"


class Beat(models.Model):
    code = models.CharField(_("编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    manager = models.ForeignKey(
        "accounts.User",
        verbose_name=_("网格员"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="beats",
    )
    cells = models.ManyToManyField(
        Area,
        verbose_name=_("单元网格"),
        related_name="beats",
        limit_choices_to={"level": AreaLevel.CELL},
    )

    class Meta:
        verbose_name = _("责任网格")
        verbose_name_plural = _("责任网格")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ComponentState(models.TextChoices):
    GOOD = "good", _("完好")
    DAMAGED = "damaged", _("破损")
    LOST = "lost", _("丢失")
    DISUSED = "disused", _("废弃")
    REMOVED = "removed", _("移除")


class Component(models.Model):
    """A managed facility (部件), 17-digit id: 6 administrative + 2 class + 3 subclass + 6 seq."""

    code = models.CharField(_("部件标识码"), max_length=17, unique=True)
    category = models.ForeignKey(
        "taxonomy.Category", verbose_name=_("部件类别"), on_delete=models.PROTECT
    )
    name = models.CharField(_("名称"), max_length=100, blank=True)
    owner = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("权属单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_components",
    )
    maintainer = models.ForeignKey(
        "accounts.Department",
        verbose_name=_("养护单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="maintained_components",
    )
    cell = models.ForeignKey(
        Area, verbose_name=_("所在网格"), null=True, blank=True, on_delete=models.SET_NULL
    )
    lon = models.FloatField(_("经度"))
    lat = models.FloatField(_("纬度"))
    state = models.CharField(
        _("状态"), max_length=16, choices=ComponentState.choices, default=ComponentState.GOOD
    )

    class Meta:
        verbose_name = _("部件")
        verbose_name_plural = _("部件")

    def __str__(self) -> str:
        return f"{self.name or self.category.name}（{self.code}）"
