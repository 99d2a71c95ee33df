from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "gridcity.web"
    label = "web"
    verbose_name = "页面"
