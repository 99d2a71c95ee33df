"""Drop the cached calendar and step limits when an admin edits them (in this process)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from gridcity.taxonomy.actions import forget_time_config
from gridcity.taxonomy.models import CalendarDay, StepLimit


@receiver([post_save, post_delete], sender=CalendarDay)
@receiver([post_save, post_delete], sender=StepLimit)
def time_config_changed(sender, **kwargs) -> None:
    forget_time_config()
