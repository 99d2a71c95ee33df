from datetime import timedelta

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def give_every_token_an_end(apps, schema_editor):
    """Tokens made before tokens expired end a lifetime after they were made, but never sooner
    than 30 days after this upgrade, so devices in the field are not cut off by it."""
    ApiToken = apps.get_model("accounts", "ApiToken")
    lifetime = timedelta(days=getattr(settings, "GRIDCITY_TOKEN_LIFETIME_DAYS", 90))
    floor = django.utils.timezone.now() + timedelta(days=30)
    for token in ApiToken.objects.filter(expires_at__isnull=True).only("pk", "created_at"):
        ApiToken.objects.filter(pk=token.pk).update(
            expires_at=max(token.created_at + lifetime, floor)
        )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_audit_entry'),
    ]

    operations = [
        migrations.AddField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(null=True, verbose_name='到期时间'),
        ),
        migrations.RunPython(give_every_token_an_end, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(verbose_name='到期时间'),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='replaced_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='accounts.apitoken', verbose_name='轮换为'),
        ),
        migrations.CreateModel(
            name='SignInEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='时间')),
                ('username', models.CharField(blank=True, max_length=150, verbose_name='输入的用户名')),
                ('ip_address', models.GenericIPAddressField(blank=True, null=True, verbose_name='客户端地址')),
                ('user_agent', models.CharField(blank=True, max_length=300, verbose_name='浏览器')),
                ('outcome', models.CharField(choices=[('success', '登录成功'), ('password_ok', '密码正确，待两步验证'), ('failed', '用户名或密码错误'), ('locked', '尝试过多，已拒绝'), ('otp_failed', '动态验证码错误'), ('inactive', '账号已停用')], max_length=16, verbose_name='结果')),
                ('two_factor', models.BooleanField(default=False, verbose_name='两步验证')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='sign_ins', to=settings.AUTH_USER_MODEL, verbose_name='用户')),
            ],
            options={
                'verbose_name': '登录记录',
                'verbose_name_plural': '登录记录',
                'ordering': ['-at', '-pk'],
                'indexes': [models.Index(fields=['user', '-at'], name='signin_user_at')],
            },
        ),
    ]
