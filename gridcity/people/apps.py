from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "gridcity.people"
    label = "people"
    verbose_name = "队伍与包联"
