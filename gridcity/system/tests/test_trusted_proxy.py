"""Behind haproxy the client's address comes from X-Forwarded-For, and only then."""

from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from gridcity.middleware import TrustedProxyMiddleware


def client_address(remote: str, forwarded: str | None) -> str:
    seen = {}

    def view(request):
        seen["addr"] = request.META["REMOTE_ADDR"]
        return HttpResponse()

    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    TrustedProxyMiddleware(view)(request)
    return seen["addr"]


@override_settings(GRIDCITY_TRUSTED_PROXIES=["10.0.0.5", "10.0.0.6"])
def test_the_address_behind_a_trusted_balancer_is_the_client():
    assert client_address("10.0.0.5", "203.0.113.7") == "203.0.113.7"
    # A client that sends its own header cannot choose its address: the balancer appends the
    # real one, and that is the one taken.
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.7") == "203.0.113.7"
    assert client_address("10.0.0.6", "203.0.113.7, 10.0.0.5") == "203.0.113.7"
    assert client_address("10.0.0.5", None) == "10.0.0.5"


@override_settings(GRIDCITY_TRUSTED_PROXIES=["10.0.0.5"])
def test_a_forwarded_header_from_anyone_else_is_ignored():
    assert client_address("198.51.100.9", "203.0.113.7") == "198.51.100.9"


@override_settings(GRIDCITY_TRUSTED_PROXIES=[])
def test_without_trusted_proxies_nothing_changes():
    assert client_address("10.0.0.5", "203.0.113.7") == "10.0.0.5"
