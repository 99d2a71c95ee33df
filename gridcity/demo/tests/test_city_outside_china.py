"""A US city set up from files and commands only, as the README's "Setting up a city outside
China" walks it: areas, a grid with the city's own codes, departments, users, categories,
rules, America/New_York with US federal holidays and the city's own days off; then reports
through the JSON API."""

import io
import json
import zoneinfo
from datetime import datetime, time
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client, override_settings

from gridcity.cases.models import Case
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.workcalendar import parse_holiday_region

pytestmark = pytest.mark.django_db(transaction=False)

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
# A 2 km square of downtown Boston, in WGS 84.
WEST, EAST, SOUTH, NORTH = -71.070, -71.046, 42.350, 42.368
INSIDE = (-71.058, 42.359)
# A 62-character agency name used as its code, as Boston's own data names it.
PWD = "Public Works Department - Street and Sidewalk Maintenance Unit"
CITY_SETTINGS = {
    "TIME_ZONE": "America/New_York",
    "GRIDCITY_WORKING_PERIODS": [("09:00", "17:00")],
    "GRIDCITY_WORKING_DAYS": [1, 2, 3, 4, 5],
    "GRIDCITY_HOLIDAYS": parse_holiday_region("US"),
}


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def write(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def set_up_boston(tmp: Path) -> str:
    """Every step a 311 administrator takes, from files; returns an API token."""
    square = [[WEST, SOUTH], [EAST, SOUTH], [EAST, NORTH], [WEST, NORTH], [WEST, SOUTH]]
    areas = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"CODE": "BOS", "NAME": "Boston"},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            }
        ],
    }
    run(
        "import-areas",
        write(tmp, "boston.geojson", json.dumps(areas)),
        "--level",
        "district",
        "--code-field",
        "CODE",
        "--name-field",
        "NAME",
    )
    run("make-grid", "BOS", "--cell-size", "250", "--code-template", "BOS-{row:02d}-{col:02d}")
    run(
        "import-departments",
        write(tmp, "departments.csv", f"code,name,parent_code\n{PWD},Public Works,\nDoIT,DoIT,\n"),
    )
    run(
        "import-standards",
        write(
            tmp,
            "standards.csv",
            "大类代码,大类名称,小类代码,小类名称,处置单位,主管部门,立案条件,结案条件,处置时限,无需位置\n"
            f"90,Streets,90001,Pothole,{PWD},{PWD},Any pothole,Repaired,1工作日,否\n"
            "91,Accounts,91001,Account question,DoIT,DoIT,Any question,Answered,1工作日,是\n",
        ),
    )
    run(
        "import-rules",
        write(
            tmp,
            "rules.csv",
            "category_code,area_code,filing_condition,department_code,priority\n"
            f"90001,BOS,,{PWD},0\n91001,,,DoIT,0\n",
        ),
    )
    run(
        "import-holidays",
        write(tmp, "days-off.csv", "date,type,note\n03-17,off,Evacuation Day\n"),
    )
    users = write(
        tmp,
        "users.csv",
        f"username,full name,role,department\nmgarcia,Maria Garcia,handler,{PWD}\n"
        "ops311,Ops,Grid manager,\n",
    )
    passwords = run("import-users", users)
    assert passwords.splitlines()[0] == "username,password"
    return run("create-token", "ops311", "--days", "3650").strip()


def report(client: Client, token: str, **body) -> dict:
    r = client.post(
        "/api/cases",
        data=json.dumps(body),
        content_type="application/json",
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.content
    return r.json()


def local(moment: datetime) -> datetime:
    return moment.astimezone(NEW_YORK)


@override_settings(**CITY_SETTINGS)
def test_a_us_city_set_up_from_files_routes_and_times_its_reports(tmp_path):
    token = set_up_boston(tmp_path)
    cells = Area.objects.filter(level=AreaLevel.CELL, parent__code="BOS").values_list(
        "code", flat=True
    )
    assert "BOS-01-01" in set(cells) and len(cells) >= 60
    client = Client()

    # Friday 22 May 2026, 16:30 in Boston, before Memorial Day (Monday 25 May).
    with time_machine.travel(datetime(2026, 5, 22, 16, 30, tzinfo=NEW_YORK), tick=False):
        pothole = report(client, token, category="90001", lon=INSIDE[0], lat=INSIDE[1])
    case = Case.objects.get(number=pothole["number"])
    assert case.department.code == PWD
    assert case.cell.code.startswith("BOS-")
    due = local(case.handle_deadline)
    # Half an hour on Friday, Memorial Day skipped, seven and a half hours on Tuesday.
    assert due == datetime(2026, 5, 26, 16, 30, tzinfo=NEW_YORK)
    assert time(9) <= due.time() <= time(17)

    # The city's own day off (Evacuation Day, every 17 March) is skipped too.
    with time_machine.travel(datetime(2027, 3, 16, 16, 0, tzinfo=NEW_YORK), tick=False):
        second = report(client, token, category="90001", lon=INSIDE[0] + 0.004, lat=INSIDE[1])
    due = local(Case.objects.get(number=second["number"]).handle_deadline)
    assert due == datetime(2027, 3, 18, 16, 0, tzinfo=NEW_YORK)

    # An account question has no place: routed by its type alone.
    question = report(client, token, category="91001", description="Password reset")
    case = Case.objects.get(number=question["number"])
    assert case.department.code == "DoIT" and case.cell is None

    # (0,0) is what many systems send for "no location": flagged, not placed.
    zero = report(client, token, category="90001", lon=0.0, lat=0.0)
    case = Case.objects.get(number=zero["number"])
    assert case.position_problem == "zero"
    assert case.cell is None and case.department is None
