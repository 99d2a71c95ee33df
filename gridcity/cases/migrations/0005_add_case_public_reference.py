"""A column for the cases' public reference (查询码), empty at first: the next migration fills
it batch by batch, the one after makes it required."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_supervision_addressee_settlement")]

    operations = [
        migrations.AddField(
            model_name="case",
            name="public_reference",
            # Unique already: empty values do not collide, filled ones may not.
            field=models.CharField(
                editable=False, max_length=10, null=True, unique=True, verbose_name="查询码"
            ),
        ),
    ]
