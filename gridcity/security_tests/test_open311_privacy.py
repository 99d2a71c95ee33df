"""Issue #14, point 2: the public Open311 views carry public labels only.

GET requests (list and single, with and without `extensions=true`) and the updates feed are
open to anyone, so they say what the citizen's lookup (/public/lookup/) says: the public status
label and the public steps of the history, each a label and a time. A grid manager's note
("已电话联系张三 13800138000 核实"), the intake note naming the grid manager who must verify,
the names of the staff who acted and the department-internal steps (an extension asked for) are
not in any of them, in JSON or XML, with no key or with a partner key. Only a partner key that
an administrator allowed to see internal detail (`may_see_internal`) gets them."""

import re
from xml.etree import ElementTree as ET

import pytest
from django.test import Client

from gridcity.cases.actions import TransitionInput, do_transition_case
from gridcity.cases.models import Case, Status
from gridcity.open311.keys import do_create_api_key
from gridcity.open311.models import ApiKey
from gridcity.testing import MID_LAT, build_city

WEST = {"lat": str(MID_LAT + 0.0012), "long": "120.1630"}
NOTE = "已电话联系张三 13800138000 核实"
SECRETS = [
    NOTE,
    "张三",
    "13800138000",
    "网格员小赵",  # the grid manager who verified, named in the intake note
    "派遣员小王",  # the dispatcher
    "受理员小李",  # the intake clerk
    "环卫小张",  # the department handler
    "设备到货需五个工作日",  # a note between the department and the centre
    "延期申请中",  # the internal status label
]


@pytest.fixture
def city(db):
    return build_city()


@pytest.fixture
def partner(city) -> str:
    return do_create_api_key("12345 热线平台")


@pytest.fixture
def trusted_partner(city) -> str:
    raw = do_create_api_key("区社会治理中心")
    ApiKey.objects.filter(name="区社会治理中心").update(may_see_internal=True)
    return raw


@pytest.fixture
def case(city, partner) -> Case:
    """A hotline call passed on by the partner, verified by the grid manager over the phone,
    filed, dispatched, signed for, and now waiting for an extension the department asked for."""
    r = Client().post(
        "/open311/v2/requests.json",
        {
            "api_key": partner,
            "service_code": "matter-06042",
            "description": "小区门口垃圾桶满溢",
            "first_name": "张三",
            "phone": "13800138000",
            **WEST,
        },
    )
    assert r.status_code == 200, r.content
    case = Case.objects.get()
    people = city.people
    assert case.status == Status.VERIFYING and case.assignee == people["inspector"]
    do_transition_case(
        case,
        "verify",
        acting_user=people["inspector"],
        data=TransitionInput(verified=True, note=NOTE),
    )
    do_transition_case(case, "file", acting_user=people["intake"])
    do_transition_case(case, "dispatch", acting_user=people["dispatcher"])
    do_transition_case(case, "sign", acting_user=people["sanitation"])
    do_transition_case(
        case,
        "request_extension",
        acting_user=people["sanitation"],
        data=TransitionInput(extension="5工作日", note="设备到货需五个工作日"),
    )
    case.refresh_from_db()
    assert case.status == Status.EXTENSION_REQUESTED
    return case


def public_urls(case: Case) -> list[tuple[str, dict]]:
    out = []
    for fmt in ("json", "xml"):
        for extra in ({}, {"extensions": "true"}):
            out += [
                (f"/open311/v2/requests.{fmt}", extra),
                (f"/open311/v2/requests/{case.number}.{fmt}", extra),
                (f"/open311/v2/request/{case.number}.{fmt}", extra),
            ]
        out.append((f"/open311/v2/servicerequestupdates.{fmt}", {}))
    return out


