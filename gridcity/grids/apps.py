from django.apps import AppConfig


class GridsConfig(AppConfig):
    name = "gridcity.grids"
    label = "grids"
    verbose_name = "网格"
