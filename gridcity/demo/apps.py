from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo city: built through every app's actions, so it sits above them all."""

    name = "gridcity.demo"
    label = "demo"
    verbose_name = _("演示城市")
