from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "gridcity.accounts"
    label = "accounts"
    verbose_name = _("用户与部门")

    def ready(self) -> None:
        from gridcity.accounts import (
            checks,  # noqa: F401 - registers the deploy check
            signals,  # noqa: F401 - drops cached token lookups
        )
