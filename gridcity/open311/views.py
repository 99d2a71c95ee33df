"""GeoReport v2 under /open311/v2/. Thin: parse the parameters, call the intake action or a
query, shape the answer with `services`, write it with `render`.

Every bad input is a 4xx in the GeoReport error shape, never a 500. An empty optional
parameter is treated as absent, as several city clients send `?service_code=&status=`."""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.cases.models import Case, CaseEvent, Channel
from gridcity.cases.public import public_events
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.bounds import EARLIEST_DATE, LATEST_DATE, MAX_PAGE
from gridcity.lib.clientip import client_ip
from gridcity.lib.coords import validate_lonlat
from gridcity.lib.errors import CaseError, InvalidInput
from gridcity.lib.ratelimit import hit, per_address
from gridcity.lib.text import clean_text
from gridcity.open311 import catalog
from gridcity.open311 import services as s
from gridcity.open311.keys import authenticate_key
from gridcity.open311.render import CONTENT_TYPES, document, error, respond
from gridcity.taxonomy.models import FilingCondition

MAX_WINDOW = timedelta(days=90)
MAX_PAGE_SIZE = 1000
# The spec lets a server choose ("first 1000 requests … whichever is smallest"); a hundred is
# what the other servers answer by default, and a page a client can always take in one go.
DEFAULT_PAGE_SIZE = 100
MAX_DESCRIPTION = 4000
DEFAULT_RATE_LIMITS = {
    # (requests, seconds), sliding. A valid api_key has its own quota wherever it calls from
    # (an administrator may give one key more: ApiKey.reads_per_minute / writes_per_minute);
    # a request without one, or with a wrong one, counts against its client address.
    "read_per_ip": (600, 60),
    "read_per_key": (3000, 60),
    "write_per_ip": (30, 60),
    "write_per_key": (300, 60),
}


class BadRequest(Exception):
    def __init__(self, description: str, status: int = 400, headers: dict | None = None):
        super().__init__(description)
        self.description = description
        self.status = status
        self.headers = headers or {}


def _param(request: HttpRequest, name: str) -> str | None:
    """A parameter from the form body or the query string; empty means absent."""
    raw = request.POST.get(name) if request.method == "POST" else None
    if raw is None or not raw.strip():
        raw = request.GET.get(name)
    if raw is None:
        return None
    if "\x00" in raw:
        raise BadRequest(f"{name}: contains a NUL character")
    return clean_text(raw, multiline=True) or None


def _all_params(request: HttpRequest):
    for source in (request.GET, request.POST) if request.method == "POST" else (request.GET,):
        for key in source:
            yield key, source.getlist(key)


def _rate_limit(request: HttpRequest) -> None:
    """The key first: a partner's valid key is counted on its own, so wrong keys sent from the
    same address (or anywhere) never use up its quota. Without a valid key, the client address.
    The key found is kept on the request as `open311_key` (None without a valid one)."""
    raw = _param(request, "api_key") or request.headers.get("X-Api-Key", "")
    key = request.open311_key = authenticate_key(raw) if raw else None
    verb = "write" if request.method == "POST" else "read"
    if key is not None:
        bucket, identity = f"{verb}_per_key", str(key.pk)
    else:
        bucket, identity = f"{verb}_per_ip", per_address(client_ip(request))
    limits = {**DEFAULT_RATE_LIMITS, **getattr(settings, "GRIDCITY_OPEN311_RATE_LIMITS", {})}
    rate = limits.get(bucket)
    if key is not None:
        own = key.reads_per_minute if verb == "read" else key.writes_per_minute
        if own:
            rate = (own, 60)
    verdict = hit(f"open311:{bucket}", identity, rate)
    if not verdict.allowed:
        raise BadRequest(
            f"rate limit exceeded: {rate[0]} requests per {rate[1]} s",
            429,
            {"Retry-After": str(verdict.retry_after)},
        )


