from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PeopleConfig(AppConfig):
    name = "gridcity.people"
    label = "people"
    verbose_name = _("队伍与包联")

    def ready(self) -> None:
        from gridcity.cases.media import register_media_finder
        from gridcity.people.media import people_file

        register_media_finder(people_file)
