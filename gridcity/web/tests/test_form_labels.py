"""Every form field on the pages each role opens from its menu, and on the phone and public
pages, has a label a screen reader reads out: a <label> for it or around it, or an aria-label
or aria-labelledby."""

from html.parser import HTMLParser

import pytest

from gridcity.testing import build_city
from gridcity.web.nav import nav_for

UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.label_for: set[str] = set()
        self.ids: set[str] = set()
        self.in_label = 0
        self.fields: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag in {"input", "select", "textarea"}:
            if tag == "input" and (a.get("type") or "text").lower() in UNLABELLED_TYPES:
                return
            self.fields.append({"tag": tag, "wrapped": self.in_label > 0, **a})

    def handle_endtag(self, tag):
        if tag == "label" and self.in_label:
            self.in_label -= 1

    def unlabelled(self) -> list[str]:
        out = []
        for f in self.fields:
            by = (f.get("aria-labelledby") or "").split()
            if (
                f["wrapped"]
                or (f.get("id") and f["id"] in self.label_for)
                or (f.get("aria-label") or "").strip()
                or (by and all(i in self.ids for i in by))
            ):
                continue
            out.append(f"<{f['tag']} id={f.get('id')!r} name={f.get('name')!r}>")
        return out


@pytest.fixture
def city(db):
    return build_city(rules=False)


def unlabelled(html: str) -> list[str]:
    parser = Fields()
    parser.feed(html)
    return parser.unlabelled()


def test_the_checker_finds_a_field_without_a_label():
    assert unlabelled('<label for="a">A</label><input id="a"><input id="b" name="b">') == [
        "<input id='b' name='b'>"
    ]
    assert not unlabelled('<label>A <select name="s"></select></label>')
    assert not unlabelled('<span id="l">L</span><input aria-labelledby="l">')
    assert unlabelled('<input aria-labelledby="missing">')


@pytest.mark.parametrize(
    "username", ["inspector", "shift_lead", "dispatcher", "leader", "sanitation", "admin"]
)
def test_every_field_of_every_menu_page_has_a_label(client, city, username):
    user = city.people[username]
    client.force_login(user)
    urls = ["/field/report/", "/people/patrol/"] if username == "inspector" else []
    urls += [item["url"] for item in nav_for(user)]
    problems = {}
    for url in dict.fromkeys(urls):
        r = client.get(url)
        assert r.status_code == 200, url
        missing = unlabelled(r.content.decode())
        if missing:
            problems[url] = missing
    assert not problems


@pytest.mark.parametrize("url", ["/public/", "/login/", "/public/lookup/"])
def test_every_field_of_the_public_pages_has_a_label(client, city, url):
    r = client.get(url)
    assert r.status_code == 200
    assert not unlabelled(r.content.decode())
