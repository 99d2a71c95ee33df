from django.apps import AppConfig

# Case actions after which a case may newly fall inside a campaign (it got a place or is new).
TAGGING_ACTIONS = {"create", "split", "locate"}


def follow_case(change) -> None:
    """Tag new and newly placed cases to the campaigns that cover them."""
    if change.action in TAGGING_ACTIONS:
        from gridcity.campaigns.actions import tag_case

        tag_case(change.case.pk)


class CampaignsConfig(AppConfig):
    name = "gridcity.campaigns"
    label = "campaigns"
    verbose_name = "专项整治与督查"

    def ready(self) -> None:
        from gridcity.cases import hooks

        hooks.subscribe(follow_case)
