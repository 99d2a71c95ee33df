"""Frozen facts take the live facts' columns (cases.FactColumns): `hours` replaces the start of
a handling step, the missed report's grid manager moves into `u_actor`, and `u_area` (the area
just above the cell) is added. Periods frozen before keep their figures."""

from django.db import migrations, models
from django.db.models import F


def carry_over(apps, schema_editor):
    Fact = apps.get_model("evaluation", "Fact")
    Area = apps.get_model("grids", "Area")
    Fact.objects.filter(measure="missed").update(u_actor=F("u_manager"))
    for fact in Fact.objects.filter(started_at__isnull=False).only("at", "started_at"):
        fact.hours = (fact.at - fact.started_at).total_seconds() / 3600
        fact.save(update_fields=["hours"])
    parents = dict(Area.objects.filter(level=4).values_list("pk", "parent_id"))
    for cell, parent in parents.items():
        Fact.objects.filter(u_cell=cell).update(u_area=parent)


class Migration(migrations.Migration):
    dependencies = [
        ("evaluation", "0002_seed_indicator_library_and_default_schemes"),
        ("grids", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="fact", name="ended_at", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="fact", name="hours", field=models.FloatField(null=True)),
        migrations.AddField(model_name="fact", name="u_area", field=models.BigIntegerField(null=True)),
        migrations.AlterField(model_name="fact", name="measure", field=models.CharField(max_length=24)),
        migrations.RunPython(carry_over, migrations.RunPython.noop),
        migrations.RemoveField(model_name="fact", name="started_at"),
        migrations.RemoveField(model_name="fact", name="u_manager"),
    ]
