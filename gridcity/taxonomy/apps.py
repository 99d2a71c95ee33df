from django.apps import AppConfig


class TaxonomyConfig(AppConfig):
    name = "gridcity.taxonomy"
    label = "taxonomy"
    verbose_name = "分类与立结案标准"

    def ready(self) -> None:
        from gridcity.taxonomy import signals  # noqa: F401
