from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "gridcity.accounts"
    label = "accounts"
    verbose_name = "用户与部门"

    def ready(self) -> None:
        from gridcity.accounts import (
            checks,  # noqa: F401 - registers the deploy check
            signals,  # noqa: F401 - drops cached token lookups
        )
