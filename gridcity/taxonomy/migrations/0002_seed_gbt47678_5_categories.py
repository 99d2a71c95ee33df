"""Load the national category standard GB/T 47678.5-2026 (reference data, not demo data)."""

from django.db import migrations


def seed(apps, schema_editor):
    from gridcity.taxonomy.actions import gbt_rows

    Category = apps.get_model("taxonomy", "Category")
    existing = set(Category.objects.values_list("kind", "code"))
    Category.objects.bulk_create([
        Category(kind=r["kind"], code=r["code"], major_code=r["major_code"],
                 major_name=r["major_name"], name=r["name"])
        for r in gbt_rows() if (r["kind"], r["code"]) not in existing
    ])


class Migration(migrations.Migration):
    dependencies = [("taxonomy", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
