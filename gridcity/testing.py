"""A small city for tests, built through the real actions: one district cut into two
streets, four communities and 100 m cells; the demo departments; a person for every role;
the demo standards and rules."""

from dataclasses import dataclass

from shapely.geometry import box, mapping

from gridcity.accounts.models import Department, DepartmentKind, Role, User
from gridcity.grids.actions import import_areas, make_grid
from gridcity.grids.models import Area, AreaLevel, Beat
from gridcity.taxonomy.actions import DEMO_STANDARDS_CSV, import_standards

# A 1.2 km × 0.8 km district in 上城区 (WGS84), split west/east into two streets, each into two
# communities north/south.
WEST, EAST, SOUTH, NORTH = 120.160, 120.1724, 30.240, 30.2472
MID_LON, MID_LAT = (WEST + EAST) / 2, (SOUTH + NORTH) / 2

DEPARTMENTS = [
    ("HJWS", "环境卫生科室"),
    ("CGZF", "城市管理执法科室"),
    ("SZSS", "市政设施科室"),
    ("YLLH", "园林绿化科室"),
    ("JTGL", "交通管理科室"),
]


def _fc(features):
    return {"type": "FeatureCollection", "features": features}


def _feature(code, name, geom, parent=None):
    props = {"code": code, "name": name}
    if parent:
        props["parent"] = parent
    return {"type": "Feature", "properties": props, "geometry": mapping(geom)}


@dataclass
class City:
    district: Area
    streets: list[Area]
    communities: list[Area]
    departments: dict[str, Department]
    street_offices: list[Department]
    people: dict[str, User]

    def cell(self, lon: float, lat: float) -> Area:
        from gridcity.grids.actions import locate

        return Area.objects.get(pk=locate(lon, lat).cell_id)


def make_person(username: str, role: str, department: Department | None = None, **extra) -> User:
    user = User.objects.create_user(
        username=username, password="demo12345", role=role, department=department, **extra
    )
    return user


def build_city(*, rules: bool = True) -> City:
    district_geom = box(WEST, SOUTH, EAST, NORTH)
    import_areas(
        _fc([_feature("330102", "上城区", district_geom)]),
        level=AreaLevel.DISTRICT,
        code_field="code",
        name_field="name",
    )
    streets = [
        ("330102001", "湖滨街道", box(WEST, SOUTH, MID_LON, NORTH)),
        ("330102002", "清波街道", box(MID_LON, SOUTH, EAST, NORTH)),
    ]
    import_areas(
        _fc([_feature(c, n, g, "330102") for c, n, g in streets]),
        level=AreaLevel.STREET,
        code_field="code",
        name_field="name",
        parent_field="parent",
    )
    communities = []
    for code, name, g in streets:
        minx, miny, maxx, maxy = g.bounds
        communities.append(
            (f"{code}001", f"{name[:2]}北社区", box(minx, MID_LAT, maxx, maxy), code)
        )
        communities.append(
            (f"{code}002", f"{name[:2]}南社区", box(minx, miny, maxx, MID_LAT), code)
        )
    import_areas(
        _fc([_feature(c, n, g, p) for c, n, g, p in communities]),
        level=AreaLevel.COMMUNITY,
        code_field="code",
        name_field="name",
        parent_field="parent",
    )
    district = Area.objects.get(code="330102")
    make_grid(district, cell_size_m=100)

    centre = Department.objects.create(
        code="ZX", name="城市运行管理服务中心", kind=DepartmentKind.CENTRE
    )
    depts = {code: Department.objects.create(code=code, name=name) for code, name in DEPARTMENTS}
    offices = []
    for code, name, _ in streets:
        office = Department.objects.create(
            code=f"JD{code[-3:]}", name=f"{name}办事处", kind=DepartmentKind.TERRITORIAL
        )
        Area.objects.filter(code=code).update(fallback_department=office)
        offices.append(office)

    people = {
        "intake": make_person("intake", Role.INTAKE, centre, display_name="受理员小李"),
        "shift_lead": make_person("shift_lead", Role.SHIFT_LEAD, centre, display_name="值班长老周"),
        "dispatcher": make_person("dispatcher", Role.DISPATCHER, centre, display_name="派遣员小王"),
        "leader": make_person("leader", Role.LEADER, centre, display_name="陈主任"),
        "admin": make_person("admin", Role.ADMIN, centre, is_staff=True, is_superuser=True),
        "sanitation": make_person(
            "sanitation", Role.HANDLER, depts["HJWS"], display_name="环卫小张"
        ),
        "sanitation_lead": make_person("sanitation_lead", Role.DEPT_LEAD, depts["HJWS"]),
        "enforcement": make_person("enforcement", Role.HANDLER, depts["CGZF"]),
        "municipal": make_person("municipal", Role.HANDLER, depts["SZSS"]),
        "inspector": make_person("inspector", Role.INSPECTOR, display_name="网格员小赵"),
        "inspector2": make_person("inspector2", Role.INSPECTOR, display_name="网格员小孙"),
    }
    # Beat 1: the whole west street; beat 2: the east street.
    for i, (code, name, _) in enumerate(streets, start=1):
        beat = Beat.objects.create(
            code=f"B{i:03d}",
            name=f"{name}责任网格",
            manager=people["inspector" if i == 1 else "inspector2"],
        )
        beat.cells.set(
            Area.objects.filter(level=AreaLevel.CELL, path__startswith=f"/330102/{code}/")
        )

    import_standards(DEMO_STANDARDS_CSV)
    if rules:
        add_demo_rules(depts)
    return City(
        district,
        list(Area.objects.filter(level=AreaLevel.STREET)),
        list(Area.objects.filter(level=AreaLevel.COMMUNITY)),
        depts,
        offices,
        people,
    )


def add_demo_rules(depts: dict[str, Department], district_code: str = "330102") -> None:
    """One rule per condition's handling unit, over the whole district."""
    from gridcity.dispatch.models import ResponsibilityRule
    from gridcity.taxonomy.models import FilingCondition

    by_name = {d.name: d for d in depts.values()}
    district = Area.objects.get(code=district_code)
    seen = set()
    for fc in FilingCondition.objects.select_related("category"):
        dept = by_name.get(fc.handling_unit)
        if dept is None or fc.category_id in seen:
            continue
        seen.add(fc.category_id)
        ResponsibilityRule.objects.create(category=fc.category, area=district, department=dept)


def tiny_jpeg(color=(200, 50, 50), size=(64, 48), gps: tuple[float, float] | None = None) -> bytes:
    """A real JPEG, optionally with EXIF GPS (lat, lon)."""
    import io

    from PIL import Image

    img = Image.new("RGB", size, color)
    buf = io.BytesIO()
    if gps:
        exif = Image.Exif()
        lat, lon = gps

        def dms(v):
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            return (float(d), float(m), round(((v - d) * 60 - m) * 60, 4))

        gps_ifd = {
            1: "N" if lat >= 0 else "S",
            2: dms(lat),
            3: "E" if lon >= 0 else "W",
            4: dms(lon),
        }
        exif[0x8825] = gps_ifd
        img.save(buf, format="JPEG", exif=exif)
    else:
        img.save(buf, format="JPEG")
    return buf.getvalue()
