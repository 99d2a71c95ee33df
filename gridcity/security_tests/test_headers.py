"""Headers and deployment, as a browser and an attacker see them: every kind of response (a page,
the API, a static file, an error page) carries the Content-Security-Policy and the security
headers; each page's inline scripts and styles carry that response's own fresh nonce, and the
templates hold no inline handler, style attribute or javascript: URL that the policy would
block; production refuses debug, its deploy check is clean and it trusts no HTTPS claim it
was not told to; the secret key is never a known one and no other user can read it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import path

from gridcity.urls import urlpatterns as gridcity_urlpatterns
from gridcity.web import errors

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEMPLATE_DIRS = sorted(ROOT.glob("gridcity/*/templates"))
STATIC_JS = sorted(ROOT.glob("gridcity/*/static/**/*.js"))


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def nonce_of(response) -> str:
    (source,) = [s for s in policy(response)["script-src"] if s.startswith("'nonce-")]
    assert source == next(s for s in policy(response)["style-src"] if s.startswith("'nonce-"))
    return source[len("'nonce-") : -1]


def inline_blocks(html: str) -> list[str]:
    """The opening tags of the inline scripts (not JSON data, not files) and style blocks."""
    tags = re.findall(r"<script\b[^>]*>|<style\b[^>]*>", html)
    return [t for t in tags if "src=" not in t and "application/json" not in t]


def assert_security_headers(response) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = response.headers["Permissions-Policy"]
    assert "geolocation=(self)" in permissions and "camera=(self)" in permissions
    assert "microphone=()" in permissions
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    assert set(directives["img-src"]) == {"'self'", "data:", "blob:"}
    for name in ("script-src", "style-src"):
        assert directives[name][0] == "'self'"
        assert all(s.startswith("'nonce-") for s in directives[name][1:]), directives[name]


# ---------------------------------------------------------------------------------------------
# Every kind of response


@pytest.mark.django_db
def test_a_page_carries_the_policy_and_every_security_header(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert_security_headers(response)
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_an_api_response_carries_them_too(client):
    response = client.get("/api/areas?level=2")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert_security_headers(response)
    assert response.headers["X-Frame-Options"] == "DENY"
    # And an API error.
    refused = client.get("/api/cases")
    assert refused.status_code == 401
    assert_security_headers(refused)


@pytest.mark.django_db
def test_a_static_file_carries_the_policy_so_that_no_served_file_runs_script(settings):
    # The files straight from the apps, as `make dev` serves them; a new client builds its
    # middleware (WhiteNoise) afresh with this setting.
    settings.WHITENOISE_USE_FINDERS = True
    response = Client().get("/static/web/app.js")
    assert response.status_code == 200
    assert b"data-submit-on-change" in b"".join(response.streaming_content)
    assert_security_headers(response)


@pytest.mark.django_db
def test_a_missing_page_carries_the_policy_and_its_style_block_the_nonce(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert_security_headers(response)
    nonce = nonce_of(response)
    blocks = inline_blocks(response.content.decode())
    assert blocks and all(f'nonce="{nonce}"' in tag for tag in blocks)


# ---------------------------------------------------------------------------------------------
# Nonces


@pytest.fixture
def city(db):
    from gridcity.testing import build_city

    return build_city(rules=False)


@pytest.mark.django_db
def test_each_response_has_a_fresh_nonce_that_every_inline_script_and_style_carries(client, city):
    client.force_login(city.people["leader"])
    nonces = []
    for url in ("/evaluation/map/", "/evaluation/map/", "/campaigns/new/", "/dashboard/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response)
        nonce = nonce_of(response)
        assert len(nonce) >= 22  # 128 random bits, base64
        blocks = inline_blocks(response.content.decode())
        assert blocks, f"{url} has no inline script or style to test"
        assert all(f'nonce="{nonce}"' in tag for tag in blocks), (url, blocks)
        nonces.append(nonce)
    assert len(set(nonces)) == len(nonces)


def _boom(request):
    raise RuntimeError("a bug")


# The product's URLs and error handlers, plus one view that fails.
urlpatterns = [path("boom/", _boom), *gridcity_urlpatterns]
handler500 = errors.server_error


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_the_server_error_page_gets_the_nonce_for_its_inline_style_and_script():
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    nonce = nonce_of(response)
    html = response.content.decode()
    blocks = inline_blocks(html)
    assert any(t.startswith("<script") for t in blocks) and any(
        t.startswith("<style") for t in blocks
    )
    assert all(f'nonce="{nonce}"' in tag for tag in blocks), blocks
    assert "a bug" not in html


def test_no_template_holds_what_the_policy_blocks():
    """An inline <script> or <style> without the nonce, an inline event handler, a style
    attribute or a javascript: URL would be blocked in the browser (or need the policy
    weakened): none in any template."""
    problems = []
    for directory in TEMPLATE_DIRS:
        for template in directory.rglob("*.html"):
            text = template.read_text()
            name = template.relative_to(ROOT)
            for tag in inline_blocks(text):
                if 'nonce="{{ CSP_NONCE }}"' not in tag:
                    problems.append(f"{name}: {tag} without the nonce")
            for tag in re.findall(r"<[a-zA-Z][^>]*>", text):
                if re.search(r"""\son[a-z]+\s*=\s*["']""", tag):
                    problems.append(f"{name}: inline handler in {tag[:80]}")
                if re.search(r"""\sstyle\s*=\s*["']""", tag):
                    problems.append(f"{name}: style attribute in {tag[:80]}")
            if "javascript:" in text.lower():
                problems.append(f"{name}: a javascript: URL")
    assert problems == []
    assert len(TEMPLATE_DIRS) >= 8


