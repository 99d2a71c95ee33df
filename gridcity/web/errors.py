"""Error responses when DEBUG is off.

Pages get the product's own 400/403/404/500 templates through Django's default views. Machines
never get HTML: under /api/ an error is the API's JSON (`{"error": …, "field": null}`) and under
/open311/ it is a GeoReport error list, in the format named by the path's suffix. These views
cover what Django answers through its handlers; `gridcity.middleware.MachineErrorsMiddleware`
turns every other error under those paths (a 405, a debug page, a 500 written by a library)
into the same shape."""

from http import HTTPStatus

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy
from django.views import defaults

from gridcity.open311.render import error as georeport_error

# The API answers in the request's language (Accept-Language, the language cookie; Chinese by
# default), as gridcity/api.py does; GeoReport clients get the English descriptions that the
# rest of /open311/ uses.
API_MESSAGES = {
    400: gettext_lazy("请求无效"),
    401: gettext_lazy("未登录或令牌无效"),
    403: gettext_lazy("无权执行此操作"),
    404: gettext_lazy("没有这个接口：{path}（接口文档见 /api/docs）"),
    405: gettext_lazy("该接口不支持 {method} 请求"),
    413: gettext_lazy("请求体过大：超过服务器允许的上限"),
    429: gettext_lazy("请求过于频繁，请稍后再试"),
    500: gettext_lazy("服务器内部错误，请稍后重试；如果是提交，请先查询结果再重新提交"),
    503: gettext_lazy("服务暂不可用，请稍后重试"),
}
CSRF_API_MESSAGE = gettext_lazy("CSRF 校验失败：请刷新页面后重试，或改用令牌认证")
GEOREPORT_MESSAGES = {
    400: "bad request",
    403: "forbidden",
    404: "no such endpoint: {path} (see /open311/v2/discovery.json)",
    405: "{method} is not allowed here",
    413: "request entity too large",
    500: "internal server error, please try again later",
}
MACHINE_PREFIXES = ("/api/", "/open311/")


def is_machine_path(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES)


def _message(messages: dict[int, str], fallback: str, request: HttpRequest, status: int) -> str:
    text = messages.get(status, fallback)
    return text.format(path=request.path_info[:200], method=request.method or "")


def machine_error(request: HttpRequest, status: int, message: str = "") -> HttpResponse | None:
    """The error in the API's or GeoReport's own format, or None for a page."""
    path = request.path_info
    if path.startswith("/api/"):
        fallback = gettext("请求失败（HTTP %(status)s）") % {"status": status}
        text = message or _message(API_MESSAGES, fallback, request, status)
        return JsonResponse(
            {"error": str(text), "field": None},
            status=status,
            json_dumps_params={"ensure_ascii": False},
        )
    if path.startswith("/open311/"):
        fmt = "xml" if path.endswith(".xml") else "json"
        try:
            fallback = HTTPStatus(status).phrase.lower()
        except ValueError:
            fallback = f"HTTP {status}"
        text = message or _message(GEOREPORT_MESSAGES, fallback, request, status)
        return georeport_error(fmt, status, text)
    return None


def _page_request(request: HttpRequest) -> HttpRequest:
    """The page templates run the context processors, and the navigation reads request.user:
    an error raised before AuthenticationMiddleware (a bad Host header in CommonMiddleware, an
    unreadable body) is shown as to a visitor who is not logged in, rather than as a 500."""
    if not hasattr(request, "user"):
        request.user = AnonymousUser()
    return request


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Django reports a body over DATA_UPLOAD_MAX_MEMORY_SIZE that came without a length it could
    # check first (chunked) as a bad request; a machine is told what it is.
    status = 413 if isinstance(exception, RequestDataTooBig) else 400
    return machine_error(request, status) or defaults.bad_request(_page_request(request), exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return machine_error(request, 403) or defaults.permission_denied(
        _page_request(request), exception
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return machine_error(request, 404) or defaults.page_not_found(_page_request(request), exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # 500.html needs no context, no database and no URL reversing: whatever broke the request
    # may be broken still. It gets only the nonce that lets its inline style and script run
    # under the Content-Security-Policy.
    response = machine_error(request, 500)
    if response is not None:
        return response
    nonce = getattr(request, "csp_nonce", "")
    return HttpResponseServerError(loader.get_template("500.html").render({"CSP_NONCE": nonce}))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: the form was sent with a missing or stale token, almost always
    because the page stayed open across a login, a logout or a restart. Say so plainly and offer
    the page the form came from, freshly loaded."""
    response = machine_error(request, 403, CSRF_API_MESSAGE)
    if response is not None:
        return response
    request = _page_request(request)
    referer = request.headers.get("Referer", "")
    same_site = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    context = {
        "reason": reason,
        "no_cookie": reason == REASON_NO_CSRF_COOKIE,
        "back_url": referer if referer and same_site else "",
    }
    return render(request, "403_csrf.html", context, status=403)
