from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SensorsConfig(AppConfig):
    name = "gridcity.sensors"
    label = "sensors"
    verbose_name = _("物联感知与预警")
