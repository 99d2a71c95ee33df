"""`check --deploy` says when a production installation signs staff in with a password alone."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def two_factor_is_required(app_configs, **kwargs) -> list[Warning]:
    if getattr(settings, "PRODUCTION", False) and not settings.GRIDCITY_REQUIRE_2FA:
        return [
            Warning(
                "GRIDCITY_REQUIRE_2FA=0: administrators, centre staff and leaders sign in with "
                "a password alone.",
                hint="Unset GRIDCITY_REQUIRE_2FA (it is on by default in production).",
                id="gridcity.W201",
            )
        ]
    return []
