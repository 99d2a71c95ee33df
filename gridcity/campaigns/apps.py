from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "gridcity.campaigns"
    label = "campaigns"
    verbose_name = "专项整治与督查"
