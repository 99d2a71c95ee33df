import os
import tempfile

import pytest


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_configure(config):
    os.environ.setdefault("GRIDCITY_DATA_DIR", tempfile.mkdtemp(prefix="gridcity-test-"))
