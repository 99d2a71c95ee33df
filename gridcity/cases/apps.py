from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "gridcity.cases"
    label = "cases"
    verbose_name = _("案件")

    def ready(self) -> None:
        from gridcity.cases import metrics  # noqa: F401  registers the scrape-time gauges
