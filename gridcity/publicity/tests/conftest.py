import pytest

from gridcity.testing import build_city


@pytest.fixture
def city(db):
    return build_city()
