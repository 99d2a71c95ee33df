from django.apps import AppConfig


class SensorsConfig(AppConfig):
    name = "gridcity.sensors"
    label = "sensors"
    verbose_name = "物联感知与预警"
