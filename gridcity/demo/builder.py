"""Build the demo city through the real actions.

上城区's boundary is real (DataV, GCJ-02); its streets and communities are synthesised by
cutting the district into pieces of equal area and naming them after the real streets. The
case history is a discrete-event simulation: every case is a generator that performs one real
action (`do_report_case`, `do_transition_case`) at a simulated time and yields the time of its
next one, and a heap runs all of them in time order, so duplicates, sweeps and step clocks
see the city as it was at that moment. A seeded RNG makes the whole build repeatable for a
given `now`."""

import heapq
import math
import random
import time as time_mod
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import shapely
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from shapely.geometry import box, mapping, shape

from gridcity.accounts.actions import do_create_token
from gridcity.accounts.models import Department, DepartmentKind, Role, User
from gridcity.cases.actions import (
    ReportInput,
    TransitionInput,
    do_create_supervision,
    do_reply_supervision,
    do_report_case,
    do_transition_case,
    may_reply,
    sweep_deadlines,
)
from gridcity.cases.models import (
    OPEN,
    Addressee,
    Case,
    CaseEvent,
    Channel,
    Report,
    Status,
    SupervisionKind,
)
from gridcity.cases.models import SupervisionOrder as Order
from gridcity.demo import (
    city_campaigns,
    city_inspections,
    city_people,
    city_publicity,
    city_sensors,
)
from gridcity.demo.context import DemoContext
from gridcity.grids.actions import import_areas, make_grid
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.grids.spatial import get_index
from gridcity.lib.coords import CRS, from_wgs84
from gridcity.lib.errors import CaseError
from gridcity.lib.geojson import area_m2, polygonal_part
from gridcity.lib.workcalendar import Clock
from gridcity.taxonomy.actions import (
    DEMO_STANDARDS_CSV,
    get_calendar,
    import_standards,
    resolve_category,
)
from gridcity.taxonomy.models import Category
from gridcity.testing import DEPARTMENTS, add_demo_rules, tiny_jpeg

DATA_DIR = Path(__file__).resolve().parent / "data"
DISTRICT_FILE = DATA_DIR / "shangcheng_330102.geojson"
DISTRICT_CODE = "330102"
PASSWORD = "demo12345"
TZ = ZoneInfo("Asia/Shanghai")

# The real streets of 上城区 (since the 2021 merger with 江干区), each with a rough centre
# (WGS84) so the synthesised pieces carry their names in about the right place.
STREETS = [
    ("湖滨街道", "hubin", 120.166, 30.258),
    ("清波街道", "qingbo", 120.160, 30.240),
    ("小营街道", "xiaoying", 120.178, 30.262),
    ("南星街道", "nanxing", 120.172, 30.222),
    ("紫阳街道", "ziyang", 120.176, 30.240),
    ("望江街道", "wangjiang", 120.192, 30.243),
    ("凯旋街道", "kaixuan", 120.194, 30.272),
    ("采荷街道", "caihe", 120.198, 30.257),
    ("闸弄口街道", "zhanongkou", 120.192, 30.288),
    ("四季青街道", "sijiqing", 120.214, 30.252),
    ("笕桥街道", "jianqiao", 120.212, 30.300),
    ("彭埠街道", "pengbu", 120.232, 30.284),
    ("九堡街道", "jiubao", 120.278, 30.305),
    ("丁兰街道", "dinglan", 120.203, 30.333),
]

