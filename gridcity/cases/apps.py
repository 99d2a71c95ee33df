from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "gridcity.cases"
    label = "cases"
    verbose_name = "案件"

    def ready(self) -> None:
        from gridcity.cases import metrics  # noqa: F401  registers the scrape-time gauges
