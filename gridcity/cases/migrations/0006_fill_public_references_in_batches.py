"""Give every existing case a random public reference, a few thousand cases per transaction,
so that a city with millions of cases migrates without one huge transaction and an interrupted
run resumes where it stopped."""

from django.db import migrations, transaction

BATCH = 2000


def fill(apps, schema_editor):
    from gridcity.cases.reference import new_public_reference

    Case = apps.get_model("cases", "Case")
    db = schema_editor.connection.alias
    cases = Case.objects.using(db)
    last = 0
    while True:
        with transaction.atomic(using=db):
            pks = list(
                cases.filter(pk__gt=last, public_reference__isnull=True)
                .order_by("pk")
                .values_list("pk", flat=True)[:BATCH]
            )
            if not pks:
                return
            refs: set[str] = set()
            while len(refs) < len(pks):
                fresh = {new_public_reference() for _ in range(len(pks) - len(refs))} - refs
                taken = set(
                    cases.filter(public_reference__in=fresh).values_list(
                        "public_reference", flat=True
                    )
                )
                refs |= fresh - taken
            rows = [Case(pk=pk, public_reference=ref) for pk, ref in zip(pks, list(refs))]
            cases.bulk_update(rows, ["public_reference"], batch_size=500)
            last = pks[-1]


class Migration(migrations.Migration):
    # Each batch commits on its own (see above).
    atomic = False

    dependencies = [("cases", "0005_add_case_public_reference")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop, elidable=True)]
