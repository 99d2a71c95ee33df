from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "gridcity.dispatch"
    label = "dispatch"
    verbose_name = "派遣规则"
