"""The citizens' survey: answers on the scale are counted per community; one outside the
scale is refused with a clear message."""

import pytest

from gridcity.lib.errors import InvalidInput
from gridcity.people.actions import do_answer_survey, survey_results
from gridcity.people.models import Survey, SurveyResponse


@pytest.fixture
def survey(db):
    return Survey.objects.create(title="2026年城市治理群众满意度调查")


def test_it_counts_rates_per_community(city, survey):
    north, south = city.communities[0], city.communities[1]
    for a, p, s in [(5, 4, 5), (2, 4, 3)]:
        do_answer_survey(
            survey,
            community_code=north.code,
            answers={"awareness": a, "participation": p, "support": s},
        )
    do_answer_survey(
        survey,
        community_code=south.code,
        answers={"awareness": 1, "participation": 1, "support": 4},
    )
    rows = {r.community.code: r for r in survey_results(survey)}
    assert rows[north.code].responses == 2
    assert rows[north.code].awareness == 0.5
    assert rows[north.code].participation == 1.0
    assert rows[north.code].support == 0.5
    assert rows[south.code].support == 1.0


def test_an_answer_outside_the_scale_is_refused(city, survey):
    with pytest.raises(InvalidInput) as exc:
        do_answer_survey(
            survey,
            community_code=city.communities[0].code,
            answers={"awareness": 7, "participation": 3, "support": 3},
        )
    assert exc.value.field == "awareness"
    assert exc.value.message == "「知晓程度」的回答应在 1–5 之间，收到的是 7"
    assert SurveyResponse.objects.count() == 0


def test_the_public_form_shows_the_message_and_saves_nothing(client, city, survey):
    r = client.post(
        f"/people/surveys/{survey.pk}/",
        {
            "community": city.communities[0].code,
            "awareness": "0",
            "participation": "3",
            "support": "3",
        },
    )
    assert r.status_code == 422
    assert "「知晓程度」的回答应在 1–5 之间，收到的是 0" in r.content.decode()
    ok = client.post(
        f"/people/surveys/{survey.pk}/",
        {
            "community": city.communities[0].code,
            "awareness": "4",
            "participation": "3",
            "support": "5",
        },
    )
    assert "提交成功" in ok.content.decode()
    assert SurveyResponse.objects.count() == 1