def fetch(url: str, params: dict) -> str:
    r = Client().get(url, params)
    assert r.status_code == 200, (url, r.content[:300])
    if url.endswith(".xml"):
        ET.fromstring(r.content)  # parseable
    else:
        r.json()
    return r.content.decode()


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "partner-key"])
def test_no_public_open311_answer_carries_a_note_a_name_or_a_phone(case, partner, with_key):
    checked = 0
    for url, params in public_urls(case):
        if with_key:
            params = {**params, "api_key": partner}
        body = fetch(url, params)
        assert case.number in body
        for secret in SECRETS:
            assert secret not in body, (url, params, secret)
        checked += 1
    assert checked == 14


def test_the_public_status_and_steps_are_the_citizens_lookup(case):
    lookup = Client().get("/public/lookup/", {"ref": case.public_reference}).content.decode()
    steps = re.findall(r"<li><time [^>]*>[^<]*</time> ([^<]+)</li>", lookup)
    assert steps == ["收到上报", "现场核实", "立案", "派遣至责任部门", "部门签收"]
    (request,) = (
        Client().get(f"/open311/v2/requests/{case.number}.json", {"extensions": "true"}).json()
    )
    assert request["status"] == "open"
    assert request["status_notes"] == "处置中"
    assert request["status_notes"] in lookup
    assert request["extended_attributes"] == {"status_label": "处置中", "channel": "open311"}
    assert [n["summary"] for n in request["notes"]] == steps
    assert all(set(n) == {"datetime", "summary", "type"} for n in request["notes"])
    updates = Client().get("/open311/v2/servicerequestupdates.json").json()
    assert [u["description"] for u in updates] == steps
    assert [u["extended_attributes"]["status_label"] for u in updates] == [
        "核实中",
        "已受理",  # verified, waiting to be filed
        "已立案",
        "已派遣",
        "处置中",
    ]


def test_a_key_allowed_to_see_internal_detail_gets_notes_and_names(case, trusted_partner):
    client = Client()
    params = {"api_key": trusted_partner, "extensions": "true"}
    for fmt in ("json", "xml"):
        body = client.get(f"/open311/v2/requests/{case.number}.{fmt}", params).content.decode()
        assert NOTE in body and "网格员小赵" in body and "派遣员小王" in body, fmt
        assert "extension_requested" in body
        updates = client.get(
            f"/open311/v2/servicerequestupdates.{fmt}", {"api_key": trusted_partner}
        ).content.decode()
        assert NOTE in updates and "环卫小张" in updates and "设备到货需五个工作日" in updates
    (request,) = client.get(f"/open311/v2/requests/{case.number}.json", params).json()
    assert request["status_notes"] == "设备到货需五个工作日"
    verify = next(n for n in request["notes"] if n["type"] == "verify")
    assert verify["description"] == NOTE and verify["actor"] == "网格员小赵"
    assert "request_extension" in [n["type"] for n in request["notes"]]


def test_the_flag_is_off_for_a_new_key_and_revoking_ends_it(case, trusted_partner):
    assert ApiKey.objects.get(name="12345 热线平台").may_see_internal is False
    ApiKey.objects.filter(name="区社会治理中心").update(may_see_internal=False)
    body = fetch(f"/open311/v2/requests/{case.number}.json", {"api_key": trusted_partner})
    assert NOTE not in body and "网格员小赵" not in body
    ApiKey.objects.filter(name="区社会治理中心").update(may_see_internal=True)
    from gridcity.open311.keys import do_revoke_api_key

    do_revoke_api_key("区社会治理中心")
    body = fetch(
        f"/open311/v2/requests/{case.number}.json",
        {"api_key": trusted_partner, "extensions": "true"},
    )
    assert NOTE not in body and "网格员小赵" not in body


def test_the_admin_sets_the_flag_on_a_key(case, city, trusted_partner):
    client = Client()
    client.force_login(city.people["admin"])
    key = ApiKey.objects.get(name="12345 热线平台")
    page = client.get(f"/admin/open311/apikey/{key.pk}/change/")
    assert page.status_code == 200
    assert 'name="may_see_internal"' in page.content.decode()