# Community names are invented from local-sounding words, in order, so a seed never changes them.
COMMUNITY_WORDS = [
    "东坡",
    "吴山",
    "涌金",
    "柳翠",
    "清河",
    "定安",
    "龙翔",
    "青年",
    "岳王",
    "金钱",
    "银枫",
    "紫薇",
    "凤凰",
    "玉皇",
    "梅花",
    "桂花",
    "荷花",
    "春江",
    "秋涛",
    "钱江",
    "望潮",
    "海潮",
    "新塘",
    "景芳",
    "三堡",
    "五堡",
    "七堡",
    "观音塘",
    "杨柳",
    "和睦",
    "明月",
    "朝晖",
    "南肖埠",
    "近江",
    "水澄",
    "甬江",
    "复兴",
    "美政",
    "江城",
    "城站",
    "华藏",
    "长明",
    "西牌楼",
    "四宜",
    "袁井",
    "葵巷",
    "直大方",
    "庆春",
    "菜市桥",
    "池塘",
    "皋塘",
    "红普",
    "芙蓉",
    "天城",
    "濮家",
    "新风",
    "机神",
    "黎明",
    "蚕桑",
    "同心",
    "常青",
    "笕新",
    "弄口",
    "草庄",
    "皋亭",
    "沿山",
    "丁桥",
    "大农港",
    "长睦",
    "运河",
    "御道",
    "双桥",
    "三里亭",
    "新城",
    "元宝塘",
    "兴隆",
    "麦庙",
    "章家桥",
    "江锦",
    "钱潮",
    "彭家",
    "云峰",
    "九环",
    "东湖",
    "乔司",
    "之江",
    "滨河",
    "白石",
    "花园",
    "木材",
    "文锦",
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董"
GIVEN = "静敏伟芳磊洋勇艳杰娟涛明超秀霞平刚桂英华玲丽强军斌波辉鹏宇浩婷雪琳晨"

# (department code, handler username, handler display name, lead username, lead display name)
DEPT_PEOPLE = {
    "HJWS": ("sanitation", "环卫·张晓燕", "sanitation_lead", "环卫科·李建国"),
    "CGZF": ("enforcement", "执法·王磊", "enforcement_lead", "执法科·陈志强"),
    "SZSS": ("municipal", "市政·刘洋", "municipal_lead", "市政科·周海明"),
    "YLLH": ("greening", "园林·赵丽", "greening_lead", "园林科·吴国华"),
    "JTGL": ("traffic", "交通·孙浩", "traffic_lead", "交通科·郑伟"),
}

# Matter codes and how often they are reported: bins, rubbish and street order dominate.
CATEGORY_WEIGHTS = {
    "06042": 16,
    "06010": 12,
    "09006": 11,
    "09009": 10,
    "06036": 9,
    "09999": 6,
    "09010": 6,
    "06012": 5,
    "06017": 3,
    "06013": 3,
    "09012": 3,
    "06001": 2,
    "06029": 2,
    "06028": 2,
    "06011": 2,
    "03008": 2,
    "01037": 2,
    "06025": 1,
    "06045": 1,
    "01002": 1,
    "01014": 1,
    "02014": 1,
    "09998": 1,
    "04001": 0.3,
    # No rule covers these: they go to the street office (属地兜底).
    "06007": 1,
    "09005": 1.5,
    "06040": 0.7,
    "09011": 1,
}

DESCRIPTIONS = {
    "06042": [
        "垃圾箱满溢，垃圾散落地面",
        "小区门口垃圾桶已满，周边有散落垃圾",
        "分类垃圾箱满溢未清运",
    ],
    "06010": ["路边成堆暴露垃圾", "绿化带旁有成片生活垃圾", "巷口暴露垃圾无人清理"],
    "09006": ["人行道上有流动摊贩占道经营", "早餐摊占用人行道", "水果摊占道经营影响通行"],
    "09009": ["机动车停放在人行道上", "车辆占用盲道停放", "路口机动车乱停影响通行"],
    "06036": ["楼道口乱堆杂物", "沿街乱堆建筑材料", "公共区域堆放废旧家具"],
    "09999": ["有人遛狗不牵绳", "宠物粪便未清理"],
    "09010": ["共享单车成片乱停放", "非机动车堵塞人行道"],
}
DEFAULT_DESCRIPTIONS = ["现场发现问题，请尽快处置", "巡查发现，需处理", "影响市容，请处理"]
ADDRESSES = [
    "解放路",
    "延安路",
    "中山中路",
    "河坊街",
    "南山路",
    "望江路",
    "秋涛路",
    "凯旋路",
    "采荷路",
    "天城路",
    "九堡大街",
    "丁兰路",
    "艮山西路",
    "新塘路",
    "清江路",
    "钱江路",
]


@dataclass
class DemoOptions:
    seed: int = 1
    months: float = 6
    cases: int = 2500
    cell_size_m: float = 100.0
    now: datetime | None = None


@dataclass
class Login:
    username: str
    role: str
    department: str
    display_name: str


@dataclass
class DemoResult:
    cells: int = 0
    streets: int = 0
    communities: int = 0
    beats: int = 0
    cases: int = 0
    reports: int = 0
    events: int = 0
    orders: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    token: str = ""
    skipped: Counter = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=dict)
    modules: dict[str, dict[str, int]] = field(default_factory=dict)  # module -> rows made
    context: DemoContext | None = None  # what the modules were built from
    seconds: float = 0.0


def has_data() -> bool:
    return Area.objects.exists()


# ---------------------------------------------------------------------------------------------
# Geometry: cutting a polygon into pieces of equal area