def _jurisdiction(request: HttpRequest) -> Area | None:
    code = _param(request, "jurisdiction_id")
    if code is None:
        return None
    area = Area.objects.filter(code=code[:32], is_active=True).first()
    if area is None or not (area.level == AreaLevel.DISTRICT or area.parent_id is None):
        raise BadRequest(f"jurisdiction_id {code[:50]} not found", 404)
    return area


def _endpoint(view):
    """Common frame: rate limit by key or client address, turn BadRequest into a GeoReport
    error."""

    def wrapped(request: HttpRequest, fmt: str, **kwargs) -> HttpResponse:
        try:
            _rate_limit(request)
            return view(request, fmt, **kwargs)
        except BadRequest as exc:
            return error(fmt, exc.status, exc.description, exc.headers)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _internal(request: HttpRequest) -> bool:
    """Notes and staff only for a partner whose key the administrator allowed to see them."""
    key = getattr(request, "open311_key", None)
    return bool(key is not None and key.may_see_internal)


def _absolute(request: HttpRequest):
    return request.build_absolute_uri


# ---------------------------------------------------------------------------------------------
# Discovery and services


@require_GET
@_endpoint
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    base = request.build_absolute_uri("/open311/v2/")
    body = {
        "changeset": w3c_now_day(),
        "contact": getattr(settings, "GRIDCITY_OPEN311_CONTACT", ""),
        "key_service": getattr(settings, "GRIDCITY_OPEN311_KEY_SERVICE", "")
        or "api_key：由系统管理员用 `gridcity open311-key create 名称` 签发",
        "endpoints": [
            {
                "specification": s.SPECIFICATION,
                "url": base.rstrip("/"),
                "changeset": w3c_now_day(),
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(fmt, "discovery", None, body)


def w3c_now_day() -> str:
    now = timezone.localtime()
    return s.w3c(now.replace(hour=0, minute=0, second=0, microsecond=0))


def _validated(request: HttpRequest, fmt: str, doc: catalog.Document) -> HttpResponse:
    """A cached document, or 304 to a client whose copy (If-None-Match, If-Modified-Since)
    is current. `no-cache`: a client may keep it but asks again, so a change shows at once."""
    response = get_conditional_response(
        request, etag=doc.etag, last_modified=int(doc.last_modified)
    )
    if response is None:
        response = HttpResponse(doc.content, content_type=CONTENT_TYPES[fmt])
    response["ETag"] = doc.etag
    response["Last-Modified"] = catalog.http_date(doc.last_modified)
    response["Cache-Control"] = "public, no-cache"
    return response


@require_GET
@_endpoint
def service_list(request: HttpRequest, fmt: str) -> HttpResponse:
    _jurisdiction(request)

    def build() -> bytes:
        rows = [s.service_out(c) for c in s.active_categories()]
        return document(fmt, "services", "service", rows)

    return _validated(request, fmt, catalog.document(("services", fmt), build))


def _category(code: str):
    """A published service code from the catalog; other spellings (`matter:06042`, a bare or
    legacy code) through the taxonomy."""
    found = catalog.active_category(code)
    return found if found is not None else s.category_for(code)


@require_GET
@_endpoint
def service_definition(request: HttpRequest, fmt: str, code: str) -> HttpResponse:
    _jurisdiction(request)
    category = _category(code)
    if category is None:
        raise BadRequest(f"service_code {code[:50]} not found", 404)

    def build() -> bytes:
        return document(fmt, "service_definition", None, s.definition_out(category))

    return _validated(
        request, fmt, catalog.document(("definition", s.service_code(category), fmt), build)
    )


# ---------------------------------------------------------------------------------------------
# Requests


@csrf_exempt
@require_http_methods(["GET", "POST"])
@_endpoint
def requests_view(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _post_request(request, fmt)
    return _list_requests(request, fmt)


def _parse_w3c(name: str, raw: str) -> datetime:
    text = raw.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"{name}: not a W3C datetime, e.g. 2024-05-01T08:00:00+08:00") from exc
    if not EARLIEST_DATE <= dt.date() <= LATEST_DATE:
        raise BadRequest(f"{name}: out of range ({EARLIEST_DATE} to {LATEST_DATE})")
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt, timezone.get_current_timezone())
    return dt


def _window(request: HttpRequest, *, default_days: int = 90) -> tuple[datetime, datetime]:
    start_raw, end_raw = _param(request, "start_date"), _param(request, "end_date")
    try:
        start = _parse_w3c("start_date", start_raw) if start_raw else None
        end = _parse_w3c("end_date", end_raw) if end_raw else None
        if start and end:
            if end < start:
                raise BadRequest("end_date is before start_date")
            if end - start > MAX_WINDOW:
                raise BadRequest("start_date and end_date may not span more than 90 days")
        elif start:
            end = min(start + MAX_WINDOW, timezone.now())
            end = max(end, start)
        elif end:
            start = end - MAX_WINDOW
        else:
            end = timezone.now()
            start = end - timedelta(days=default_days)
    except OverflowError as exc:
        raise BadRequest("start_date or end_date out of range") from exc
    return start, end


def _page(request: HttpRequest) -> tuple[int, int]:
    try:
        page = int(_param(request, "page") or 1)
        size = int(_param(request, "page_size") or DEFAULT_PAGE_SIZE)
    except ValueError as exc:
        raise BadRequest("page and page_size must be whole numbers") from exc
    if not 1 <= page <= MAX_PAGE:
        raise BadRequest(f"page must be between 1 and {MAX_PAGE}")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    return page, size


def _flag(request: HttpRequest, name: str) -> bool:
    value = (_param(request, name) or "").lower()
    if value in ("", "false", "0", "no"):
        return False
    if value in ("true", "1", "yes"):
        return True
    raise BadRequest(f"{name} must be true or false")


def _list_requests(request: HttpRequest, fmt: str) -> HttpResponse:
    area = _jurisdiction(request)
    extensions = _flag(request, "extensions")
    page, size = _page(request)
    qs = Case.objects.all()
    if area is not None:
        qs = qs.filter(area_path__startswith=area.path)
    ids = _param(request, "service_request_id")
    if ids:
        # A list of ids overrides every other filter (and the default window).
        numbers = [i.strip() for i in ids.split(",") if i.strip()]
        if len(numbers) > MAX_PAGE_SIZE:
            raise BadRequest(f"at most {MAX_PAGE_SIZE} service_request_id at once")
        qs = qs.filter(number__in=[n[:20] for n in numbers])
    else:
        codes = _param(request, "service_code")
        if codes:
            cats = []
            for code in (c.strip() for c in codes.split(",")):
                if not code:
                    continue
                cat = _category(code)
                if cat is None:
                    raise BadRequest(f"service_code {code[:50]} not found")
                cats.append(cat.pk)
            qs = qs.filter(category_id__in=cats)
        statuses = _param(request, "status")
        if statuses:
            wanted = {x.strip().lower() for x in statuses.split(",") if x.strip()}
            if not wanted <= {"open", "closed"}:
                raise BadRequest("status must be open, closed or both (comma separated)")
            qs = qs.filter(s.status_filter(wanted))
        start, end = _window(request)
        qs = qs.filter(reported_at__gte=start, reported_at__lte=end)
    internal = _internal(request)
    offset = (page - 1) * size
    lean = s.lean_requests(qs, extensions=extensions, internal=internal)
    rows = list(lean.order_by("-reported_at", "-pk")[offset : offset + size])
    # A short page is the last one: its count needs no query.
    last = len(rows) < size and (rows or page == 1)
    total = offset + len(rows) if last else qs.count()
    response = _requests_response(request, fmt, rows, extensions=extensions, internal=internal)
    response["X-Result-Count"] = str(total)
    links = []
    if offset + len(rows) < total:
        links.append(f'<{_page_url(request, page + 1)}>; rel="next"')
    if page > 1:
        links.append(f'<{_page_url(request, page - 1)}>; rel="prev"')
    if links:
        response["Link"] = ", ".join(links)
    return response


def _page_url(request: HttpRequest, page: int) -> str:
    # Without api_key: a key belongs in the X-Api-Key header, not in a link that gets logged.
    query = request.GET.copy()
    query.pop("api_key", None)
    query["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _requests_response(
    request: HttpRequest, fmt: str, rows: list[dict], *, extensions: bool, internal: bool
) -> HttpResponse:
    body = s.requests_out(
        rows,
        categories=catalog.catalog().by_pk,
        absolute=_absolute(request),
        extensions=extensions,
        internal=internal,
    )
    return respond(fmt, "service_requests", "request", body)


@require_GET
@_endpoint
def request_detail(request: HttpRequest, fmt: str, request_id: str) -> HttpResponse:
    area = _jurisdiction(request)
    extensions = _flag(request, "extensions")
    qs = Case.objects.filter(number=request_id[:20])
    if area is not None:
        qs = qs.filter(area_path__startswith=area.path)
    internal = _internal(request)
    rows = list(s.lean_requests(qs, extensions=extensions, internal=internal)[:1])
    if not rows:
        raise BadRequest(f"service_request_id {request_id[:50]} not found", 404)
    return _requests_response(request, fmt, rows, extensions=extensions, internal=internal)


@require_GET
@_endpoint
def token_detail(request: HttpRequest, fmt: str, token: str) -> HttpResponse:
    # POST answers with the service_request_id at once, so no token is ever issued.
    raise BadRequest(f"token {token[:50]} not found: requests are answered with their id", 404)


@require_GET
@_endpoint
def request_updates(request: HttpRequest, fmt: str) -> HttpResponse:
    """Extension for synchronising: every public step of a case (every recorded change, for a
    key that may see internal detail) in the window, oldest first, so a client can page through
    and keep the last `updated_datetime` as its mark."""
    area = _jurisdiction(request)
    page, size = _page(request)
    start, end = _window(request, default_days=1)
    internal = _internal(request)
    qs = CaseEvent.objects.filter(at__gte=start, at__lte=end).select_related("case", "department")
    qs = qs.select_related("actor") if internal else public_events(qs)
    if area is not None:
        qs = qs.filter(case__area_path__startswith=area.path)
    rows = qs.order_by("at", "pk")[(page - 1) * size : page * size]
    body = [s.update_out(e, internal=internal) for e in rows]
    return respond(fmt, "service_request_updates", "request_update", body)


# ---------------------------------------------------------------------------------------------
# POST requests


def _float(name: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequest(f"{name}: not a number") from exc
    if not math.isfinite(value):
        raise BadRequest(f"{name}: not a finite number")
    return value


def _attributes(request: HttpRequest) -> dict[str, str | list[str]]:
    """`attribute[code]=v` and `attribute[code][]=v1&attribute[code][]=v2`."""
    out: dict[str, str | list[str]] = {}
    for key, values in _all_params(request):
        if not key.startswith("attribute[") or not key.endswith("]"):
            continue
        inner = key[len("attribute[") : -1]
        multi = inner.endswith("][")
        code = inner[:-2] if multi else inner
        if not code or "[" in code or "]" in code or len(code) > 50:
            raise BadRequest(f"{key[:60]}: not a valid attribute name")
        if any("\x00" in v for v in values):
            raise BadRequest(f"{key[:60]}: contains a NUL character")
        values = [v for v in map(clean_text, values) if v]
        if not values:
            continue
        if multi:
            out[code] = list(dict.fromkeys([*out.get(code, []), *values]))  # type: ignore[misc]
        elif code not in out:
            out[code] = values[0]
    return out


def _post_request(request: HttpRequest, fmt: str) -> HttpResponse:
    key = request.open311_key
    if key is None:
        raise BadRequest("api_key missing or invalid", 403)
    _jurisdiction(request)
    code = _param(request, "service_code")
    if code is None:
        raise BadRequest("service_code is required")
    category = _category(code)
    if category is None:
        raise BadRequest(f"service_code {code[:50]} not found", 404)

    lat, lon = _float("lat", _param(request, "lat")), _float("long", _param(request, "long"))
    address = _param(request, "address_string") or ""
    address_id = _param(request, "address_id")
    if (lat is None) != (lon is None):
        raise BadRequest("lat and long must be given together")
    if lat is not None:
        try:
            validate_lonlat(lon, lat)
        except ValueError as exc:
            raise BadRequest(f"lat/long: {exc}") from exc
    elif address_id:
        # Our address_id is a grid cell code (as in GET answers): its centre is the location.
        cell = Area.objects.filter(code=address_id[:32], is_active=True).first()
        if cell is None or cell.centroid_lon is None:
            raise BadRequest(f"address_id {address_id[:50]} not found")
        lon, lat = cell.centroid_lon, cell.centroid_lat
    elif not address and not category.place_free:
        # A place-free service (an account question) needs none: it is routed by its type.
        raise BadRequest("a location is required: lat and long, address_string or address_id")
    if len(address) > 300:
        raise BadRequest("address_string may not be longer than 300 characters")

    description = _param(request, "description") or ""
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(f"description may not be longer than {MAX_DESCRIPTION} characters")
    email = _param(request, "email") or ""
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise BadRequest("email is not a valid e-mail address") from exc
    phone = _param(request, "phone") or ""
    if len(phone) > 32:
        raise BadRequest("phone may not be longer than 32 characters")
    media_url = _param(request, "media_url") or ""
    if media_url:
        try:
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError as exc:
            raise BadRequest("media_url is not an http(s) URL") from exc
        if len(media_url) > 500:
            raise BadRequest("media_url may not be longer than 500 characters")
    name = " ".join(x for x in (_param(request, "first_name"), _param(request, "last_name")) if x)

    attrs = _attributes(request)
    condition = None
    raw_condition = attrs.pop(s.CONDITION_ATTRIBUTE, None)
    if raw_condition is not None:
        if not isinstance(raw_condition, str) or not raw_condition.isdigit():
            raise BadRequest("attribute[condition] must be one key of the service definition")
        condition = FilingCondition.objects.filter(pk=int(raw_condition), category=category).first()
        if condition is None:
            raise BadRequest("attribute[condition] is not a value of this service")
    component = attrs.pop(s.COMPONENT_ATTRIBUTE, "")
    if not isinstance(component, str) or len(component) > 17:
        raise BadRequest("attribute[component] must be one component code")
    idem = request.headers.get("Idempotency-Key") or attrs.pop(s.IDEMPOTENCY_ATTRIBUTE, None)
    if idem is not None:
        if not isinstance(idem, str) or not 1 <= len(idem.strip()) <= 80:
            raise BadRequest("the idempotency key must have 1 to 80 characters")
        # Keys are per partner: two partners' "1" are different submissions.
        idem = f"open311:{key.pk}:{idem.strip()}"

    extra = {
        "open311": {
            k: v
            for k, v in {
                "api_key": key.name,
                "device_id": _param(request, "device_id"),
                "account_id": _param(request, "account_id"),
                "media_url": media_url or None,
                "address_id": address_id,
                "attributes": attrs or None,
            }.items()
            if v
        }
    }
    inp = ReportInput(
        category=category,
        channel=Channel.OPEN311,
        lon=lon,
        lat=lat,
        address=address,
        description=description,
        reporter_name=name[:50],
        reporter_phone=phone,
        reporter_email=email,
        filing_condition=condition,
        component_code=component,
        external_id=(_param(request, "device_id") or "")[:100],
        extra=extra,
    )
    try:
        result = do_report_case(inp, acting_user=None, idempotency_key=idem)
    except InvalidInput as exc:
        raise BadRequest(f"{exc.field or 'request'}: {exc.message}") from exc
    except CaseError as exc:
        raise BadRequest(exc.message, exc.status_code) from exc
    body = [
        {
            "service_request_id": result.case.number,
            "service_notice": category.service_notice or None,
            "account_id": _param(request, "account_id"),
        }
    ]
    return respond(fmt, "service_requests", "request", body)
