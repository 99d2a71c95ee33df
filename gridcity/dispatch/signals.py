"""Drop the cached responsibility rules when they, or what they name, change (in this process)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from gridcity.accounts.models import Department
from gridcity.dispatch.actions import forget_rules
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.grids.models import Area


@receiver([post_save, post_delete], sender=ResponsibilityRule)
@receiver([post_save, post_delete], sender=Department)
@receiver([post_save, post_delete], sender=Area)
def rules_changed(sender, **kwargs) -> None:
    forget_rules()
