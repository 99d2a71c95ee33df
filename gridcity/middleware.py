"""The project's own middleware.

Requests carrying NUL characters are refused before any view runs: PostgreSQL text cannot hold
them, and no legitimate form, query or JSON value contains one. Behind trusted proxies the
client's address is the forwarded one. Under /api/ and /open311/ every error is the machine's
format, never an HTML page."""

from django.http import HttpRequest, HttpResponse, JsonResponse

from gridcity.lib.clientip import client_ip


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
    from anyone else is ignored (it could be forged). The rule is `gridcity.lib.clientip`."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.META["REMOTE_ADDR"] = client_ip(request)
        return self.get_response(request)


# What a machine's error may already be written in, per path prefix.
_MACHINE_TYPES = {
    "/api/": ("application/json",),
    "/open311/": ("application/json", "text/xml", "application/xml"),
}
# Headers of the original error that say how to go on: kept on the replacement.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class MachineErrorsMiddleware:
    """Under /api/ and /open311/ every error is JSON (or GeoReport XML for a .xml path), never
    a page: the 405 of a view that takes only GET, the debug page of a 404 or a 500 when DEBUG
    is on, a library's plain-text traceback. An error already in the right format is left as it
    is; any other is replaced by `gridcity.web.errors.machine_error` for its status. Django has
    already logged whatever raised."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400:
            return response
        path = request.path_info
        prefix = next((p for p in _MACHINE_TYPES if path.startswith(p)), None)
        if prefix is None:
            return response
        content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type in _MACHINE_TYPES[prefix] or content_type.endswith("+json"):
            return response
        from gridcity.web.errors import machine_error

        replacement = machine_error(request, response.status_code)
        for header in _KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        response.close()
        return replacement