def split_equal(geom, n: int) -> list:
    """Cut `geom` into `n` pieces of equal area by recursive bisection across its longer side.
    Deterministic, and neighbouring pieces share their cut lines exactly."""
    if n <= 1:
        return [geom]
    a = n // 2
    minx, miny, maxx, maxy = geom.bounds
    kx = math.cos(math.radians((miny + maxy) / 2))
    vertical = (maxx - minx) * kx >= (maxy - miny)
    target = geom.area * a / n
    lo, hi = (minx, maxx) if vertical else (miny, maxy)

    def halves(c):
        if vertical:
            return box(minx - 1, miny - 1, c, maxy + 1), box(c, miny - 1, maxx + 1, maxy + 1)
        return box(minx - 1, miny - 1, maxx + 1, c), box(minx - 1, c, maxx + 1, maxy + 1)

    shapely.prepare(geom)
    for _ in range(40):
        mid = (lo + hi) / 2
        if geom.intersection(halves(mid)[0]).area < target:
            lo = mid
        else:
            hi = mid
    first_box, second_box = halves((lo + hi) / 2)
    first = polygonal_part(geom.intersection(first_box))
    second = polygonal_part(geom.intersection(second_box))
    return split_equal(first, a) + split_equal(second, n - a)


def _fc(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}


def _feature(code: str, name: str, geom, parent: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "parent": parent},
        "geometry": mapping(geom),
    }


def _name_pieces(pieces: list) -> list[int]:
    """For each street of STREETS, the index of its piece: closest pairs first."""
    pairs = sorted(
        (
            (p.representative_point().x - lon) ** 2 + (p.representative_point().y - lat) ** 2,
            si,
            pi,
        )
        for si, (_, _, lon, lat) in enumerate(STREETS)
        for pi, p in enumerate(pieces)
    )
    chosen: dict[int, int] = {}
    used: set[int] = set()
    for _, si, pi in pairs:
        if si in chosen or pi in used:
            continue
        chosen[si] = pi
        used.add(pi)
    return [chosen[si] for si in range(len(STREETS))]


def build_areas(cell_size_m: float) -> Area:
    import_areas(
        DISTRICT_FILE,
        level=AreaLevel.DISTRICT,
        code_field="adcode",
        name_field="name",
        crs=CRS.GCJ02,
    )
    district = Area.objects.get(code=DISTRICT_CODE)
    dgeom = shape(district.geometry)
    pieces = split_equal(dgeom, len(STREETS))
    order = _name_pieces(pieces)
    street_features, community_features = [], []
    word = iter(COMMUNITY_WORDS)
    for i, ((name, _, _, _), pi) in enumerate(zip(STREETS, order, strict=True), start=1):
        code = f"{DISTRICT_CODE}{i:03d}"
        geom = pieces[pi]
        street_features.append(_feature(code, name, geom, DISTRICT_CODE))
        # Communities of about 2.2 km²: ~220 cells of 100 m, far below the 999 a code allows.
        n = max(2, math.ceil(area_m2(geom) / 2.2e6))
        for j, cgeom in enumerate(split_equal(geom, n), start=1):
            cname = f"{name}{next(word, f'第{j}')}社区"
            community_features.append(_feature(f"{code}{j:03d}", cname, cgeom, code))
    for level, features in (
        (AreaLevel.STREET, street_features),
        (AreaLevel.COMMUNITY, community_features),
    ):
        import_areas(
            _fc(features),
            level=level,
            code_field="code",
            name_field="name",
            parent_field="parent",
        )
    make_grid(district, cell_size_m=cell_size_m)
    return district


# ---------------------------------------------------------------------------------------------
# Departments and people


def _person_names(rng: random.Random, n: int) -> list[str]:
    names, seen = [], set()
    while len(names) < n:
        name = (
            rng.choice(SURNAMES)
            + rng.choice(GIVEN)
            + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        )
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


@dataclass
class People:
    centre: dict[str, User]
    handlers: dict[int, User]  # department id -> handler
    leads: dict[int, User]  # department id -> department lead
    inspectors: list[User]
    office_of_street: dict[str, Department]  # street code -> street office
    depts: dict[str, Department]
    logins: list[Login]


