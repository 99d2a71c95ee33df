"""Fill the evaluation's facts from the events already recorded (the actions keep them current
from here on; `gridcity rebuild-facts` does the same by hand)."""

from django.db import migrations


def fill(apps, schema_editor):
    from gridcity.cases.facts import rebuild_facts

    rebuild_facts(apps=apps)


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_case_facts_for_evaluation"), ("grids", "0001_initial")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop, elidable=True)]
