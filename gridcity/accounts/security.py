"""Sign-in defences: how failed passwords lock an account and a client out (django-axes, counted
in the database so every node agrees), and who must pass a second factor (django-otp TOTP).

Why django-axes rather than counters in the cache: the attempts are rows in the database every
worker and node already shares, they survive a restart or a cache flush (an attacker cannot
reset them by filling the cache), the admin lists and clears them, and the check sits in
Django's `authenticate()`, so every password entry point (the login page, anything that later
calls `authenticate`) is covered. Two things are GridCity's own, in `LoginAttemptHandler`: each
kind of count has its own limit, and a successful sign-in clears only that account's count from
that client."""

from __future__ import annotations

from datetime import datetime

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest

from gridcity.accounts.models import Role, User
from gridcity.lib.clientip import client_ip, parse_address

# The roles that must use a second factor when GRIDCITY_REQUIRE_2FA is on.
TWO_FACTOR_ROLES = frozenset(
    {Role.ADMIN, Role.INTAKE, Role.SHIFT_LEAD, Role.DISPATCHER, Role.LEADER}
)
# Set in the session at sign-in when the user has enrolled a device (optional enrolment): from
# then on that session must be verified too, whatever the role.
ENROLLED_SESSION_KEY = "gridcity_2fa_enrolled"


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the database stores it (an address or nothing): the shared rule
    of gridcity.lib.clientip, so a forged X-Forwarded-For is believed only from a trusted
    proxy."""
    address = parse_address(client_ip(request))
    return str(address) if address is not None else None


def login_limits() -> list[int]:
    """One limit per entry of AXES_LOCKOUT_PARAMETERS, in the same order."""
    limits = settings.GRIDCITY_LOGIN_LIMITS
    by_parameters = {
        ("ip_address", "username"): limits["account_client"],
        ("ip_address",): limits["client"],
        ("username",): limits["account"],
    }
    out = []
    for parameter in settings.AXES_LOCKOUT_PARAMETERS:
        key = tuple(sorted([parameter] if isinstance(parameter, str) else parameter))
        out.append(by_parameters[key])
    return out


class LoginAttemptHandler(AxesDatabaseHandler):
    """django-axes' database handler with a limit per kind of count.

    Axes compares one number (`get_failures`) with one limit (AXES_FAILURE_LIMIT); here that
    number is how far the count nearest its own limit is from it, shifted by AXES_FAILURE_LIMIT,
    so `failures >= AXES_FAILURE_LIMIT` exactly when some count has reached its own limit.
    Failures while locked out are still counted (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT),
    so hammering a locked account also locks the client, and the cool-off runs from the last
    attempt."""

    def _sums(self, request: HttpRequest, credentials: dict | None) -> list[tuple[int, datetime]]:
        out = []
        for attempts in self.get_user_attempts(request, credentials):
            agg = attempts.aggregate(n=Sum("failures_since_start"), last=Max("attempt_time"))
            out.append((agg["n"] or 0, agg["last"]))
        return out

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        worst = max(
            n - limit
            for (n, _), limit in zip(self._sums(request, credentials), login_limits(), strict=True)
        )
        return settings.AXES_FAILURE_LIMIT + worst

    def locked_until(
        self, request: HttpRequest, credentials: dict | None = None
    ) -> datetime | None:
        """When the last of the counts that have reached their limit cools off."""
        cool_off = get_cool_off(request)
        ends = [
            last + cool_off
            for (n, last), limit in zip(
                self._sums(request, credentials), login_limits(), strict=True
            )
            if n >= limit and last is not None
        ]
        return max(ends) if ends else None

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        # Axes would clear every count the request matches, the client's included: an attacker
        # with one valid account could then sign in to it between guesses at another account and
        # never reach the client's limit. Only this account's failures from this client go.
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(
            username=username, ip_address=request.axes_ip_address
        ).delete()
        return count


def locked_until(request: HttpRequest, username: str) -> datetime | None:
    from axes.handlers.proxy import AxesProxyHandler

    AxesProxyHandler.update_request(request)
    handler = AxesProxyHandler.get_implementation()
    if not isinstance(handler, LoginAttemptHandler):
        return None
    return handler.locked_until(request, {settings.AXES_USERNAME_FORM_FIELD: username})


def role_requires_two_factor(user: User) -> bool:
    if not settings.GRIDCITY_REQUIRE_2FA:
        return False
    return user.is_superuser or user.role in TWO_FACTOR_ROLES


def confirmed_device(user: User):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def two_factor_required(user: User, session) -> bool:
    """Whether this signed-in session must be verified with a code before anything else. Read on
    every request, so it asks the database nothing: the role, the setting, and what sign-in
    wrote into the session."""
    if not user.is_authenticated:
        return False
    return role_requires_two_factor(user) or bool(session.get(ENROLLED_SESSION_KEY))
