"""The one NinjaAPI (v1): routers from each app, authentication, and errors as JSON that
name the field, in the request's language (Chinese unless Accept-Language, the language cookie
or the session chose English)."""

from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyHeader, HttpBearer, SessionAuth

from gridcity.accounts.actions import TokenExpired, authenticate_token
from gridcity.lib.errors import CaseError


class BearerToken(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str):
        user = authenticate_token(token, explain=True)
        if user is not None:
            request.user = user
        return user


class HeaderToken(APIKeyHeader):
    param_name = "X-Api-Token"

    def authenticate(self, request: HttpRequest, key: str | None):
        user = authenticate_token(key or "", explain=True)
        if user is not None:
            request.user = user
        return user


AUTH = [BearerToken(), HeaderToken(), SessionAuth()]


class UTF8JSONRenderer(JSONRenderer):
    """Chinese text as UTF-8, not as \\u escapes: readable in curl, logs and tests."""

    json_dumps_params = {"ensure_ascii": False}


api = NinjaAPI(
    title="GridCity API",
    version="1",
    description=(
        "网格精治 GridCity 的 JSON 接口。认证：请求头 `Authorization: Bearer <token>`"
        "（`gridcity create-token 用户名` 生成），或页面登录会话（需带 CSRF）。"
        '错误统一为 JSON：`{"error": 说明, "field": 字段, ...}`。'
    ),
    auth=AUTH,
    renderer=UTF8JSONRenderer(),
    docs_url="/docs",
    urls_namespace="api",
)

PYDANTIC_MESSAGES = {
    "missing": _("必填"),
    "float_parsing": _("应为数字"),
    "float_type": _("应为数字"),
    "int_parsing": _("应为整数"),
    "int_type": _("应为整数"),
    "int_from_float": _("应为整数"),
    "string_type": _("应为文本"),
    "bool_parsing": _("应为 true 或 false"),
    "bool_type": _("应为 true 或 false"),
    "finite_number": _("不能是 NaN 或无穷大"),
    "greater_than_equal": _("数值过小"),
    "less_than_equal": _("数值过大"),
    "string_too_long": _("过长"),
    "string_too_short": _("过短"),
    "literal_error": _("取值无效"),
    "enum": _("取值无效"),
    "datetime_parsing": _("应为日期时间（ISO 8601）"),
    "datetime_from_date_parsing": _("应为日期时间（ISO 8601）"),
    "date_parsing": _("应为日期（YYYY-MM-DD）"),
    "date_from_datetime_parsing": _("应为日期（YYYY-MM-DD）"),
    "list_type": _("应为数组"),
    "model_attributes_type": _("应为对象"),
    "dict_type": _("应为对象"),
    "json_invalid": _("不是有效的 JSON"),
    "value_error": _("取值无效"),
}


def _field_of(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "payload", "data")]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    fields = {}
    for err in exc.errors:
        name = _field_of(err.get("loc", ()))
        msg = str(PYDANTIC_MESSAGES.get(err.get("type", ""), err.get("msg", gettext("取值无效"))))
        if err.get("type") == "value_error" and err.get("msg", "").startswith("Value error, "):
            msg = err["msg"].removeprefix("Value error, ")
        fields.setdefault(name, msg)
    if not fields:
        return api.create_response(
            request, {"error": gettext("请求体不是有效的 JSON"), "field": "body"}, status=400
        )
    first = next(iter(fields))
    return api.create_response(
        request,
        {
            "error": gettext("%(field)s：%(problem)s") % {"field": first, "problem": fields[first]},
            "field": first,
            "fields": fields,
        },
        status=422,
    )


@api.exception_handler(CaseError)
def on_case_error(request, exc: CaseError):
    # Actions raise their messages through gettext, in the language the request chose.
    body = {"error": str(exc.message), "field": exc.field, **exc.extra}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    return api.create_response(request, {"error": gettext("未登录或令牌无效")}, status=401)


@api.exception_handler(TokenExpired)
def on_token_expired(request, exc: TokenExpired):
    body = {
        "error": str(exc.message),
        "code": "token_expired",
        "expired_at": exc.expired_at.isoformat(),
    }
    return api.create_response(request, body, status=401)


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    return api.create_response(request, {"error": str(exc)}, status=exc.status_code)


api.add_router("/", "gridcity.accounts.api.router")
api.add_router("/", "gridcity.grids.api.router")
api.add_router("/", "gridcity.taxonomy.api.router")
api.add_router("/", "gridcity.cases.api.router")
api.add_router("/", "gridcity.sensors.api.router")
api.add_router("/", "gridcity.evaluation.api.router")
api.add_router("/", "gridcity.campaigns.api.router")
api.add_router("/", "gridcity.people.api.router")
