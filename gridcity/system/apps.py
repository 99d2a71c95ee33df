from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SystemConfig(AppConfig):
    name = "gridcity.system"
    label = "system"
    verbose_name = _("系统运行")

    def ready(self) -> None:
        # Each app declares its periodic jobs in its tasks module; importing them registers them.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
