"""Settings, driven by the environment.

GRIDCITY_DATABASE_URL   database (default: SQLite file in GRIDCITY_DATA_DIR)
GRIDCITY_DATA_DIR       where the SQLite file and uploaded media live (default: ./var)
GRIDCITY_ENV            "production" turns on the secure settings `check --deploy` asks for
GRIDCITY_SECRET_KEY     required in production
GRIDCITY_ALLOWED_HOSTS  comma-separated host names
GRIDCITY_DEBUG          1 for Django's debug pages (`make dev`); off by default, never in production
GRIDCITY_HTTPS          0 for production over plain HTTP (default 1: HSTS, Secure cookies, redirect)
GRIDCITY_PROXY_SSL_HEADER  a header the TLS proxy always sets to "https" (e.g. X-Forwarded-Proto)
GRIDCITY_REDIS_URL      shared cache (rate limits, sessions' throttles) for several processes/nodes
GRIDCITY_PGBOUNCER      1 when the database URL points at PgBouncer in transaction mode
GRIDCITY_MEDIA_STORAGE  "local" (default) or "s3" (see GRIDCITY_S3_*)
GRIDCITY_REQUIRE_2FA    1: administrators, centre staff and leaders must use TOTP (production default)
GRIDCITY_LOGIN_COOLOFF_MINUTES, GRIDCITY_LOGIN_LIMIT_*, GRIDCITY_TOKEN_LIFETIME_DAYS: see below
GRIDCITY_TIME_ZONE      the city's IANA time zone (default Asia/Shanghai)
GRIDCITY_LANGUAGE       the interface's default language: zh-hans (default) or en
GRIDCITY_WORKING_PERIODS, GRIDCITY_WORKING_DAYS, GRIDCITY_HOLIDAYS: the working calendar, below
"""

import importlib.util
import os
import re
import socket
import zoneinfo
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from whitenoise.compress import Compressor

from gridcity.lib.workcalendar import (
    parse_holiday_region,
    parse_working_days,
    parse_working_periods,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("GRIDCITY_DATA_DIR", BASE_DIR / "var"))
PRODUCTION = os.environ.get("GRIDCITY_ENV", "") == "production"

DATA_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """Outside production a key is made once per data directory and kept there, so sessions
    survive a restart and no two installations share a key."""
    import secrets

    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Written under a private name with mode 0600 from the first byte, then linked into
        # place: no other local user can read it in between, and of several processes starting
        # at once (gunicorn's workers) the first link wins and the others read the winner's key.
        tmp = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            # A file system without hard links: a rename is atomic too (the last one wins).
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_text().strip()


if PRODUCTION:
    SECRET_KEY = os.environ["GRIDCITY_SECRET_KEY"]
else:
    SECRET_KEY = os.environ.get("GRIDCITY_SECRET_KEY") or _local_secret_key()
if PRODUCTION and os.environ.get("GRIDCITY_DEBUG", "0") != "0":
    # Debug pages show settings, SQL and source to anyone who can make a request fail.
    raise ImproperlyConfigured("GRIDCITY_DEBUG must be off when GRIDCITY_ENV=production")
DEBUG = not PRODUCTION and os.environ.get("GRIDCITY_DEBUG", "0") == "1"
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("GRIDCITY_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    # The admin with an audit row for every change made in it (gridcity/accounts/admin_site.py).
    "gridcity.accounts.adminconfig.AuditedAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "gridcity.system",
    "gridcity.accounts",
    "gridcity.grids",
    "gridcity.taxonomy",
    "gridcity.dispatch",
    "gridcity.cases",
    "gridcity.open311",
    "gridcity.sensors",
    "gridcity.evaluation",
    "gridcity.campaigns",
    "gridcity.people",
    "gridcity.publicity",
    "gridcity.history",
    "gridcity.web",
    "gridcity.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "gridcity.system.metrics.RequestMetricsMiddleware",
    "gridcity.middleware.MachineErrorsMiddleware",
    "gridcity.middleware.TrustedProxyMiddleware",
    "gridcity.web.uploads.UploadLimitsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "gridcity.middleware.RejectNulBytesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "gridcity.web.twofactor.RequireTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "gridcity.urls"
WSGI_APPLICATION = "gridcity.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "csp.context_processors.nonce",
                "gridcity.web.nav.nav_context",
            ],
        },
    },
]

