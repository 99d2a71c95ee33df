from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# Case actions after which a case may newly fall inside a campaign (it got a place or is new).
TAGGING_ACTIONS = {"create", "split", "locate"}
# Case actions that move the case's ledger rows on: the unit signs for it (整改中), it is closed
# (待验收 or 已销号), voided (已撤销) or merged into another case (the row follows that case).
FOLLOWED_ACTIONS = {"sign", "close", "void", "merge"}


def follow_case(change) -> None:
    """Tag new and newly placed cases to the campaigns that cover them; move the ledger rows of
    a case when the case moves."""
    if change.action in TAGGING_ACTIONS and _may_concern_a_campaign(change.case):
        from gridcity.campaigns.actions import tag_case

        tag_case(change.case.pk)
    if change.action in FOLLOWED_ACTIONS:
        from gridcity.campaigns.actions import follow_case_rows

        follow_case_rows(change.case.pk)


def _may_concern_a_campaign(case) -> bool:
    from django.utils import timezone

    from gridcity.campaigns.matching import may_concern_any

    return bool(case.area_path) and may_concern_any(
        case.category_id, timezone.localdate(case.reported_at)
    )


def register_evaluation_figures() -> None:
    """督查扣分 per department, for the evaluation schemes to deduct (evaluation/sources.py)."""
    from django.urls import reverse

    from gridcity.campaigns.actions import deductions_by_department
    from gridcity.evaluation.sources import UnitFigureSource, register

    register(
        UnitFigureSource(
            "inspection_deductions",
            "督查扣分",
            deductions_by_department,
            # The findings and their deductions are listed with the inspections.
            detail_url=lambda department, first, last: reverse("campaigns:inspections"),
        )
    )


def connect_matching_cache() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from gridcity.campaigns.matching import campaigns_changed
    from gridcity.campaigns.models import Campaign

    for signal in (post_save, post_delete):
        signal.connect(
            campaigns_changed,
            sender=Campaign,
            dispatch_uid=f"campaign-matchers-{signal is post_save}",
        )
    m2m_changed.connect(
        campaigns_changed,
        sender=Campaign.categories.through,
        dispatch_uid="campaign-matchers-categories",
    )


class CampaignsConfig(AppConfig):
    name = "gridcity.campaigns"
    label = "campaigns"
    verbose_name = _("专项整治与督查")

    def ready(self) -> None:
        from gridcity.cases import hooks

        hooks.subscribe(follow_case)
        connect_matching_cache()
        register_evaluation_figures()
