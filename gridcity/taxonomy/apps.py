from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaxonomyConfig(AppConfig):
    name = "gridcity.taxonomy"
    label = "taxonomy"
    verbose_name = _("分类与立结案标准")

    def ready(self) -> None:
        from gridcity.taxonomy import signals  # noqa: F401
