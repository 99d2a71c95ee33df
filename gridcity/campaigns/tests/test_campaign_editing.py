"""The centre launches, edits, ends and archives a campaign from the pages: every change goes
through an action that checks the role, refuses bad input by field, and leaves an audit row that
the board shows as 操作记录."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from gridcity.accounts import audit
from gridcity.campaigns.actions import (
    do_archive_campaign,
    do_create_campaign,
    do_end_campaign,
    do_update_campaign,
)
from gridcity.campaigns.models import Campaign, ClosedCasePolicy, LedgerRow
from gridcity.campaigns.tests.helpers import EAST_A, WEST_A, at, bin_campaign, bins, report
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import build_city

pytestmark = pytest.mark.django_db


@pytest.fixture
def city():
    return build_city()


def settings_of(campaign: Campaign, **change) -> dict:
    """The campaign's current settings as do_update_campaign takes them, with `change`."""
    return {
        "name": campaign.name,
        "starts_on": campaign.starts_on,
        "ends_on": campaign.ends_on,
        "categories": list(campaign.categories.all()),
        "areas": list(campaign.areas.all()),
        "lead_department": campaign.lead_department,
        "member_departments": list(campaign.member_departments.all()),
        "goals": campaign.goals,
        "ledger_from_cases": campaign.ledger_from_cases,
        "closed_cases": campaign.closed_cases,
        "default_days": campaign.default_days,
        "rebound_days": campaign.rebound_days,
        **change,
    }


def running_campaign(city) -> Campaign:
    today = timezone.localdate()
    return do_create_campaign(
        acting_user=city.people["leader"],
        name="消防通道专项整治",
        starts_on=today - timedelta(days=5),
        ends_on=today + timedelta(days=20),
        categories=[resolve_category("09012")],
        areas=[city.streets[0]],
    )


def test_launching_a_campaign_leaves_an_audit_row(city):
    report(city, WEST_A, at(3))
    campaign = bin_campaign(city)
    entry = audit.history_of(campaign).get()
    assert (entry.action, entry.actor) == ("create", city.people["leader"])
    assert "纳入 1 件案件" in entry.summary
    assert entry.data["categories"] == "06042 垃圾站（箱）满溢"


def test_a_wider_scope_tags_the_cases_it_now_covers_and_the_audit_row_names_the_change(city):
    campaign = bin_campaign(city)
    east = report(city, EAST_A, at(3))
    assert not campaign.tags.exists()
    areas = list(city.streets)
    campaign, changes = do_update_campaign(
        campaign,
        acting_user=city.people["shift_lead"],
        **settings_of(campaign, areas=areas, closed_cases=ClosedCasePolicy.SIGN_OFF),
        now=at(5),
    )
    assert campaign.tags.get().case == east and LedgerRow.objects.get().case == east
    assert changes["areas"] == ["湖滨街道", "湖滨街道、清波街道"]
    assert changes["closed_cases"][1] == "入台账并直接销号"
    entry = audit.history_of(campaign).first()
    assert (entry.action, entry.actor) == ("update", city.people["shift_lead"])
    assert "整治区域" in entry.summary and "新纳入 1 件案件" in entry.summary
    # Saving the same settings again changes nothing and records nothing.
    _same, changes = do_update_campaign(
        campaign, acting_user=city.people["leader"], **settings_of(campaign)
    )
    assert changes == {} and audit.history_of(campaign).count() == 2


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": "  "}, "name"),
        ({"ends_on": date(2026, 5, 1)}, "ends_on"),
        ({"categories": []}, "categories"),
        ({"areas": []}, "areas"),
        ({"closed_cases": "maybe"}, "closed_cases"),
        ({"default_days": 0}, "default_days"),
    ],
)
def test_a_bad_edit_names_the_field_and_changes_nothing(city, change, field):
    campaign = bin_campaign(city)
    with pytest.raises(InvalidInput) as exc:
        do_update_campaign(
            campaign, acting_user=city.people["leader"], **settings_of(campaign, **change)
        )
    assert exc.value.field == field
    campaign.refresh_from_db()
    assert campaign.name == "垃圾桶满冒专项整治" and campaign.areas.count() == 1
    assert audit.history_of(campaign).count() == 1


