from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DispatchConfig(AppConfig):
    name = "gridcity.dispatch"
    label = "dispatch"
    verbose_name = _("派遣规则")

    def ready(self) -> None:
        from gridcity.dispatch import signals  # noqa: F401
