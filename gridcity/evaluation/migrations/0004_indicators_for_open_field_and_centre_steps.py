"""Two stock indicators for steps left overdue at a period's end outside the departments:
超期未核实核查数 (grid managers, areas) and 超期未立案派遣结案数 (areas). In the library, in no
default scheme."""

from django.db import migrations

NEW = [("overdue_unchecked", "超期未核实核查数"), ("overdue_centre_open", "超期未立案派遣结案数")]


def add(apps, schema_editor):
    Indicator = apps.get_model("evaluation", "Indicator")
    for key, name in NEW:
        Indicator.objects.get_or_create(key=key, defaults={"name": name, "direction": "lower"})


def remove(apps, schema_editor):
    apps.get_model("evaluation", "Indicator").objects.filter(key__in=[k for k, _ in NEW]).delete()


class Migration(migrations.Migration):
    dependencies = [("evaluation", "0003_frozen_facts_share_the_live_columns")]

    operations = [migrations.RunPython(add, remove)]
