"""Cases for the 曝光台's tests, walked through the real case actions."""

from gridcity.cases.actions import ReportInput, TransitionInput, do_report_case, do_transition_case
from gridcity.cases.models import Case, Channel
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, tiny_jpeg

WEST_POINT = (120.1630, MID_LAT + 0.0012)  # in the west street, the beat of "inspector"
REPORTER_NAME = "张三丰"
REPORTER_PHONE = "13912345678"


def act(city, case: Case, action: str, who: str, **data) -> Case:
    return do_transition_case(
        case, action, acting_user=city.people[who], data=TransitionInput(**data)
    )


def citizen_case(city, *, until: str = "close", point=WEST_POINT) -> Case:
    """A citizen's report of an overflowing bin with a photo (with GPS in its EXIF), walked as
    far as `until`: "handling", "report_back" or "close". Sanitation (环境卫生科室) handles it."""
    case = do_report_case(
        ReportInput(
            category=resolve_category("matter:06042"),
            channel=Channel.CITIZEN,
            lon=point[0],
            lat=point[1],
            description=f"垃圾箱满溢，联系人{REPORTER_NAME}",
            reporter_name=REPORTER_NAME,
            reporter_phone=REPORTER_PHONE,
            photos=[("before.jpg", tiny_jpeg((180, 40, 40), gps=(point[1], point[0])))],
        ),
        acting_user=None,
    ).case
    act(city, case, "verify", "inspector", verified=True, note="属实")
    act(city, case, "file", "intake")
    act(city, case, "dispatch", "dispatcher")
    act(city, case, "sign", "sanitation")
    if until == "handling":
        return Case.objects.get(pk=case.pk)
    act(
        city,
        case,
        "report_back",
        "sanitation",
        note="已清运",
        photos=[("after.jpg", tiny_jpeg((30, 160, 60)))],
    )
    if until == "report_back":
        return Case.objects.get(pk=case.pk)
    act(city, case, "check_pass", "inspector")
    act(city, case, "close", "shift_lead")
    return Case.objects.get(pk=case.pk)
