"""The grid manager's phone as an installable app: the web app manifest, the icons, the service
worker, and the list of pages and data a phone keeps for working offline.

The service worker is served from the site root so that its scope covers /field/ and
/people/patrol/; it keeps a copy of the field pages each time they load with the network, and
answers from that copy when the network is gone. Which pages and data to keep is decided here
per user (`offline_shell`): a grid manager's task pages, her beat's cells and the categories."""

import hashlib
import io
import json
from functools import lru_cache

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from PIL import Image, ImageDraw

from gridcity.accounts.models import Role
from gridcity.cases.scope import visible_to
from gridcity.grids.models import Area, AreaLevel, Beat

THEME = "#0b5cad"
BACKGROUND = "#f4f6f8"
ICON_SIZES = (192, 512)

# Changing this makes every phone drop its copies of the shell and fetch them again.
SHELL_VERSION = "1"

# The static files every field page needs, besides the ones a page names itself.
SHELL_STATIC = (
    "web/app.css",
    "web/app.js",
    "web/pwa.css",
    "web/pwa.js",
    "web/outbox.js",
    "web/field.js",
    "django_htmx/htmx-2.min.js",
    "leaflet/leaflet.css",
    "leaflet/leaflet.js",
    "leaflet/images/marker-icon.png",
    "leaflet/images/marker-icon-2x.png",
    "leaflet/images/marker-shadow.png",
    "leaflet/images/layers.png",
    "people/patrol.js",
    "people/people.css",
)


# ---------------------------------------------------------------------------------------------
# Icons, drawn here: a blue tile, a white 3 × 3 grid, an orange pin on the middle cell.


def _draw_icon(size: int, *, maskable: bool = False) -> Image.Image:
    img = Image.new("RGB", (size, size), THEME if maskable else BACKGROUND)
    d = ImageDraw.Draw(img)
    # A maskable icon's safe zone is the inner 80 %; an ordinary one gets rounded corners.
    inset = round(size * 0.1) if maskable else 0
    if not maskable:
        d.rounded_rectangle(
            (0, 0, size - 1, size - 1), radius=round(size * 0.18), fill=THEME, outline=None
        )
    box = size - 2 * inset
    left = inset + round(box * 0.2)
    right = inset + round(box * 0.8)
    line = max(1, round(size / 40))
    for i in range(4):
        x = left + round((right - left) * i / 3)
        d.line((x, left, x, right), fill="white", width=line)
        d.line((left, x, right, x), fill="white", width=line)
    cx = (left + right) / 2
    r = (right - left) / 6 * 0.8
    d.ellipse((cx - r, cx - r * 1.4, cx + r, cx + r * 0.6), fill="#f39c12")
    d.polygon([(cx - r * 0.7, cx), (cx + r * 0.7, cx), (cx, cx + r * 1.5)], fill="#f39c12")
    d.ellipse((cx - r * 0.35, cx - r * 0.75, cx + r * 0.35, cx - r * 0.05), fill="white")
    if not maskable:
        # The corners outside the rounded tile are transparent.
        mask = Image.new("L", (size, size), 0)
        ImageDraw.Draw(mask).rounded_rectangle(
            (0, 0, size - 1, size - 1), radius=round(size * 0.18), fill=255
        )
        img = img.convert("RGBA")
        img.putalpha(mask)
    return img


@lru_cache(maxsize=8)
def icon_png(size: int, maskable: bool = False) -> bytes:
    out = io.BytesIO()
    _draw_icon(size, maskable=maskable).save(out, format="PNG", optimize=True)
    return out.getvalue()