# Leaflet's files come from the django-leaflet package; the app itself is not installed
# because its admin widgets import GeoDjango (GDAL), which GridCity does not need.
STATICFILES_DIRS = [
    Path(importlib.util.find_spec("leaflet").submodule_search_locations[0]) / "static"
]

_default_db = f"sqlite:///{DATA_DIR / 'gridcity.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("GRIDCITY_DATABASE_URL", _default_db), conn_max_age=600
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers go on while one writer writes; IMMEDIATE takes the write lock at
        # BEGIN so two concurrent transitions queue instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if os.environ.get("GRIDCITY_PGBOUNCER", "") == "1":
        # PgBouncer in transaction mode hands each transaction to any server connection: no
        # server-side cursors, no prepared statements kept across transactions.
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
        "GRIDCITY_TEST_DATABASE_NAME", None
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# django-axes refuses a password check while the account or the client is locked out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "web:login"

# --- Sign-in: lockout, two-factor, tokens (gridcity/accounts/security.py) ----------------------
# Failed passwords are counted in the database (django-axes), so every node and worker sees the
# same count. Refused: after 5 failures for one account from one client, 20 from one client for
# any accounts, or 30 for one account from all clients, until the cool-off has passed since the
# last failure. A success resets that account's count from that client.
GRIDCITY_LOGIN_LIMITS = {
    key: int(os.environ.get(f"GRIDCITY_LOGIN_LIMIT_{key.upper()}", default))
    for key, default in (("account_client", 5), ("client", 20), ("account", 30))
}
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address", "username"]
AXES_HANDLER = "gridcity.accounts.security.LoginAttemptHandler"
AXES_FAILURE_LIMIT = GRIDCITY_LOGIN_LIMITS["account_client"]
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("GRIDCITY_LOGIN_COOLOFF_MINUTES", "15")))
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "gridcity.accounts.security.client_address"
AXES_LOCKOUT_CALLABLE = "gridcity.web.account.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # the sign-in history (accounts.SignInEvent) is the log
AXES_SENSITIVE_PARAMETERS = ["csrfmiddlewaretoken"]  # the password is always masked
# TOTP two-factor for administrators, centre staff and leaders; anyone may enrol. Required by
# default in production; a demo or a test city may turn it off (GRIDCITY_REQUIRE_2FA=0).
GRIDCITY_REQUIRE_2FA = os.environ.get("GRIDCITY_REQUIRE_2FA", "1" if PRODUCTION else "0") == "1"
OTP_TOTP_ISSUER = os.environ.get("GRIDCITY_OTP_ISSUER", "GridCity")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# API tokens expire; a rotated token keeps working for the grace period so a device can switch.
GRIDCITY_TOKEN_LIFETIME_DAYS = int(os.environ.get("GRIDCITY_TOKEN_LIFETIME_DAYS", "90"))
GRIDCITY_TOKEN_ROTATION_GRACE_HOURS = int(
    os.environ.get("GRIDCITY_TOKEN_ROTATION_GRACE_HOURS", "24")
)
# A form sent with a stale token gets a page that says to reload, in the user's language.
CSRF_FAILURE_VIEW = "gridcity.web.errors.csrf_failure"

LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
# The interface's language when the browser asks for none we have (GRIDCITY_LANGUAGE).
_language = os.environ.get("GRIDCITY_LANGUAGE", "zh-hans").strip().lower().replace("_", "-")
LANGUAGE_CODE = {"zh": "zh-hans", "zh-cn": "zh-hans", "en-us": "en", "en-gb": "en"}.get(
    _language, _language
)
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(
        f"GRIDCITY_LANGUAGE={_language!r} is not a language of the interface; use zh-hans or en"
    )
