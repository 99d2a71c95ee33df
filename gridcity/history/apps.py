from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HistoryConfig(AppConfig):
    name = "gridcity.history"
    label = "history"
    verbose_name = _("历史案件导入")
