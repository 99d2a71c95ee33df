"""Weighing the pages: each person's pages (every link of the navigation, what those pages link
to, and the parts they load on demand) fetched through Django's test client, with the size of
the HTML and the server time of each.

Used by the page-weight test on the test city and by `python -m bench pages` on a full demo
city. Two times are kept per page, each the best of several fetches (a shared machine's other
work only ever adds to a time):
- wall: the time around the test client's call, what a user waits for on an idle server;
- work: the request's own share of it, the thread's CPU time plus, for a database server, the
  wall time of its queries (SQLite works inside the thread, in its CPU time). On an idle
  machine the two are the same; on a busy one (a CI machine running other tests on both
  cores) the wall time also counts the time the process waited for a core, which says nothing
  about the page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.db import connection
from django.test import Client
from django.urls import Resolver404, resolve

from gridcity.accounts.models import User
from gridcity.web.nav import home_url, nav_for

# Pages a person reaches by following a link but that are not pages to weigh: leaving, the
# admin (Django's own), files, and the machine-readable answers that feed a page.
SKIPPED_PREFIXES = ("/logout/", "/admin/", "/static/", "/media/", "/api/", "/i18n/", "/open311/")
LINK = re.compile(r"""\b(href|hx-get|data-src)="(/[^"#]*)""")
# At most this many links of one kind (one URL name) are followed from the pages of one
# person: the first case page stands for every case page. Tabs and filters of a page in the
# navigation (the same address with another query) count as kinds of their own.
PER_KIND = 2
PER_PAGE_VARIANTS = 8


@dataclass
class PageFigure:
    username: str
    url: str
    name: str  # the URL's name (web:desk …), or the path when it has none
    status: int
    bytes: int
    seconds: float  # best wall time of the fetches
    work_seconds: float  # best CPU + database time of the fetches
    partial: bool = False  # fetched as an HTMX part of a page
    times: list[float] = field(default_factory=list)
    works: list[float] = field(default_factory=list)

    @property
    def kb(self) -> float:
        return self.bytes / 1024

    @property
    def ms(self) -> float:
        return self.seconds * 1000

    @property
    def work_ms(self) -> float:
        return self.work_seconds * 1000

    def add(self, times: list[float], works: list[float]) -> None:
        self.times += times
        self.works += works
        self.seconds = min(self.times)
        self.work_seconds = min(self.works)


def url_name(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


def _is_page(path: str) -> bool:
    if path.startswith(SKIPPED_PREFIXES):
        return False
    tail = path.rsplit("/", 1)[-1]
    # Downloads (.csv, .xlsx, .pdf, .json …) are not pages.
    return "." not in tail


def links_in(html: str) -> list[tuple[str, bool]]:
    """(address, fetched as an HTMX part) of every same-site link, in page order."""
    found = []
    for attr, raw in LINK.findall(html):
        url = raw.replace("&amp;", "&")
        found.append((url, attr == "hx-get"))
    return found


class _DatabaseClock:
    """Adds up the wall time of the queries run through the connection it wraps, and the CPU
    time this thread spent on them (SQLite runs in the process)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __call__(self, execute, sql, params, many, context):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return execute(sql, params, many, context)
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.thread_time() - cpu


def weigh(client: Client, url: str, *, partial: bool = False, runs: int = 3) -> tuple:
    """(last response, wall times, work times) of `runs` fetches of `url`."""
    headers = {"HX-Request": "true"} if partial else {}
    times, works = [], []
    response = None
    for _ in range(runs):
        database = _DatabaseClock()
        with connection.execute_wrapper(database):
            wall, cpu = time.perf_counter(), time.thread_time()
            response = client.get(url, headers=headers)
            cpu = time.thread_time() - cpu
            times.append(time.perf_counter() - wall)
        # SQLite works in this thread: its queries are in the CPU time already, and their
        # wall time on a busy machine counts the waits for a core. A database server's work
        # is in the queries' wall time.
        works.append(cpu if connection.vendor == "sqlite" else cpu - database.cpu + database.wall)
        if response.status_code != 200:
            break
    return response, times, works


def walk(
    user: User, *, runs: int = 3, extra: Iterable[str] = (), client: Client | None = None
) -> list[PageFigure]:
    """Every page `user` reaches from the navigation, one or two of each kind, weighed."""
    client = client or Client()
    client.force_login(user)
    start = [home_url(user), *(item["url"] for item in nav_for(user)), *extra]
    nav_paths = {urlsplit(u).path for u in start}
    figures: list[PageFigure] = []
    seen_urls: set[str] = set()
    per_kind: dict[str, int] = {}
    queue: list[tuple[str, bool, int]] = [(u, False, 0) for u in start]
    while queue:
        url, partial, depth = queue.pop(0)
        if url in seen_urls:
            continue
        seen_urls.add(url)
        response, times, works = weigh(client, url, partial=partial, runs=runs)
        if response.status_code in (301, 302):
            # The home address sends each person on to their own first page.
            queue.insert(0, (response["Location"], partial, depth))
            continue
        content_type = response.get("Content-Type", "")
        if response.status_code == 200 and not content_type.startswith("text/html"):
            continue
        name = url_name(urlsplit(url).path) or urlsplit(url).path
        figures.append(
            PageFigure(
                user.username,
                url,
                name,
                response.status_code,
                len(response.content),
                min(times),
                min(works),
                partial,
                times,
                works,
            )
        )
        if depth >= 1 or response.status_code != 200:
            continue
        for link, is_part in links_in(response.content.decode()):
            parts = urlsplit(link)
            if link in seen_urls or not _is_page(parts.path):
                continue
            link_name = url_name(parts.path)
            if link_name is None:
                continue
            same_page = parts.path in nav_paths or parts.path == urlsplit(url).path
            if same_page and parts.query:
                kind = f"{parts.path}?{_query_keys(parts.query)}"
                limit = PER_PAGE_VARIANTS
            elif same_page:
                continue
            else:
                kind, limit = link_name, PER_KIND
            if per_kind.get(kind, 0) >= limit:
                continue
            per_kind[kind] = per_kind.get(kind, 0) + 1
            queue.append((link, is_part, depth + 1 if not is_part else depth))
    return figures


def _query_keys(query: str) -> str:
    return urlencode(sorted((k, "") for k, _v in parse_qsl(query, keep_blank_values=True)))


def heaviest(figures: list[PageFigure], n: int = 10) -> list[PageFigure]:
    return sorted(figures, key=lambda f: (f.bytes, f.seconds), reverse=True)[:n]


def slowest(figures: list[PageFigure], n: int = 10, *, work: bool = False) -> list[PageFigure]:
    return sorted(figures, key=lambda f: f.work_seconds if work else f.seconds, reverse=True)[:n]


def table(figures: list[PageFigure]) -> str:
    lines = [f"{'user':<18}{'KB':>8}{'wall ms':>9}{'work ms':>9}  status  page"]
    for f in figures:
        lines.append(
            f"{f.username:<18}{f.kb:>8.1f}{f.ms:>9.0f}{f.work_ms:>9.0f}  {f.status:<6}  {f.url}"
            + ("  (HTMX part)" if f.partial else "")
        )
    return "\n".join(lines)
