from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PublicityConfig(AppConfig):
    name = "gridcity.publicity"
    label = "publicity"
    verbose_name = _("曝光台")

    def ready(self) -> None:
        from gridcity.evaluation.sources import UnitFigureSource, register
        from gridcity.publicity.figures import exposures_by_department, exposures_url

        register(
            UnitFigureSource(
                key="exposures",
                label="曝光次数",
                compute=exposures_by_department,
                detail_url=exposures_url,
            )
        )
