from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("taxonomy", "0002_seed_gbt47678_5_categories")]

    operations = [
        migrations.AddField(
            model_name="category",
            name="place_free",
            field=models.BooleanField(
                default=False,
                help_text="如账户咨询等与地点无关的诉求：没有位置的上报不进入待定位队列，按类别派遣（只匹配不限区域的责任规则）。",
                verbose_name="无需位置",
            ),
        ),
    ]