@pytest.mark.parametrize("who", ["sanitation", "sanitation_lead", "inspector", "intake"])
def test_only_the_centre_edits_ends_or_archives_a_campaign(city, who):
    campaign = bin_campaign(city)
    user = city.people[who]
    with pytest.raises(Forbidden):
        do_update_campaign(campaign, acting_user=user, **settings_of(campaign, name="改名"))
    with pytest.raises(Forbidden):
        do_end_campaign(campaign, acting_user=user, note="提前完成")
    with pytest.raises(Forbidden):
        do_archive_campaign(campaign, acting_user=user)
    with pytest.raises(Forbidden):
        do_create_campaign(
            acting_user=user,
            name="x",
            starts_on=date(2026, 6, 1),
            ends_on=date(2026, 6, 2),
            categories=[bins()],
            areas=[city.streets[0]],
        )


def test_ending_early_starts_the_rebound_watch_and_an_ended_campaign_can_be_archived(city):
    campaign = running_campaign(city)
    leader = city.people["leader"]
    with pytest.raises(InvalidInput):
        do_end_campaign(campaign, acting_user=leader, note="")
    with pytest.raises(Conflict, match="尚未结束"):
        do_archive_campaign(campaign, acting_user=leader)
    ended = do_end_campaign(campaign, acting_user=leader, note="目标提前完成")
    assert ended.ends_on == timezone.localdate()
    with pytest.raises(Conflict, match="已经结束"):
        do_end_campaign(campaign, acting_user=leader, note="再结束一次")
    entry = audit.history_of(campaign).first()
    assert entry.action == "end" and "目标提前完成" in entry.summary
    archived = do_archive_campaign(
        campaign, acting_user=leader, now=timezone.now() + timedelta(days=1)
    )
    assert archived.archived_at is not None
    with pytest.raises(Conflict, match="已归档"):
        do_update_campaign(campaign, acting_user=leader, **settings_of(campaign, name="改名"))


# -- the pages ---------------------------------------------------------------------------------


def form_data(city, **change) -> dict:
    return {
        "name": "垃圾桶满冒专项整治",
        "starts_on": "2026-06-01",
        "ends_on": "2026-06-30",
        "categories": [bins().pk],
        "areas": [city.streets[0].pk],
        "lead_department": city.departments["HJWS"].pk,
        "ledger_from_cases": "on",
        "closed_cases": "await",
        "default_days": 7,
        "rebound_days": 30,
        **change,
    }


def test_the_form_picks_categories_by_name_grouped_by_class_and_areas_by_name(client, city):
    client.force_login(city.people["leader"])
    html = client.get("/campaigns/new/").content.decode()
    assert "事件 · 06 市容环境类" in html and "06042 垃圾站（箱）满溢" in html
    assert "湖滨街道（整个街道）" in html and "入台账并直接销号" in html
    r = client.post("/campaigns/new/", form_data(city, categories=[]))
    assert "请至少选择一个整治类别" in r.content.decode()
    r = client.post("/campaigns/new/", form_data(city, categories=["999999"]))
    assert "所选类别不存在" in r.content.decode()
    r = client.post("/campaigns/new/", form_data(city, areas=[]))
    assert "请至少选择一个整治区域" in r.content.decode()
    assert not Campaign.objects.exists()


def test_the_centre_edits_a_campaign_on_its_page_and_the_board_shows_the_history(client, city):
    campaign = bin_campaign(city)
    client.force_login(city.people["sanitation"])
    assert client.get(f"/campaigns/{campaign.pk}/edit/").status_code == 403
    assert client.post(f"/campaigns/{campaign.pk}/archive/").status_code == 403
    client.force_login(city.people["leader"])
    page = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'value="垃圾桶满冒专项整治"' in page and 'value="2026-06-01"' in page
    assert f'value="{bins().pk}" checked' in page
    r = client.post(
        f"/campaigns/{campaign.pk}/edit/",
        form_data(city, name="垃圾满溢专项整治", ends_on="2026-05-01"),
    )
    assert "结束日期不能早于开始日期" in r.content.decode()
    r = client.post(
        f"/campaigns/{campaign.pk}/edit/",
        form_data(city, name="垃圾满溢专项整治", closed_cases="sign_off"),
        follow=True,
    )
    board = r.content.decode()
    assert "已保存修改" in board and "操作记录" in board
    assert "整治主题：垃圾桶满冒专项整治 → 垃圾满溢专项整治" in board
    assert "入台账并直接销号" in board
    # The campaign ended in June: the board offers to archive it, and the list then hides it.
    r = client.post(f"/campaigns/{campaign.pk}/archive/", follow=True)
    assert "垃圾满溢专项整治" not in r.content.decode().split("<h1")[1]
    assert "垃圾满溢专项整治" in client.get("/campaigns/?archived=1").content.decode()