def build_people(rng: random.Random, streets: list[Area]) -> People:
    hashed = make_password(PASSWORD)  # one hash for every demo login: hashing is slow
    logins: list[Login] = []

    def person(username, role, dept=None, display="", **extra) -> User:
        user = User(
            username=username,
            role=role,
            department=dept,
            display_name=display,
            password=hashed,
            **extra,
        )
        user.save()
        logins.append(Login(username, Role(role).label, dept.name if dept else "", display))
        return user

    centre_dept = Department.objects.create(
        code="ZX", name="城市运行管理服务中心", kind=DepartmentKind.CENTRE
    )
    depts = {code: Department.objects.create(code=code, name=name) for code, name in DEPARTMENTS}
    office_of_street = {}
    for street in streets:
        office = Department.objects.create(
            code=f"JD{street.code[-3:]}",
            name=f"{street.name}办事处",
            kind=DepartmentKind.TERRITORIAL,
        )
        Area.objects.filter(pk=street.pk).update(fallback_department=office)
        office_of_street[street.code] = office

    centre = {
        "admin": person(
            "admin", Role.ADMIN, centre_dept, "系统管理员", is_staff=True, is_superuser=True
        ),
        "leader": person("leader", Role.LEADER, centre_dept, "陈主任"),
        "intake": person("intake", Role.INTAKE, centre_dept, "受理员·李晓雯"),
        "shiftlead": person("shiftlead", Role.SHIFT_LEAD, centre_dept, "值班长·周建平"),
        "dispatcher": person("dispatcher", Role.DISPATCHER, centre_dept, "派遣员·王涛"),
    }
    handlers, leads = {}, {}
    for code, (h, hname, lead, lname) in DEPT_PEOPLE.items():
        dept = depts[code]
        handlers[dept.pk] = person(h, Role.HANDLER, dept, hname)
        leads[dept.pk] = person(lead, Role.DEPT_LEAD, dept, lname)
    by_name = {name: pinyin for name, pinyin, _, _ in STREETS}
    for street in streets:
        office = office_of_street[street.code]
        handlers[office.pk] = person(
            by_name.get(street.name, f"street{street.code[-3:]}"),
            Role.HANDLER,
            office,
            f"{street.name[:-2]}街道·城管员",
        )
    names = _person_names(rng, 30)
    inspectors = [
        person(f"inspector{i}", Role.INSPECTOR, None, f"网格员·{names[i - 1]}")
        for i in range(1, 31)
    ]
    return People(centre, handlers, leads, inspectors, office_of_street, depts, logins)


