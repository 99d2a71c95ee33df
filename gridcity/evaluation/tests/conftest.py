import pytest

from gridcity.evaluation.models import Scheme
from gridcity.testing import build_city


@pytest.fixture
def city(db):
    city = build_city()
    # The hand-counted scenarios hold a handful of cases per unit, below the seeded minimum
    # volumes; they test the counting and scoring, so every unit with work is ranked here.
    # The minimum volume has its own tests (test_ranking_rules.py).
    Scheme.objects.update(min_cases_to_rank=0)
    return city
