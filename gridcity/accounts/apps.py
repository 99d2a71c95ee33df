from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "gridcity.accounts"
    label = "accounts"
    verbose_name = "用户与部门"
