"""A signed-in session that owes its second factor reaches nothing but the sign-in pages until
it has passed it: pages send it to the code page, and the JSON interfaces and media see no
session at all (a device's token still works). Who owes it: gridcity.accounts.security."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from gridcity.accounts.security import two_factor_required

# Interfaces that answer machines: they get no session rather than a redirect to a page.
SESSIONLESS = ("/api/", "/open311/", "/media/")


class RequireTwoFactorMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self._exempt: tuple[str, ...] | None = None

    def exempt(self) -> tuple[str, ...]:
        if self._exempt is None:
            self._exempt = (
                reverse("web:login"),
                reverse("web:logout"),
                reverse("web:two_factor_setup"),  # /account/2fa/, the code page below it
                reverse("set_language"),
                settings.STATIC_URL,
                "/healthz",
                "/readyz",
                "/metrics",
            )
        return self._exempt

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and two_factor_required(user, request.session)
            and not user.is_verified()
            and not request.path.startswith(self.exempt())
        ):
            if request.path.startswith(SESSIONLESS):
                request.user = AnonymousUser()
            else:
                return self._to_code_page(request)
        return self.get_response(request)

    def _to_code_page(self, request: HttpRequest) -> HttpResponse:
        next_url = request.get_full_path() if request.method == "GET" else "/"
        url = f"{reverse('web:two_factor_verify')}?{urlencode({'next': next_url})}"
        if request.headers.get("HX-Request"):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return HttpResponseRedirect(url)
