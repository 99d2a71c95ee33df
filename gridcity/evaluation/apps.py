from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvaluationConfig(AppConfig):
    name = "gridcity.evaluation"
    label = "evaluation"
    verbose_name = _("综合评价")

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from gridcity.evaluation import snapshot
        from gridcity.evaluation.models import EvaluationPeriod

        # A period unfrozen: its partition of facts goes in one statement.
        pre_delete.connect(
            snapshot.drop_frozen_facts, sender=EvaluationPeriod, dispatch_uid="drop_frozen_facts"
        )