LOCALE_PATHS = [BASE_DIR / "gridcity" / "locale"]
# The city's own time zone: deadlines, working hours and dates are read in it.
TIME_ZONE = os.environ.get("GRIDCITY_TIME_ZONE", "Asia/Shanghai").strip()
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(
        f"GRIDCITY_TIME_ZONE={TIME_ZONE!r} is not a known time zone; use an IANA name such as "
        "Asia/Shanghai or America/New_York"
    ) from exc
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
# Static files are served by the app itself (WhiteNoise): hashed names, gzip copies,
# cached for a year; collectstatic (run by `make run`) writes them. `make dev` serves them
# straight from the apps.
_static_manifest = not DEBUG and os.environ.get("GRIDCITY_STATIC_MANIFEST", "1") == "1"
STORAGES = {
    # A file written in a transaction that rolls back is deleted again (gridcity/lib/txfiles.py).
    "default": {"BACKEND": "gridcity.lib.txfiles.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _static_manifest
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Source maps are for developers' tools, never sent compressed to a browser; compressing them is
# most of collectstatic's time.
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = [*Compressor.SKIP_COMPRESS_EXTENSIONS, "map"]
MEDIA_STORAGE = os.environ.get("GRIDCITY_MEDIA_STORAGE", "local")
if MEDIA_STORAGE == "s3":
    # Any S3-compatible object store, through django-storages; photos never get public URLs:
    # they are still served through the app, which checks who may see them (the backend's
    # `.url` is the app's /media/ address, never a presigned link to the bucket).
    STORAGES["default"] = {
        "BACKEND": "gridcity.system.storage.AppServedS3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["GRIDCITY_S3_BUCKET"],
            "endpoint_url": os.environ.get("GRIDCITY_S3_ENDPOINT_URL") or None,
            "access_key": os.environ.get("GRIDCITY_S3_ACCESS_KEY") or None,
            "secret_key": os.environ.get("GRIDCITY_S3_SECRET_KEY") or None,
            "region_name": os.environ.get("GRIDCITY_S3_REGION") or None,
            "location": os.environ.get("GRIDCITY_S3_PREFIX", ""),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif MEDIA_STORAGE != "local":
    raise ValueError("GRIDCITY_MEDIA_STORAGE must be local or s3")

# One cache for every process of the installation: Redis when several nodes run
# (GRIDCITY_REDIS_URL), otherwise files in the data directory, which the processes of one node
# share. Rate limits and throttles live here.
REDIS_URL = os.environ.get("GRIDCITY_REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "gridcity",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }
# Upload limits (gridcity/web/uploads.py, gridcity/cases/photos.py). A JSON or form body is read
# into memory whole: at most 32 MB (two full-size photos in base64); larger photos go as
# multipart files, which are spooled to disk above 2.5 MB and checked while they arrive.
DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_HANDLERS = [
    "gridcity.web.uploads.PhotoUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

TASKS = {
    "default": {
        "BACKEND": os.environ.get("GRIDCITY_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        # "periodic" holds the scheduler's jobs, run by their own worker so that a long sweep
        # never holds up a webhook delivery.
        "QUEUES": ["default", "periodic"],
    }
}

LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (30.25, 120.17),
    "DEFAULT_ZOOM": 13,
    "TILES": [],
    "NO_GLOBALS": False,
    "RESET_VIEW": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("GRIDCITY_LOG_LEVEL", "WARNING")},
}

# Periodic jobs: {name: seconds} overrides the interval of a job (`gridcity scheduler --list`);
# 0 switches it off. A configuration change reaches every process within
# GRIDCITY_STAMP_CHECK_SECONDS.
GRIDCITY_PERIODIC_SECONDS = {
    k: float(v)
    for k, v in (
        item.split("=", 1)
        for item in os.environ.get("GRIDCITY_PERIODIC_SECONDS", "").split(",")
        if "=" in item
    )
}
GRIDCITY_STAMP_CHECK_SECONDS = float(os.environ.get("GRIDCITY_STAMP_CHECK_SECONDS", "0.5"))
# Load balancers whose X-Forwarded-For is believed (comma-separated addresses or networks,
# e.g. 10.0.0.10,10.0.1.0/24); see gridcity/lib/clientip.py.
GRIDCITY_TRUSTED_PROXIES = [
    a.strip() for a in os.environ.get("GRIDCITY_TRUSTED_PROXIES", "").split(",") if a.strip()
]
# Rate limits over the defaults in gridcity/open311/views.py and gridcity/web/field.py, as
# "name=requests/seconds,…" (e.g. "write_per_key=600/60"); 0 requests switches one off.
GRIDCITY_OPEN311_RATE_LIMITS, GRIDCITY_PUBLIC_RATE_LIMITS = (
    {
        name.strip(): (int(rate.split("/")[0]), int(rate.split("/")[1]))
        for name, rate in (
            item.split("=", 1) for item in os.environ.get(var, "").split(",") if "=" in item
        )
    }
    for var in ("GRIDCITY_OPEN311_RATE_LIMITS", "GRIDCITY_PUBLIC_RATE_LIMITS")
)
GRIDCITY_MQTT_HOST = os.environ.get("GRIDCITY_MQTT_HOST", "127.0.0.1")
GRIDCITY_MQTT_PORT = int(os.environ.get("GRIDCITY_MQTT_PORT", "1883"))
# Each node's ingest keeps its own persistent session (its own client id): every node receives
# every reading and the database stores each once (unique device, metric, time), so a node or a
# broker restart loses nothing. A shared subscription group splits the readings between nodes
# instead, but Mosquitto 2.0 drops what arrives for a shared group during its own restart.
GRIDCITY_MQTT_CLIENT_ID = os.environ.get(
    "GRIDCITY_MQTT_CLIENT_ID", f"gridcity-ingest-{socket.gethostname()}"
)
GRIDCITY_MQTT_SHARED_GROUP = os.environ.get("GRIDCITY_MQTT_SHARED_GROUP", "")

# --- GridCity's own settings (every one can be changed per city) ---------------------------


def _city_calendar_setting(variable: str, default: str, parse):
    try:
        return parse(os.environ.get(variable, default))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{variable}: {exc}") from None


# Working day: a list of (start, end) periods, "HH:MM" (env: "08:00-12:00,14:00-18:00").
GRIDCITY_WORKING_PERIODS = [
    (begin.strftime("%H:%M"), end.strftime("%H:%M"))
    for begin, end in _city_calendar_setting(
        "GRIDCITY_WORKING_PERIODS", "08:00-12:00,14:00-18:00", parse_working_periods
    )
]
# Working days of the week, ISO numbers 1 (Monday) … 7 (Sunday) (env: "mon-fri" or "1,2,3,4,5").
GRIDCITY_WORKING_DAYS = sorted(
    _city_calendar_setting("GRIDCITY_WORKING_DAYS", "mon-fri", parse_working_days)
)
# Public holidays: "CN" (the State Council calendar with 调休), any country the `holidays`
# package knows ("US"), a subdivision ("US-MA"), or "none". The admin's 本地工作日历 and
# `gridcity import-holidays` add the city's own days off and working days on top.
GRIDCITY_HOLIDAYS = _city_calendar_setting("GRIDCITY_HOLIDAYS", "CN", parse_holiday_region)
# Per-step time limits, in the 立结案标准 notation; the handling limit comes from the filing
# condition. Admin rows (taxonomy.StepLimit) override these.
GRIDCITY_STEP_LIMITS = {
    "verify": "1紧急工作时",
    "file": "30分钟",
    "dispatch": "30分钟",
    "sign": "1工作时",
    "handle": "1工作日",
    "check": "1紧急工作时",
    "close": "1工作时",
}
# Channels whose reports are filed and dispatched without a person confirming: a grid
# manager's report is trusted; citizens' and hotline reports are verified on site first.
GRIDCITY_TRUSTED_CHANNELS = ["inspector", "sensor", "camera", "leader"]
GRIDCITY_AUTO_DISPATCH = os.environ.get("GRIDCITY_AUTO_DISPATCH", "1") == "1"
# Supervision ladder: hours overdue -> the level of the supervision order raised.
GRIDCITY_ESCALATION_LADDER = [(0, 1), (8, 2), (24, 3)]
GRIDCITY_PHOTO_MAX_BYTES = int(os.environ.get("GRIDCITY_PHOTO_MAX_BYTES", 10 * 1024 * 1024))
GRIDCITY_PHOTO_MAX_PIXELS = int(os.environ.get("GRIDCITY_PHOTO_MAX_PIXELS", 40_000_000))
GRIDCITY_PHOTO_MAX_COUNT = int(os.environ.get("GRIDCITY_PHOTO_MAX_COUNT", 9))
# Any other uploaded file (a ledger or standards workbook); a whole multipart request.
GRIDCITY_UPLOAD_MAX_BYTES = int(os.environ.get("GRIDCITY_UPLOAD_MAX_BYTES", 25 * 1024 * 1024))
GRIDCITY_UPLOAD_MAX_REQUEST_BYTES = GRIDCITY_PHOTO_MAX_COUNT * GRIDCITY_PHOTO_MAX_BYTES + 4 * 2**20
# Large request bodies one process holds at once; more wait (up to the queue time, then 503).
GRIDCITY_UPLOAD_INFLIGHT_BYTES = int(
    os.environ.get("GRIDCITY_UPLOAD_INFLIGHT_BYTES", 24 * 1024 * 1024)
)
GRIDCITY_UPLOAD_QUEUE_SECONDS = float(os.environ.get("GRIDCITY_UPLOAD_QUEUE_SECONDS", "30"))
GRIDCITY_TILE_URL = os.environ.get("GRIDCITY_TILE_URL", "")


# --- Headers and HTTPS ----------------------------------------------------------------------
def _image_source(url: str) -> list[str]:
    """The origin of a tile server for img-src: {s}.tile.example.org → *.tile.example.org; a
    relative URL is the app's own and needs nothing."""
    match = re.match(r"^(https?://)([^/]+)", url)
    if not match:
        return []
    scheme, host = match.groups()
    host = re.sub(r"\{[^}]*\}", "*", host)
    if "*" in host and not (host.startswith("*.") and "*" not in host[2:]):
        host = "*." + host.split(".", 1)[-1]
    return [scheme + host]


# Every response carries a Content-Security-Policy (django-csp): scripts and styles come only from
# the app's own files, or from an inline <script>/<style> that carries this response's nonce
# (`nonce="{{ CSP_NONCE }}"` in a template); no inline event handlers, style attributes or eval.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:", "blob:", *_image_source(GRIDCITY_TILE_URL)],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# The phone pages locate the reporter and take photos; nothing else may use a device.
PERMISSIONS_POLICY = {
    "geolocation": ["self"],
    "camera": ["self"],
    "microphone": [],
    "payment": [],
    "usb": [],
    "accelerometer": [],
    "gyroscope": [],
    "magnetometer": [],
    "display-capture": [],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Pages hand the CSRF token to scripts in the markup (hx-headers), so no script reads the cookie.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
# Only when every request reaches the app through a proxy that sets this header itself (e.g.
# X-Forwarded-Proto): a client that reached the app directly could otherwise claim HTTPS. Behind
# gunicorn, GRIDCITY_FORWARDED_ALLOW_IPS already makes gunicorn believe the balancer's header.
_proxy_ssl_header = os.environ.get("GRIDCITY_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
# Production is served over HTTPS unless GRIDCITY_HTTPS=0 says it is not (a plain-HTTP install
# on a closed network): Secure cookies, HSTS and a redirect from plain HTTP.
HTTPS = PRODUCTION and os.environ.get("GRIDCITY_HTTPS", "1") == "1"
SILENCED_SYSTEM_CHECKS: list[str] = []
if HTTPS:
    SECURE_SSL_REDIRECT = os.environ.get("GRIDCITY_SSL_REDIRECT", "1") == "1"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # A load balancer's plain-HTTP checks must get an answer, not a redirect.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    if not SECURE_SSL_REDIRECT:
        # GRIDCITY_SSL_REDIRECT=0: the balancer itself redirects plain HTTP to HTTPS.
        SILENCED_SYSTEM_CHECKS += ["security.W008"]
elif PRODUCTION:
    # GRIDCITY_HTTPS=0: there is no HTTPS to redirect to, to pin (HSTS) or to keep cookies on;
    # `check --deploy` would say so on every run. The README says what this install gives up.
    SILENCED_SYSTEM_CHECKS += ["security.W004", "security.W008", "security.W012", "security.W016"]
if PRODUCTION:
    CSRF_TRUSTED_ORIGINS = [
        o for o in os.environ.get("GRIDCITY_CSRF_TRUSTED_ORIGINS", "").split(",") if o
    ]

# --- Health and metrics ---------------------------------------------------------------------
# /readyz fails when the oldest task waiting to run has waited longer than this (seconds).
GRIDCITY_READY_MAX_TASK_AGE = float(os.environ.get("GRIDCITY_READY_MAX_TASK_AGE", "300"))
# /metrics answers loopback requests that did not come through a proxy, and any request with
# `Authorization: Bearer <this>` when it is set.
GRIDCITY_METRICS_TOKEN = os.environ.get("GRIDCITY_METRICS_TOKEN", "")
# The processes of a node (web workers, task worker, MQTT ingest) add their counters up through
# files in this directory. prometheus_client reads the variable once, when first imported, so it
# is set here, before any app can import it.
PROMETHEUS_MULTIPROC_DIR = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR / "metrics")
)
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