def build_beats(inspectors: list[User]) -> int:
    """~30 beats of contiguous cells: allotted to streets by their share of cells, and within a
    street cut at community borders where one is near, else inside a community."""
    cells = list(
        Area.objects.filter(level=AreaLevel.CELL, is_active=True)
        .order_by("code")
        .values_list("pk", "code")
    )
    by_street: dict[str, list[tuple[int, str]]] = {}
    for pk, code in cells:
        by_street.setdefault(code[:9], []).append((pk, code))
    total, k = len(cells), len(inspectors)
    quotas = {s: len(v) * k / total for s, v in by_street.items()}
    alloc = {s: max(1, int(q)) for s, q in quotas.items()}
    # Largest remainders get the beats left over (or give back the extra ones).
    for s in sorted(quotas, key=lambda s: quotas[s] - int(quotas[s]), reverse=True):
        if sum(alloc.values()) >= k:
            break
        alloc[s] += 1
    while sum(alloc.values()) > k:
        s = max(alloc, key=lambda s: alloc[s] - quotas[s])
        alloc[s] -= 1
    n = 0
    for street_code in sorted(by_street):
        street_cells = by_street[street_code]
        beats = min(alloc[street_code], len(street_cells))
        size = len(street_cells) / beats
        borders = [
            i
            for i in range(1, len(street_cells))
            if street_cells[i][1][:12] != street_cells[i - 1][1][:12]
        ]
        cuts, last = [], 0
        for j in range(1, beats):
            ideal = round(j * size)
            near = min(borders, key=lambda b: abs(b - ideal), default=None)
            cut = near if near is not None and abs(near - ideal) <= 0.35 * size else ideal
            if cut <= last:
                cut = ideal
            cuts.append(cut)
            last = cut
        bounds = [0, *cuts, len(street_cells)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            if n >= len(inspectors) or a >= b:
                continue
            manager = inspectors[n]
            n += 1
            beat = Beat.objects.create(
                code=f"B{n:03d}",
                name=f"第{n}责任网格（{manager.display_name.split('·')[-1]}）",
                manager=manager,
            )
            beat.cells.set([pk for pk, _ in street_cells[a:b]])
    return n


# ---------------------------------------------------------------------------------------------
# History


@dataclass
class Spec:
    """What will happen to one case (drawn at the start, so the history is reproducible)."""

    t0: datetime
    channel: str
    category: Category
    cell_index: int
    recent: bool
    stop: str = ""  # leave the case open at this point (recent cases only)


Life = Generator[datetime, None, None]


class History:
    def __init__(self, rng: random.Random, people: People, start: datetime, end: datetime):
        self.rng = rng
        self.p = people
        self.start, self.end = start, end
        self.cal = get_calendar()
        self.now = start
        self.heap: list[tuple[datetime, int, Iterator]] = []
        self.seq = 0
        self.skipped: Counter = Counter()
        self.index = get_index()
        self.cell_weights = [rng.lognormvariate(0, 1.0) for _ in self.index.cells]
        self.beat_manager = {
            cell_id: manager
            for cell_id, manager in Beat.objects.values_list("cells__id", "manager_id")
            if cell_id
        }
        self.users = {u.pk: u for u in User.objects.all()}
        self.photos = [
            tiny_jpeg(c, size=(48, 36)) for c in ((60, 140, 70), (90, 90, 160), (150, 120, 80))
        ]
        self.recent_cases: list[tuple[datetime, int, int, float, float]] = []
        self.street_offices = people.office_of_street
        cats = {}
        for code, w in CATEGORY_WEIGHTS.items():
            c = resolve_category(code)
            if c is not None:
                cats[c] = w
        self.categories = list(cats)
        self.category_w = list(cats.values())
        self.conditions = {
            c.pk: list(c.conditions.order_by("order", "pk")) for c in self.categories
        }

    # -- scheduling --------------------------------------------------------------------------

    def schedule(self, t: datetime, life: Iterator) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, life))

    def run(self) -> None:
        while self.heap:
            t, _, life = heapq.heappop(self.heap)
            if t > self.end:
                continue  # the future: the case stays where it is now
            self.now = t
            try:
                nxt = next(life)
            except StopIteration:
                continue
            except CaseError as exc:
                self.skipped[type(exc).__name__ + ": " + exc.message[:60]] += 1
                continue
            self.schedule(max(nxt, t + timedelta(seconds=30)), life)

    def work(self, hours: float) -> datetime:
        """`hours` of working time after now (08:00–12:00, 14:00–18:00 on working days)."""
        return self.cal.add(self.now, max(hours, 0.02), Clock.WORK_HOURS)

    def jitter(self, lo: float, hi: float) -> datetime:
        return self.work(self.rng.uniform(lo, hi))

    # -- the plan ----------------------------------------------------------------------------

    def plan(self, n_cases: int) -> list[Spec]:
        rng = self.rng
        recent_start = self._recent_start()
        n_recent = min(max(24, round(n_cases * 0.06)), n_cases // 2)
        specs = []
        for i in range(n_cases):
            recent = i < n_recent
            channel = rng.choices(
                [
                    Channel.INSPECTOR,
                    Channel.CITIZEN,
                    Channel.HOTLINE,
                    Channel.SENSOR,
                    Channel.LEADER,
                ],
                [68, 17, 12, 2, 1],
            )[0]
            category = rng.choices(self.categories, self.category_w)[0]
            if channel == Channel.SENSOR:
                category = resolve_category("06042")
            lo = recent_start if recent else self.start
            hi = self.end if recent else recent_start
            t0 = self._report_time(rng, lo, hi, channel)
            cell = rng.choices(range(len(self.index.cells)), self.cell_weights)[0]
            stop = ""
            if recent:
                stop = rng.choice(
                    [
                        "triage",
                        "filed",
                        "dispatched",
                        "handling",
                        "handling",
                        "extension",
                        "handled",
                        "checked",
                        "",
                    ]
                )
            specs.append(Spec(t0, channel, category, cell, recent, stop))
        specs.sort(key=lambda s: s.t0)
        return specs

    def _recent_start(self) -> datetime:
        """08:00 of the second-last working day before the end: the open work on the boards."""
        local_end = timezone.localtime(self.end, TZ)
        d = local_end.date()
        found = 0
        while True:
            # Today counts only once its working day has begun.
            if self.cal.is_workday(d) and (d != local_end.date() or local_end.hour >= 9):
                found += 1
                if found == 2:
                    return datetime(d.year, d.month, d.day, 8, tzinfo=TZ)
            d -= timedelta(days=1)

    def _report_time(self, rng, lo: datetime, hi: datetime, channel: str) -> datetime:
        span = (hi - lo).total_seconds()
        for _ in range(50):
            t = lo + timedelta(seconds=rng.uniform(0, span))
            local = timezone.localtime(t, TZ)
            h = local.hour + local.minute / 60
            if channel in (Channel.INSPECTOR, Channel.LEADER):
                # Grid managers report on patrol: working hours, fewer on days off.
                if not (8 <= h < 12 or 14 <= h < 18):
                    continue
                if not self.cal.is_workday(local.date()) and rng.random() < 0.8:
                    continue
            elif (
                channel in (Channel.CITIZEN, Channel.HOTLINE)
                and (h < 7 or h >= 22)
                and rng.random() < 0.85
            ):
                continue
            return t
        return t

    # -- people ------------------------------------------------------------------------------

    def handler(self, case: Case) -> User:
        return self.p.handlers[case.department_id]

    def lead(self, case: Case) -> User:
        return self.p.leads.get(case.department_id) or self.handler(case)

    @property
    def intake(self) -> User:
        return self.p.centre["intake"]

    @property
    def dispatcher(self) -> User:
        return self.p.centre["dispatcher"]

    def checker(self, case: Case) -> User:
        if case.assignee_id and case.assignee_id in self.users:
            return self.users[case.assignee_id]
        return self.intake

    def act(self, case: Case, action: str, user: User, **data) -> Case:
        return do_transition_case(
            case, action, acting_user=user, data=TransitionInput(**data), now=self.now
        )

    def photo(self) -> list[tuple[str, bytes]]:
        return [("after.jpg", self.rng.choice(self.photos))]

    # -- one case ----------------------------------------------------------------------------

    def point_in(self, cell_index: int) -> tuple[float, float]:
        g = self.index.geometries[cell_index]
        minx, miny, maxx, maxy = g.bounds
        for _ in range(30):
            x, y = self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy)
            if g.contains(shapely.Point(x, y)):
                return x, y
        p = g.representative_point()
        return p.x, p.y

    def life(self, spec: Spec, key: str) -> Life:
        rng = self.rng
        cell = self.index.cells[spec.cell_index]
        lon, lat = self.point_in(spec.cell_index)
        conditions = self.conditions.get(spec.category.pk) or [None]
        condition = conditions[0] if rng.random() < 0.75 else rng.choice(conditions)
        texts = DESCRIPTIONS.get(spec.category.code, DEFAULT_DESCRIPTIONS)
        road = rng.choice(ADDRESSES)
        inp = ReportInput(
            category=spec.category,
            channel=spec.channel,
            description=rng.choice(texts),
            address=f"{road}{rng.randint(1, 399)}号附近",
        )
        actor = None
        duplicate_of = self._duplicate_target(spec) if rng.random() < 0.04 else None
        if duplicate_of is not None:
            # A second report of a case still open nearby: the intake links it.
            _, _, _, dlon, dlat = duplicate_of
            lon, lat = dlon + rng.uniform(-5e-5, 5e-5), dlat + rng.uniform(-4e-5, 4e-5)
            inp.channel = Channel.CITIZEN
        if inp.channel in (Channel.INSPECTOR, Channel.LEADER):
            actor = (
                self.users.get(self.beat_manager.get(cell.id))
                if inp.channel == Channel.INSPECTOR
                else self.p.centre["leader"]
            )
            inp.filing_condition = condition
            # Phones report GCJ-02.
            inp.lon, inp.lat = from_wgs84(lon, lat, CRS.GCJ02)
            inp.crs = CRS.GCJ02
            if rng.random() < 0.2:
                inp.photos = [("before.jpg", rng.choice(self.photos))]
        elif inp.channel == Channel.SENSOR:
            inp.lon, inp.lat = lon, lat
            inp.description = "垃圾箱满溢传感器：满溢度 95%"
        else:
            inp.reporter_name = rng.choice(SURNAMES) + rng.choice(["先生", "女士"])
            inp.reporter_phone = f"13{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
            # Now and then a caller gives only an address: the case waits to be placed by hand.
            if not (
                inp.channel == Channel.HOTLINE and rng.random() < 0.12 and duplicate_of is None
            ):
                inp.lon, inp.lat = from_wgs84(lon, lat, CRS.GCJ02)
                inp.crs = CRS.GCJ02
        result = do_report_case(inp, acting_user=actor, idempotency_key=key, now=self.now)
        case = result.case
        if result.linked_to_existing:
            return
        self.recent_cases.append(
            (self.now, case.pk, spec.category.pk, case.lon or 0, case.lat or 0)
        )
        stop = spec.stop

        # -- triage: locate, verify, file ----------------------------------------------------
        if case.status == Status.UNLOCATED:
            if stop == "triage":
                return
            yield self.jitter(0.1, 0.8)
            case = self.act(case, "locate", self.intake, lon=lon, lat=lat)
            yield self.jitter(0.05, 0.4)
            case = self.act(case, "send_verify", self.intake)
        if case.status == Status.VERIFYING:
            if stop == "triage":
                return
            yield self.jitter(0.2, 1.4) if rng.random() < 0.9 else self.jitter(1.1, 3)
            if rng.random() < 0.04 and self.recent_cases:
                target = self._merge_target(case)
                if target is not None:
                    self.act(case, "merge", self.intake, merge_into=target)
                    return
            verified = rng.random() < 0.88
            case = self.act(
                case,
                "verify",
                self.checker(case),
                verified=verified,
                note="现场核实属实" if verified else "现场未发现所述问题",
            )
            yield self.jitter(0.05, 0.6)
            if not verified:
                self.act(case, "void", self.intake, note="经网格员现场核实，问题不属实，作废")
                return
        if case.status == Status.REPORTED:
            if stop == "triage":
                return
            yield self.jitter(0.05, 0.5)
            if rng.random() < 0.03:
                self.act(case, "void", self.intake, note="信息不全且无法联系上报人，作废")
                return
            case = self.act(case, "file", self.intake, filing_condition=condition)
        if case.status == Status.FILED:
            if stop == "filed":
                return
            yield self.jitter(0.05, 0.5) if rng.random() < 0.92 else self.jitter(0.6, 2)
            case = self.act(case, "dispatch", self.dispatcher)

        # -- at the department ---------------------------------------------------------------
        returned = rng.random() < 0.06
        while case.status == Status.DISPATCHED:
            if stop == "dispatched":
                return
            yield self.jitter(0.05, 0.9) if rng.random() < 0.9 else self.jitter(1.1, 3)
            if returned:
                returned = False
                case = self.act(
                    case, "return", self.handler(case), note="经现场查看，不属于本部门职责范围"
                )
                if stop == "filed":
                    return
                yield self.jitter(0.1, 1.0)
                if rng.random() < 0.25:
                    case = self.act(
                        case,
                        "reject_return",
                        self.dispatcher,
                        note="经核对责任清单，仍由你部门处置",
                    )
                else:
                    case = self.act(
                        case,
                        "dispatch",
                        self.dispatcher,
                        department=self._other_department(case),
                        note="原部门回退，按属地原则改派",
                    )
                continue
            case = self.act(case, "sign", self.handler(case))
        if case.status != Status.HANDLING:
            return
        if stop == "handling" and rng.random() < 0.5:
            return
        for attempt in range(3):
            yield from self._handle(case, stop, first=attempt == 0)
            case.refresh_from_db()
            if case.status != Status.HANDLING or (stop in ("handling", "extension")):
                return
            case = self.act(
                case, "report_back", self.handler(case), photos=self.photo(), note="已处置完毕"
            )
            if stop == "handled":
                return
            yield self.jitter(0.1, 1.5) if rng.random() < 0.85 else self.jitter(1.5, 6)
            if attempt == 0 and rng.random() < 0.08:
                case = self.act(
                    case, "check_fail", self.checker(case), note="现场复核，问题未整改到位，返工"
                )
                continue
            case = self.act(case, "check_pass", self.checker(case), note="现场核查已整改")
            break
        if case.status != Status.CHECKED or stop == "checked":
            return
        yield self.jitter(0.05, 0.8) if rng.random() < 0.9 else self.jitter(1.0, 3)
        self.act(case, "close", self.p.centre["shiftlead"])

    def _handle(self, case: Case, stop: str, *, first: bool) -> Life:
        """Handling, with an extension or a hold now and then; ends when the fix is done."""
        rng = self.rng
        r = rng.random()
        if first and (r < 0.07 or stop == "extension"):
            yield self.jitter(0.3, 3)
            self.act(
                case,
                "request_extension",
                self.lead(case),
                extension=rng.choice(["1工作日", "2工作日", "3工作日"]),
                note="需协调相关单位联合处置，申请延期",
            )
            if stop == "extension":
                return
            yield self.jitter(0.1, 1.5)
            if rng.random() < 0.7:
                self.act(case, "approve_extension", self.dispatcher)
            else:
                self.act(
                    case, "refuse_extension", self.dispatcher, note="延期理由不充分，请按期处置"
                )
        elif first and r < 0.09:
            yield self.jitter(0.5, 3)
            self.act(case, "request_hold", self.lead(case), note="涉及产权争议，需等待鉴定结果")
            yield self.jitter(0.2, 2)
            if rng.random() < 0.7:
                self.act(case, "approve_hold", self.dispatcher)
                if stop:
                    return
                yield self.work(rng.uniform(8, 40))
                self.act(case, "resume", self.handler(case))
            else:
                self.act(case, "refuse_hold", self.dispatcher, note="不符合挂账条件，请继续处置")
        case.refresh_from_db()
        if stop == "handling" or case.handle_deadline is None:
            return
        # Most fixes land inside the limit; about one in eight runs over.
        total = max(self.cal.elapsed(self.now, case.handle_deadline, Clock.WORK_HOURS), 0.25)
        share = rng.uniform(0.1, 0.9) if rng.random() < 0.87 else rng.uniform(1.05, 1.8)
        yield self.work(total * share)

    def _duplicate_target(self, spec: Spec):
        cutoff = spec.t0 - timedelta(hours=20)
        for row in reversed(self.recent_cases[-60:]):
            if row[0] >= cutoff and row[2] == spec.category.pk and row[3]:
                return row
        return None

    def _merge_target(self, case: Case) -> Case | None:
        cutoff = self.now - timedelta(days=2)
        ids = [row[1] for row in self.recent_cases[-40:] if row[0] >= cutoff and row[1] != case.pk]
        return (
            Case.objects.filter(pk__in=ids, status__in=OPEN)
            .exclude(status=Status.UNLOCATED)
            .order_by("-pk")
            .first()
        )

    def _other_department(self, case: Case) -> Department:
        street_code = case.area_path.strip("/").split("/")[1]
        office = self.street_offices.get(street_code)
        if office is not None and office.pk != case.department_id:
            return office
        return self.p.depts["CGZF"]

    def sweeps(self) -> Life:
        """The deadline sweeper, run every Friday at 17:30 (and once more at the end)."""
        t = timezone.localtime(self.start, TZ).replace(hour=17, minute=30, second=0, microsecond=0)
        while True:
            t += timedelta(days=1)
            if t.weekday() != 4:
                continue
            if t > self.end:
                return
            yield t
            sweep_deadlines(now=self.now)


