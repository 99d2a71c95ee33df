"""Stamp the working calendar when an admin edits it or the step limits: every process on every
node reloads them within GRIDCITY_STAMP_CHECK_SECONDS."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from gridcity.system import stamps
from gridcity.taxonomy.actions import time_config
from gridcity.taxonomy.models import CalendarDay, RecurringCalendarDay, StepLimit


@receiver([post_save, post_delete], sender=CalendarDay)
@receiver([post_save, post_delete], sender=RecurringCalendarDay)
@receiver([post_save, post_delete], sender=StepLimit)
def time_config_changed(sender, **kwargs) -> None:
    stamps.changed(stamps.CALENDAR, time_config)
