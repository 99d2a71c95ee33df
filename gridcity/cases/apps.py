from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "gridcity.cases"
    label = "cases"
    verbose_name = "案件"