def test_no_script_writes_markup_from_data():
    """Names and descriptions reach the page as text: scripts build nodes (textContent), never
    HTML strings (innerHTML = …, insertAdjacentHTML, document.write); clearing is allowed."""
    problems = []
    for script in STATIC_JS:
        text = script.read_text()
        for m in re.finditer(r"\.(?:inner|outer)HTML\s*\+?=\s*([^;]*)", text):
            if m.group(1).strip() not in ('""', "''"):
                problems.append(f"{script.relative_to(ROOT)}: {m.group(0)[:80]}")
        for sink in ("insertAdjacentHTML", "document.write", "eval(", "new Function"):
            if sink in text:
                problems.append(f"{script.relative_to(ROOT)}: {sink}")
    assert problems == []
    assert len(STATIC_JS) >= 6


# ---------------------------------------------------------------------------------------------
# Deployment


def _env(tmp_path, **extra) -> dict[str, str]:
    # A fresh process as an operator starts it: none of this test run's settings (the browser
    # tests set DJANGO_ALLOW_ASYNC_UNSAFE, which the deploy check rightly refuses).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GRIDCITY_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "gridcity.settings",
            "GRIDCITY_DATA_DIR": str(tmp_path),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
            # Pages render without collectstatic.
            "GRIDCITY_STATIC_MANIFEST": "0",
        }
    )
    env.update(extra)
    return env


def _production(tmp_path, **extra) -> dict[str, str]:
    import secrets

    return _env(
        tmp_path,
        GRIDCITY_ENV="production",
        GRIDCITY_SECRET_KEY=secrets.token_urlsafe(50),
        GRIDCITY_ALLOWED_HOSTS="gridcity.example.org,testserver",
        **extra,
    )


def _gridcity(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "gridcity", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_with_debug_on(tmp_path):
    run = _gridcity(["check"], _production(tmp_path, GRIDCITY_DEBUG="1"))
    assert run.returncode != 0
    assert "GRIDCITY_DEBUG must be off" in run.stderr


def test_gunicorn_never_serves_debug_pages():
    from gridcity import gunicorn_conf

    assert "GRIDCITY_DEBUG=0" in gunicorn_conf.raw_env


@pytest.mark.parametrize("https", ["1", "0"])
def test_the_deploy_check_is_clean_over_https_and_says_what_it_silences_over_plain_http(
    tmp_path, https
):
    run = _gridcity(
        ["check", "--deploy", "--fail-level", "WARNING"],
        _production(tmp_path, GRIDCITY_HTTPS=https),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout
    # Only a plain-HTTP install silences the checks that ask for HTTPS, and only those.
    https_checks = {"security.W004", "security.W008", "security.W012", "security.W016"}
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings as s; print(*s.SILENCED_SYSTEM_CHECKS)",
        ],
        env=_production(tmp_path, GRIDCITY_HTTPS=https),
        capture_output=True,
        text=True,
        timeout=60,
    )
    silenced = set(shown.stdout.split()) & (https_checks | {"security.W018", "security.W009"})
    assert silenced == (set() if https == "1" else https_checks)


PROBE = """
from django.test import Client
c = Client()
plain = c.get("/i18n/setlang/")
print("plain", plain.status_code, plain.headers.get("Location", ""))
claimed = c.get("/i18n/setlang/", headers={"X-Forwarded-Proto": "https"})
print("claimed", claimed.status_code, claimed.headers.get("Strict-Transport-Security", "-").replace(" ", ""))
secure = c.get("/i18n/setlang/", secure=True)
print("secure", secure.status_code, secure.headers.get("Strict-Transport-Security", "-").replace(" ", ""))
login = c.get("/login/", secure=True)
csrf = login.cookies["csrftoken"]
print("cookie", bool(csrf["secure"]), bool(csrf["httponly"]), csrf["samesite"])
"""


