"""Audit (issue 14, point 9): what an administrator creates, changes or deletes in the admin leaves
an audit row with who, when and each changed field's old and new value; an auditor exports a
period as CSV or XLSX, nothing outside it, with formulas neutralised.

The admin forms are submitted as a browser would: every field the page holds, as it holds it."""

import csv
import io
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from openpyxl import load_workbook

from gridcity.accounts.actions import do_create_token
from gridcity.accounts.models import ApiToken, AuditEntry, Role
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.people.actions import do_create_pairing
from gridcity.testing import build_city

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
FORMULA = '=HYPERLINK("http://evil.example/","点此核对")'


class AdminForm(HTMLParser):
    """The fields of the admin's change form, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select: dict | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("id") or "").endswith("_form"):
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data.setdefault(name, []).append(a.get("value") or "on")
                return
            self.data.setdefault(name, []).append(a.get("value") or "")
        elif tag == "select" and name:
            self._select = {"name": name, "multiple": "multiple" in a, "chosen": [], "first": None}
        elif tag == "option" and self._select is not None:
            value = a.get("value") or ""
            if self._select["first"] is None:
                self._select["first"] = value
            if "selected" in a:
                self._select["chosen"].append(value)
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select is not None:
            s = self._select
            chosen = s["chosen"] or ([] if s["multiple"] or s["first"] is None else [s["first"]])
            self.data[s["name"]] = chosen
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # A browser drops the one newline that follows <textarea>.
            self.data[self._textarea] = [self._text.removeprefix("\n")]
            self._textarea = None


def form_of(client: Client, url: str) -> dict[str, list[str]]:
    r = client.get(url)
    assert r.status_code == 200, url
    parser = AdminForm()
    parser.feed(r.content.decode())
    return parser.data


def save(client: Client, url: str, data: dict) -> None:
    r = client.post(url, {**data, "_save": "保存"})
    errors = re.findall(r'<ul class="errorlist[^>]*>(.*?)</ul>', r.content.decode(), re.S)
    assert r.status_code == 302, errors


@pytest.fixture
def city():
    return build_city()


@pytest.fixture
def admin_client(city):
    client = Client()
    client.force_login(city.people["admin"])
    return client


def entries(action: str, model: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, object_type=model).order_by("pk"))


def test_changing_a_dispatch_rule_in_the_admin_records_each_changed_field(city, admin_client):
    rule = ResponsibilityRule.objects.order_by("pk").first()
    url = f"/admin/dispatch/responsibilityrule/{rule.pk}/change/"
    data = form_of(admin_client, url)
    old_priority = rule.priority
    data["priority"] = [str(old_priority + 7)]
    data["department"] = [str(city.departments["CGZF"].pk)]
    data["note"] = [FORMULA]
    save(admin_client, url, data)

    [entry] = entries("admin_change", "dispatch.responsibilityrule")
    assert entry.object_id == str(rule.pk)
    assert entry.actor == city.people["admin"] and entry.actor_role == Role.ADMIN
    changes = entry.data["changes"]
    assert changes["priority"]["old"] == old_priority
    assert changes["priority"]["new"] == old_priority + 7
    assert changes["department"]["new"] == f"城市管理执法科室 #{city.departments['CGZF'].pk}"
    assert changes["department"]["old"].endswith(f"#{rule.department_id}")
    assert changes["note"] == {"label": changes["note"]["label"], "old": "", "new": FORMULA}
    assert set(changes) == {"priority", "department", "note"}
    assert changes["priority"]["label"] in entry.summary


def test_creating_a_dispatch_rule_in_the_admin_records_its_values(city, admin_client):
    url = "/admin/dispatch/responsibilityrule/add/"
    data = form_of(admin_client, url)
    data.update(
        {
            "major_code": ["01"],
            "area": [str(city.district.pk)],
            "department": [str(city.departments["SZSS"].pk)],
            "priority": ["3"],
        }
    )
    save(admin_client, url, data)
    rule = ResponsibilityRule.objects.get(major_code="01", department=city.departments["SZSS"])
    [entry] = entries("admin_add", "dispatch.responsibilityrule")
    assert entry.object_id == str(rule.pk)
    assert entry.data["changes"]["major_code"]["new"] == "01"
    assert entry.data["changes"]["department"]["new"] == f"市政设施科室 #{rule.department_id}"


def test_correcting_a_pairing_in_the_admin_records_old_and_new(city, admin_client):
    pairing = do_create_pairing(
        community=city.communities[0],
        starts_on=date(2026, 1, 1),
        leader=city.people["leader"],
        tasks="走访困难户",
        acting_user=city.people["leader"],
    )
    url = f"/admin/people/pairing/{pairing.pk}/change/"
    data = form_of(admin_client, url)
    data["visits_per_month"] = ["3"]
    data["tasks"] = ["走访困难户\n排查隐患"]
    save(admin_client, url, data)
    # The pairing admin writes its own row; the values are added to it, not a second row.
    [entry] = entries("admin_change", "people.pairing")
    assert entry.data["source"] == "admin"
    assert entry.data["changes"]["visits_per_month"] == {
        "label": "每月应走访次数",
        "old": 1,
        "new": 3,
    }
    assert entry.data["changes"]["tasks"]["old"] == "走访困难户"
    assert entry.data["changes"]["tasks"]["new"].replace("\r\n", "\n") == "走访困难户\n排查隐患"


def test_an_inspection_plan_created_with_its_checklist_records_every_row(city, admin_client):
    url = "/admin/campaigns/inspectionplan/add/"
    data = form_of(admin_client, url)
    prefix = next(k for k in data if k.endswith("-TOTAL_FORMS")).removesuffix("-TOTAL_FORMS")
    data.update(
        {
            "name": ["夜间市容巡查"],
            "content": ["主次干道夜间市容"],
            "method": ["planned"],
            "openness": ["open"],
            "scope": ["thematic"],
            "frequency": ["monthly"],
            "owner": [str(city.people["leader"].pk)],
            "area": [str(city.district.pk)],
            f"{prefix}-TOTAL_FORMS": ["2"],
            f"{prefix}-0-text": ["占道经营"],
            f"{prefix}-0-deduction": ["2"],
            f"{prefix}-0-position": ["1"],
            f"{prefix}-1-text": ["乱堆物料"],
            f"{prefix}-1-deduction": ["1"],
            f"{prefix}-1-position": ["2"],
        }
    )
    save(admin_client, url, data)
    [plan_entry] = entries("admin_add", "campaigns.inspectionplan")
    assert plan_entry.data["changes"]["name"]["new"] == "夜间市容巡查"
    items = entries("admin_add", "campaigns.checklistitem")
    assert sorted(e.data["changes"]["text"]["new"] for e in items) == ["乱堆物料", "占道经营"]
    assert all(e.data["parent"].startswith("夜间市容巡查") for e in items)


def test_user_changes_record_the_role_and_never_the_password_hash(city, admin_client):
    clerk = city.people["inspector"]
    url = f"/admin/accounts/user/{clerk.pk}/change/"
    data = form_of(admin_client, url)
    data["role"] = [Role.INTAKE]
    save(admin_client, url, data)
    [entry] = entries("admin_change", "accounts.user")
    assert entry.data["changes"]["role"]["old"] == Role.INSPECTOR
    assert entry.data["changes"]["role"]["new"] == Role.INTAKE

    new = "石库门-Lane-2718"
    r = admin_client.post(
        f"/admin/accounts/user/{clerk.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert r.status_code == 302
    clerk.refresh_from_db()
    rows = entries("admin_change", "accounts.user")
    assert rows[-1].data["changes"]["password"]["changed"] is True
    for row in AuditEntry.objects.all():
        text = str(row.data) + row.summary
        assert clerk.password not in text and "md5$" not in text and "pbkdf2" not in text


def test_bulk_actions_and_deletions_leave_rows_without_token_secrets(city, admin_client):
    do_create_token(city.people["inspector"], name="巡查手机")
    token = ApiToken.objects.get(name="巡查手机")
    r = admin_client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert r.status_code == 302
    [entry] = entries("revoke_token", "accounts.apitoken")
    assert entry.actor == city.people["admin"]

    rule = ResponsibilityRule.objects.order_by("pk").last()
    r = admin_client.post(f"/admin/dispatch/responsibilityrule/{rule.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    [gone] = entries("admin_delete", "dispatch.responsibilityrule")
    assert gone.object_id == str(rule.pk)
    assert gone.data["deleted"]["department"].endswith(f"#{rule.department_id}")
    for row in AuditEntry.objects.all():
        assert token.key_hash not in str(row.data)


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI)


def test_the_export_for_a_period_holds_its_rows_and_nothing_else(city, admin_client):
    rules = list(ResponsibilityRule.objects.order_by("pk")[:3])
    days = [date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)]
    # One change on each day; the middle day's at 00:05 and at 23:55 local time, its edges.
    moments = [_at(days[0], 23), _at(days[1], 0), _at(days[1], 23), _at(days[2], 0)]
    moments = [moments[0] + timedelta(minutes=55), moments[1] + timedelta(minutes=5)]
    moments += [_at(days[1], 23) + timedelta(minutes=55), _at(days[2], 0) + timedelta(minutes=5)]
    for i, (moment, rule) in enumerate(zip(moments, rules + [rules[0]], strict=True)):
        with time_machine.travel(moment, tick=False):
            url = f"/admin/dispatch/responsibilityrule/{rule.pk}/change/"
            data = form_of(admin_client, url)
            data["note"] = [f"{FORMULA} 第{i}次"]
            save(admin_client, url, data)
    inside = {"第1次", "第2次"}

    auditor = Client()
    auditor.force_login(city.people["leader"])
    query = {"date_from": "2026-03-10", "date_to": "2026-03-10"}
    page = auditor.get("/audit/", query)
    assert page.status_code == 200

    r = auditor.get("/audit/", {**query, "format": "csv"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    text = b"".join(r.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    changed = [row for row in rows if row["动作"] == "admin_change"]
    assert {n for row in changed for n in inside if n in row["变更（字段：原值 → 新值）"]} == inside
    assert len(changed) == 2
    assert "第0次" not in text and "第3次" not in text
    # A formula is text in the file: it starts with an apostrophe wherever it starts a cell.
    assert all(not v.startswith(("=", "+", "-", "@")) for row in rows for v in row.values())

    r = auditor.get("/audit/", {**query, "format": "xlsx"})
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    flat = " ".join(str(v) for row in values for v in row)
    assert "第1次" in flat and "第2次" in flat and "第0次" not in flat and "第3次" not in flat
    for row in sheet.iter_rows(min_row=2):
        for c in row:
            assert c.data_type != "f"
            assert not str(c.value or "").startswith("=")

    # The export is itself on the record.
    assert (
        AuditEntry.objects.filter(action="export_audit_log", actor=city.people["leader"]).count()
        == 2
    )


def test_only_auditors_see_the_audit_log(city):
    for who, status in (("inspector", 403), ("dispatcher", 403), ("leader", 200), ("admin", 200)):
        c = Client()
        c.force_login(city.people[who])
        assert c.get("/audit/").status_code == status, who
        assert c.get("/audit/", {"format": "csv"}).status_code == status, who
    c = Client()
    c.force_login(city.people["leader"])
    r = c.get("/audit/", {"date_from": "2026-03-10", "date_to": "2026-03-01"})
    assert r.status_code == 200 and "截止日期不能早于起始日期" in r.content.decode()
    r = c.get("/audit/", {"date_from": "0001-01-01", "format": "csv"})
    assert r.status_code == 200 and "日期应在2000年至2100年之间" in r.content.decode()
