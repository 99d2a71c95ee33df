from django.apps import AppConfig


class Open311Config(AppConfig):
    name = "gridcity.open311"
    label = "open311"
    verbose_name = "对外接口（Open311 与推送）"