def _probe(env) -> dict[str, list[str]]:
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines()}


def test_production_redirects_plain_http_pins_https_and_trusts_no_forwarded_header_by_default(
    tmp_path,
):
    seen = _probe(_production(tmp_path))
    assert seen["plain"] == ["301", "https://testserver/i18n/setlang/"]
    # Anyone can send X-Forwarded-Proto: unless told which proxy header to believe, the app
    # does not (gunicorn believes it from GRIDCITY_FORWARDED_ALLOW_IPS only).
    assert seen["claimed"][0] == "301"
    assert seen["secure"][1] == "max-age=31536000;includeSubDomains;preload"
    assert seen["cookie"] == ["True", "True", "Lax"]


def test_behind_a_proxy_named_in_the_settings_its_header_counts_as_https(tmp_path):
    seen = _probe(_production(tmp_path, GRIDCITY_PROXY_SSL_HEADER="X-Forwarded-Proto"))
    assert seen["claimed"][0] != "301"
    assert seen["claimed"][1].startswith("max-age=31536000")


def test_a_plain_http_install_sends_no_hsts_and_no_secure_only_cookies(tmp_path):
    seen = _probe(_production(tmp_path, GRIDCITY_HTTPS="0"))
    assert seen["plain"][0] != "301"
    assert seen["secure"][1] == "-"
    assert seen["cookie"] == ["False", "True", "Lax"]


@pytest.mark.django_db
def test_the_session_cookie_is_http_only_and_same_site_lax(client, city):
    page = client.get("/login/")
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post(
        "/login/",
        {"username": "leader", "password": "demo12345", "csrfmiddlewaretoken": csrf.value},
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


# ---------------------------------------------------------------------------------------------
# The secret key


KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def _key(env, umask: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", KEY],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def test_a_first_start_makes_a_private_key_of_its_own_that_later_starts_keep(tmp_path):
    env = _env(tmp_path / "one")
    (tmp_path / "one").mkdir()
    # Four processes start at once on a fresh data directory, with a umask that would make
    # any file readable by everyone.
    starts = [_key(env, umask=0) for _ in range(4)]
    keys = {p.communicate(timeout=60)[0].strip() for p in starts}
    assert len(keys) == 1
    (key,) = keys
    path = tmp_path / "one" / "secret_key"
    assert path.read_text().strip() == key and len(key) >= 50
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "one").iterdir() if "secret" in p.name] == ["secret_key"]
    assert _key(env).communicate(timeout=60)[0].strip() == key
    # Another installation gets another key.
    (tmp_path / "two").mkdir()
    assert _key(_env(tmp_path / "two")).communicate(timeout=60)[0].strip() != key


def test_a_key_file_left_readable_by_others_is_made_private(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("k" * 60)
    path.chmod(0o644)
    assert _key(_env(tmp_path)).communicate(timeout=60)[0].strip() == "k" * 60
    assert path.stat().st_mode & 0o777 == 0o600


def test_production_has_no_fallback_key(tmp_path):
    env = _env(tmp_path, GRIDCITY_ENV="production", GRIDCITY_ALLOWED_HOSTS="x.example.org")
    run = _gridcity(["check"], env)
    assert run.returncode != 0 and "GRIDCITY_SECRET_KEY" in run.stderr
    assert not (tmp_path / "secret_key").exists()


def test_no_fixed_secret_key_is_written_anywhere_in_the_project():
    """A key in the source is a key every installation (and every attacker) shares."""
    quoted = re.compile(r"""\bSECRET_KEY\b["']?\s*[:=]\s*f?["'][^"'$]""")
    shell = re.compile(r"""\bSECRET_KEY=[^\s$"'{]""")
    problems = []
    files = [ROOT / "Makefile", ROOT / "Procfile", ROOT / ".ci" / "run", ROOT / "conftest.py"]
    for folder in ("gridcity", "bench", "cluster", "deploy"):
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file()]
    for file in files:
        if not file.exists() or file.suffix in {".pyc", ".mo", ".png", ".jpg", ".xlsx", ".gz"}:
            continue
        try:
            text = file.read_text()
        except UnicodeDecodeError:
            continue
        for line in text.splitlines():
            if quoted.search(line) or (file.suffix != ".py" and shell.search(line)):
                problems.append(f"{file.relative_to(ROOT)}: {line.strip()}")
    assert problems == []