@lru_cache(maxsize=1)
def favicon_ico() -> bytes:
    out = io.BytesIO()
    _draw_icon(64).save(out, format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    return out.getvalue()


def _cached_for_a_day(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "public, max-age=86400"
    return response


@login_not_required
def icon(request: HttpRequest, name: str) -> HttpResponse:
    sizes = {f"icon-{s}.png": (s, False) for s in ICON_SIZES}
    sizes |= {f"maskable-{s}.png": (s, True) for s in ICON_SIZES}
    sizes["apple-touch-icon.png"] = (180, True)
    if name not in sizes:
        return HttpResponse(status=404)
    size, maskable = sizes[name]
    return _cached_for_a_day(HttpResponse(icon_png(size, maskable), content_type="image/png"))


@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    return _cached_for_a_day(HttpResponse(favicon_ico(), content_type="image/x-icon"))


# ---------------------------------------------------------------------------------------------
# The manifest and the service worker


@login_not_required
def manifest(request: HttpRequest) -> HttpResponse:
    icons = [
        {"src": f"/icons/icon-{s}.png", "sizes": f"{s}x{s}", "type": "image/png"}
        for s in ICON_SIZES
    ] + [
        {
            "src": f"/icons/maskable-{s}.png",
            "sizes": f"{s}x{s}",
            "type": "image/png",
            "purpose": "maskable",
        }
        for s in ICON_SIZES
    ]
    body = {
        "name": _("网格精治 · 网格员"),
        "short_name": _("网格精治"),
        "description": _("网格员的巡查、上报、核实核查与打卡，无网络时也能用"),
        "lang": get_language() or "zh-hans",
        "id": "/field/",
        "start_url": "/field/",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME,
        "background_color": BACKGROUND,
        "icons": icons,
        "shortcuts": [
            {"name": _("上报问题"), "url": "/field/report/"},
            {"name": _("巡查"), "url": "/people/patrol/"},
        ],
    }
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), content_type="application/manifest+json"
    )
    response["Vary"] = "Cookie, Accept-Language"
    return response


@login_not_required
@never_cache
def service_worker(request: HttpRequest) -> HttpResponse:
    files = [static(p) for p in SHELL_STATIC]
    # With hashed static names a release changes the list, hence the worker's bytes: phones
    # install the new worker, which keeps the new files and drops the old copies.
    digest = hashlib.sha256("\n".join(files).encode()).hexdigest()[:10]
    config = {
        "version": f"{SHELL_VERSION}-{digest}",
        "static": files,
        "outbox": static("web/outbox.js"),
        "shell": reverse("web:pwa_shell"),
        "logout": reverse("web:logout"),
        "login": reverse("web:login"),
    }
    body = render_to_string("web/field/sw.js", {"config": json.dumps(config)})
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    # Served from the root, it may control every page of the site; it answers only for the
    # field pages and passes everything else through untouched.
    response["Service-Worker-Allowed"] = "/"
    return response


def _field_user(user) -> bool:
    return user.is_authenticated and user.role in (Role.INSPECTOR, Role.ADMIN)


def beat_area_urls(user) -> list[str]:
    """The area layers the location map asks for, over the whole beat: offline, any view of
    the beat is drawn from these."""
    bounds = [
        (a.min_lon, a.min_lat, a.max_lon, a.max_lat)
        for a in Area.objects.filter(beats__manager=user, level=AreaLevel.CELL)
        .exclude(min_lon=None)
        .only("min_lon", "min_lat", "max_lon", "max_lat")
    ]
    if not bounds:
        return []
    box = (
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    )
    # Padded like the map pads its view, so that the beat's edge is drawn too.
    pad_lon, pad_lat = (box[2] - box[0]) * 0.3, (box[3] - box[1]) * 0.3
    bbox = ",".join(
        f"{v:.6f}" for v in (box[0] - pad_lon, box[1] - pad_lat, box[2] + pad_lon, box[3] + pad_lat)
    )
    return [f"/api/areas?level={level}&bbox={bbox}&limit=3000" for level in (2, 3, 4)]


def offline_shell(user) -> dict:
    """What a phone keeps for this user: pages to open offline, data the pages fetch."""
    if not _field_user(user):
        return {"pages": [], "data": []}
    from gridcity.web.field import TASK_STATUSES

    pages = [reverse("web:field_home"), reverse("web:field_report"), reverse("people:patrol")]
    numbers = (
        visible_to(user)
        .filter(assignee=user, status__in=TASK_STATUSES)
        .order_by("-reported_at")
        .values_list("number", flat=True)[:200]
    )
    pages += [reverse("web:field_task", args=[n]) for n in numbers]
    data = ["/api/categories", reverse("javascript_catalog"), *beat_area_urls(user)]
    return {"pages": pages, "data": data}


@never_cache
def shell(request: HttpRequest) -> JsonResponse:
    """For the service worker: the pages and data to keep, the words of its offline page in
    the user's language, and a CSRF token for sending the outbox while no page is open."""
    body = offline_shell(request.user)
    body["user"] = request.user.pk if request.user.is_authenticated else None
    body["has_beat"] = (
        request.user.is_authenticated and Beat.objects.filter(manager=request.user).exists()
    )
    body["csrf"] = get_token(request)
    body["offline_page"] = render_to_string("web/field/offline.html", request=request)
    return JsonResponse(body)
