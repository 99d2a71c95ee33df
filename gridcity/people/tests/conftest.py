import pytest

from gridcity.testing import build_city


@pytest.fixture
def city(db):
    return build_city(rules=True)


from gridcity.web.tests.conftest import browser  # noqa: E402, F401  (the shared Chromium fixture)
