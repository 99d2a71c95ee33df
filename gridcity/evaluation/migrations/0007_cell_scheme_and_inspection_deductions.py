"""The cells' scheme (单元网格评价方案: the area scheme's measures, a lower minimum volume since
a cell holds few cases) and the inspection deductions (督查扣分, registered by campaigns) in the
active department scheme: 1 point off per point deducted by inspectors, at most 10. The values
are copied here, not imported, so this migration means the same thing forever."""

from django.db import migrations

GRADES = [["A", 90], ["B", 75], ["C", 60], ["D", 40]]
REWORK_BANDS = [[2, 100], [5, 80], [10, 60], [20, 40]]
CELL_ITEMS = [
    ("close_rate", 30, [], False),
    ("on_time_close_rate", 30, [], False),
    ("handle_on_time_rate", 20, [], False),
    ("rework_rate", 20, REWORK_BANDS, False),
]
CELL_MIN_CASES = 5


def seed(apps, schema_editor):
    Indicator = apps.get_model("evaluation", "Indicator")
    Scheme = apps.get_model("evaluation", "Scheme")
    SchemeItem = apps.get_model("evaluation", "SchemeItem")
    SchemeDeduction = apps.get_model("evaluation", "SchemeDeduction")
    if not Scheme.objects.filter(unit_type="cell").exists():
        scheme = Scheme.objects.create(
            name="单元网格评价方案",
            unit_type="cell",
            grades=GRADES,
            min_cases_to_rank=CELL_MIN_CASES,
        )
        for key, weight, bands, relative in CELL_ITEMS:
            indicator = Indicator.objects.filter(key=key).first()
            if indicator is not None:
                SchemeItem.objects.create(
                    scheme=scheme, indicator=indicator, weight=weight, bands=bands,
                    relative=relative,
                )
    department = Scheme.objects.filter(unit_type="department", is_active=True).first()
    if department is not None:
        SchemeDeduction.objects.get_or_create(
            scheme=department,
            source="inspection_deductions",
            defaults={"points_per_unit": 1, "cap": 10},
        )


class Migration(migrations.Migration):
    dependencies = [("evaluation", "0006_scheme_minimum_volume_cells_and_external_deductions")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
