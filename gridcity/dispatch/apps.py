from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "gridcity.dispatch"
    label = "dispatch"
    verbose_name = "派遣规则"

    def ready(self) -> None:
        from gridcity.dispatch import signals  # noqa: F401
