"""The indicator library and one active scheme per unit type, from DOMAIN.md §6 defaults
(grid manager 40/20/20/20, department 10/30/30/30, dispatcher 20/40/40; grades A ≥ 90,
B ≥ 75, C ≥ 60, D ≥ 40, E below). The values are copied here, not imported, so this
migration means the same thing forever."""

from django.db import migrations

GRADES = [["A", 90], ["B", 75], ["C", 60], ["D", 40]]
REWORK_BANDS = [[2, 100], [5, 80], [10, 60], [20, 40]]
MISS_BANDS = [[5, 100], [10, 80], [20, 60], [40, 40]]
LOWER = {"missed", "miss_rate", "overdue_unhandled", "reworks", "rework_rate", "returns",
         "extensions", "holds", "avg_handle_hours"}
LIBRARY = [
    ("reported", "上报数"), ("valid_reports", "有效上报数"), ("valid_report_rate", "有效上报率"),
    ("missed", "漏报数"), ("miss_rate", "漏报率"), ("verify_due", "应核实数"),
    ("verify_on_time_rate", "按时核实率"), ("check_due", "应核查数"),
    ("check_on_time_rate", "按时核查率"), ("filed", "立案数"), ("file_on_time_rate", "按时立案率"),
    ("file_accuracy", "准确立案率"), ("dispatched", "派遣数"),
    ("dispatch_on_time_rate", "按时派遣率"), ("dispatch_accuracy", "准确派遣率"),
    ("handle_due", "应处置数"), ("handle_on_time_rate", "按时处置率"),
    ("overdue_unhandled", "超期未处置数"), ("reworks", "返工数"), ("rework_rate", "返工率"),
    ("returns", "回退数"), ("extensions", "延期数"), ("holds", "挂账数"),
    ("close_due", "应结案数"), ("closed", "结案数"), ("close_rate", "结案率"),
    ("closed_on_time", "按期结案数"), ("on_time_close_rate", "按期结案率"),
    ("avg_handle_hours", "平均处置时长（小时）"), ("closes", "结案操作数"),
    ("close_on_time_rate", "按时结案率"), ("hotline_sign_rate", "及时签收率（热线）"),
    ("hotline_on_time_rate", "按时办结率（热线）"), ("callback_satisfaction", "回访满意率"),
]
SCHEMES = [
    ("inspector", "网格员考评方案", [
        ("valid_report_rate", 40, [], False), ("miss_rate", 20, MISS_BANDS, False),
        ("verify_on_time_rate", 20, [], False), ("check_on_time_rate", 20, [], False)]),
    ("department", "专业部门考评方案", [
        ("handle_due", 10, [], True), ("close_rate", 30, [], False),
        ("handle_on_time_rate", 30, [], False), ("rework_rate", 30, REWORK_BANDS, False)]),
    ("dispatcher", "派遣员考评方案", [
        ("dispatched", 20, [], True), ("dispatch_on_time_rate", 40, [], False),
        ("dispatch_accuracy", 40, [], False)]),
    ("intake", "受理员考评方案", [
        ("filed", 20, [], True), ("file_on_time_rate", 40, [], False),
        ("file_accuracy", 40, [], False)]),
    ("shift_lead", "值班长考评方案", [
        ("file_on_time_rate", 30, [], False), ("file_accuracy", 30, [], False),
        ("close_on_time_rate", 40, [], False)]),
    ("area", "区域综合评价方案", [
        ("close_rate", 30, [], False), ("on_time_close_rate", 30, [], False),
        ("handle_on_time_rate", 20, [], False), ("rework_rate", 20, REWORK_BANDS, False)]),
]


def seed(apps, schema_editor):
    Indicator = apps.get_model("evaluation", "Indicator")
    Scheme = apps.get_model("evaluation", "Scheme")
    SchemeItem = apps.get_model("evaluation", "SchemeItem")
    by_key = {}
    for key, name in LIBRARY:
        by_key[key], _ = Indicator.objects.get_or_create(
            key=key, defaults={"name": name, "direction": "lower" if key in LOWER else "higher"}
        )
    for unit_type, name, items in SCHEMES:
        if Scheme.objects.filter(unit_type=unit_type).exists():
            continue
        scheme = Scheme.objects.create(name=name, unit_type=unit_type, grades=GRADES)
        for key, weight, bands, relative in items:
            SchemeItem.objects.create(
                scheme=scheme, indicator=by_key[key], weight=weight, bands=bands, relative=relative
            )


class Migration(migrations.Migration):
    dependencies = [("evaluation", "0001_evaluation_models")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
