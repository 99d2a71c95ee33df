import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    # Rate limits and throttles count in the cache, the test run's own files (testenv): no test
    # starts with another's requests counted. A Redis named in the environment is left alone.
    if settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
        from django.core.cache import cache

        from gridcity.lib.ratelimit import forget_counts

        cache.clear()
        forget_counts()


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    # A rolled-back test leaves no rows but may leave them in the per-process cache.
    from django.contrib.contenttypes.models import ContentType

    from gridcity.accounts.actions import forget_system_user
    from gridcity.dispatch.actions import forget_rules
    from gridcity.grids.spatial import forget_index
    from gridcity.taxonomy.actions import forget_time_config

    def forget():
        forget_time_config()
        forget_rules()
        forget_index()
        forget_system_user()
        # A transactional test's flush recreates the content types under new ids.
        ContentType.objects.clear_cache()

    forget()
    yield
    forget()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
    # test itself are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield b
        b.close()


def pytest_collection_modifyitems(config, items):
    # A test with serialized_rollback reloads the database as migrate left it, content types
    # included, with their first ids. A transactional test's closing flush recreates the content
    # types under new ids (SQLite does not reset its sequences), and the reload would then
    # collide with them: those tests run first in each worker, before any flush.
    def reloads(item) -> bool:
        marker = item.get_closest_marker("django_db")
        return bool(marker and marker.kwargs.get("serialized_rollback"))

    items.sort(key=lambda item: not reloads(item))
