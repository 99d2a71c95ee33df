from django.db import models
from django.utils.translation import gettext_lazy as _


class ResponsibilityRule(models.Model):
    """(category or class, area subtree, optional filing condition) -> department.

    The most specific matching rule wins: an exact category beats a class, a filing condition
    beats none, a deeper area beats a wider one, then the higher priority."""

    category = models.ForeignKey(
        "taxonomy.Category", verbose_name=_("小类"), null=True, blank=True, on_delete=models.CASCADE
    )
    major_code = models.CharField(
        _("大类代码"), max_length=4, blank=True, help_text=_("未指定小类时按大类匹配。")
    )
    kind = models.CharField(_("类型"), max_length=16, blank=True)
    area = models.ForeignKey(
        "grids.Area",
        verbose_name=_("区域"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text=_("为空表示整个辖区。"),
    )
    filing_condition = models.ForeignKey(
        "taxonomy.FilingCondition",
        verbose_name=_("立案条件"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
    )
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("责任部门"), on_delete=models.PROTECT
    )
    priority = models.IntegerField(_("优先级"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("责任规则")
        verbose_name_plural = _("责任规则")
        ordering = ["pk"]

    def __str__(self) -> str:
        what = self.category.code if self.category_id else (self.major_code or "*")
        where = self.area.name if self.area_id else "全辖区"
        return f"{what} · {where} → {self.department}"
