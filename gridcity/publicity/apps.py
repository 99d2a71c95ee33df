from django.apps import AppConfig


class PublicityConfig(AppConfig):
    name = "gridcity.publicity"
    label = "publicity"
    verbose_name = "曝光台"

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
