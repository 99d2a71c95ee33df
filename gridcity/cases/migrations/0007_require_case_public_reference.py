"""Every case has its public reference now; new cases get one when they are made."""

from django.db import migrations, models

import gridcity.cases.reference


class Migration(migrations.Migration):
    dependencies = [("cases", "0006_fill_public_references_in_batches")]

    operations = [
        migrations.AlterField(
            model_name="case",
            name="public_reference",
            field=models.CharField(
                default=gridcity.cases.reference.new_public_reference,
                editable=False,
                max_length=10,
                unique=True,
                verbose_name="查询码",
            ),
        ),
    ]
