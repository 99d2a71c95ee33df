"""Requests carrying NUL characters are refused before any view runs: PostgreSQL text cannot
hold them, and no legitimate form, query or JSON value contains one."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RejectNulBytesMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = self._nul_field(request)
        if field is not None and request.path.startswith("/open311/"):
            # Open311 partners expect the GeoReport error list, in the format they asked for.
            from gridcity.open311.render import error

            fmt = "xml" if request.path.endswith(".xml") else "json"
            return error(fmt, 400, f"{field} contains a NUL character")
        if field is not None:
            return JsonResponse(
                {"error": f"{field}：含有不允许的空字符（NUL）", "field": field}, status=400
            )
        return self.get_response(request)

    @staticmethod
    def _nul_field(request: HttpRequest) -> str | None:
        if "\x00" in request.path:
            return "path"
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return key.replace("\x00", "") or "query"
        content_type = request.content_type or ""
        if content_type == "application/json":
            body = request.body
            if b"\\u0000" in body or b"\x00" in body:
                return "body"
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, values in request.POST.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return key.replace("\x00", "") or "form"
        return None


class TrustedProxyMiddleware:
    """Behind a load balancer every request comes from the balancer's address. When the peer is
    one of GRIDCITY_TRUSTED_PROXIES, the client's address is the last one in X-Forwarded-For
    that is not itself a trusted proxy, so rate limits and logs see the real client; a header
    from anyone else is ignored (it could be forged)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.trusted = set(getattr(settings, "GRIDCITY_TRUSTED_PROXIES", []))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.trusted and request.META.get("REMOTE_ADDR") in self.trusted:
            forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
            hops = [h.strip() for h in forwarded.split(",") if h.strip()]
            while hops and hops[-1] in self.trusted:
                hops.pop()
            if hops:
                request.META["REMOTE_ADDR"] = hops[-1]
        return self.get_response(request)