def run_history(
    rng: random.Random, people: People, start: datetime, end: datetime, n: int
) -> History:
    h = History(rng, people, start, end)
    for i, spec in enumerate(h.plan(n)):
        h.schedule(spec.t0, h.life(spec, f"demo-{i:05d}"))
    h.schedule(start, h.sweeps())
    h.run()
    h.now = end
    sweep_deadlines(now=end)
    return h


def add_supervision(rng: random.Random, people: People) -> None:
    """Leader and key-case orders on open overdue cases, and some replies. These two actions
    take no `now`, so they run at the real end of the history."""
    overdue = list(
        Case.objects.filter(
            status__in=[Status.HANDLING, Status.DISPATCHED], step_overdue_at__isnull=False
        ).order_by("pk")[:4]
    )
    for i, case in enumerate(overdue):
        if i < 3:
            do_create_supervision(
                case,
                acting_user=people.centre["leader"],
                kind=SupervisionKind.LEADER,
                note="群众反映强烈，请于今日内处置完毕并答复",
            )
        else:
            do_create_supervision(
                case,
                acting_user=people.centre["dispatcher"],
                kind=SupervisionKind.KEY_CASE,
                note="重点案件，请加快处置",
            )
    standing = Order.objects.filter(replied_at__isnull=True, settled_at__isnull=True)
    for order in list(standing.select_related("addressee").order_by("pk"))[::2]:
        if order.addressee_kind == Addressee.FIELD:
            user, reply = order.addressee, "已到现场，今日内完成核查"
        elif order.addressee_kind == Addressee.CENTRE:
            user, reply = people.centre["shiftlead"], "已安排值班人员立即办理"
        else:
            user, reply = (
                people.handlers.get(order.department_id),
                "已安排人员到场处置，预计今日完成",
            )
        if user is not None and may_reply(order, user) is None:
            do_reply_supervision(order, acting_user=user, reply=reply)


