"""Stamp the dispatch configuration when the rules, or what they name, change: every process
on every node reloads its rules within GRIDCITY_STAMP_CHECK_SECONDS."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from gridcity.accounts.models import Department
from gridcity.dispatch.actions import catalogue, rule_config
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.grids.models import Area
from gridcity.system import stamps
from gridcity.taxonomy.models import Category, FilingCondition


@receiver([post_save, post_delete], sender=ResponsibilityRule)
@receiver([post_save, post_delete], sender=Department)
@receiver([post_save, post_delete], sender=Area)
@receiver([post_save, post_delete], sender=Category)
@receiver([post_save, post_delete], sender=FilingCondition)
def rules_changed(sender, **kwargs) -> None:
    stamps.changed(stamps.DISPATCH, rule_config)
    # The same stamp: the other processes reload both; this one drops its copy at once.
    catalogue.forget()
    transaction.on_commit(catalogue.forget)