# ---------------------------------------------------------------------------------------------
# The whole build

# The supervision modules around the case loop, built after the history through their own
# actions, each in its own transaction: (the name the build log shows, build(ctx) -> counts).
MODULES: list[tuple[str, Callable[[DemoContext], dict[str, int]]]] = [
    ("物联感知", city_sensors.build),
    ("专项整治", city_campaigns.build),
    ("督查检查", city_inspections.build),
    ("包村居与队伍", city_people.build),
    ("曝光台", city_publicity.build),
]


def build_demo(opts: DemoOptions, *, log: Callable[[str], None] = lambda s: None) -> DemoResult:
    t_start = time_mod.monotonic()
    result = DemoResult()
    rng = random.Random(opts.seed)
    end = opts.now or timezone.now()
    start = end - timedelta(days=round(30.4 * opts.months))

    def lap(name: str, t0: float) -> float:
        t = time_mod.monotonic()
        result.timings[name] = round(t - t0, 1)
        log(f"  {name}：{t - t0:.1f} 秒")
        return t

    # One transaction: on SQLite it saves a sync per action, and a failed build leaves nothing.
    with transaction.atomic():
        t = time_mod.monotonic()
        log("导入上城区边界，划分街道、社区和单元网格…")
        build_areas(opts.cell_size_m)
        t = lap("区域与网格", t)
        import_standards(DEMO_STANDARDS_CSV)
        streets = list(Area.objects.filter(level=AreaLevel.STREET).order_by("code"))
        people = build_people(rng, streets)
        add_demo_rules(people.depts, DISTRICT_CODE)
        result.beats = build_beats(people.inspectors)
        result.token = do_create_token(people.inspectors[0], name="演示手机", now=end)
        result.logins = people.logins
        t = lap("部门、人员、立结案标准和派遣规则", t)
        log(f"模拟 {opts.months:g} 个月的案件历史（{opts.cases} 件）…")
        history = run_history(rng, people, start, end, opts.cases)
        add_supervision(rng, people)
        t = lap("案件历史", t)
    ctx = result.context = DemoContext(rng=rng, people=people, start=start, now=end)
    for name, build in MODULES:
        with transaction.atomic():
            result.modules[name] = build(ctx)
        t = lap(name, t)
    result.skipped = history.skipped
    result.cells = Area.objects.filter(level=AreaLevel.CELL, is_active=True).count()
    result.streets = len(streets)
    result.communities = Area.objects.filter(level=AreaLevel.COMMUNITY).count()
    result.cases = Case.objects.count()
    result.reports = Report.objects.count()
    result.events = CaseEvent.objects.count()
    result.orders = Order.objects.count()
    result.statuses = dict(Counter(Case.objects.values_list("status", flat=True)))
    result.seconds = time_mod.monotonic() - t_start
    return result
