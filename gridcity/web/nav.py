"""Navigation per role: what each person sees in the top bar, and where they land."""

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from gridcity.accounts.models import Role

CENTRE = {Role.INTAKE, Role.SHIFT_LEAD, Role.DISPATCHER, Role.LEADER, Role.ADMIN}
COMMAND = {Role.DISPATCHER, Role.SHIFT_LEAD, Role.LEADER, Role.ADMIN}
DEPARTMENT = {Role.HANDLER, Role.DEPT_LEAD}

# (url name, label, roles that see it)
NAV = [
    ("web:field_home", _("我的任务"), {Role.INSPECTOR}),
    ("web:field_report", _("上报问题"), {Role.INSPECTOR}),
    ("people:patrol", _("巡查"), {Role.INSPECTOR}),
    ("web:supervision_centre", _("监督中心"), {Role.INTAKE, Role.SHIFT_LEAD, Role.ADMIN}),
    ("web:command_centre", _("指挥中心"), {Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN}),
    ("web:overdue_board", _("超期督办"), COMMAND),
    ("web:desk", _("部门工作台"), DEPARTMENT),
    ("web:case_map", _("地图"), CENTRE),
    ("web:dashboard", _("领导驾驶舱"), COMMAND),
    ("sensors:board", _("物联感知"), CENTRE),
    ("campaigns:list", _("专项整治"), COMMAND | DEPARTMENT),
    ("campaigns:inspections", _("督查检查"), COMMAND | {Role.INSPECTOR}),
    ("campaigns:detections", _("识别研判"), CENTRE),
    ("campaigns:ledger_all", _("整改台账"), DEPARTMENT),
    ("people:patrol_board", _("巡查考勤"), {Role.SHIFT_LEAD, Role.LEADER, Role.ADMIN}),
    ("people:pairings", _("包村居"), {Role.LEADER, Role.SHIFT_LEAD, Role.ADMIN, Role.DEPT_LEAD}),
    ("evaluation:board", _("综合评价"), COMMAND),
    ("publicity:board", _("曝光台"), CENTRE),
    ("evaluation:appeals", _("超期申诉"), DEPARTMENT),
]

HOME_BY_ROLE = {
    Role.INSPECTOR: "web:field_home",
    Role.INTAKE: "web:supervision_centre",
    Role.SHIFT_LEAD: "web:supervision_centre",
    Role.DISPATCHER: "web:command_centre",
    Role.HANDLER: "web:desk",
    Role.DEPT_LEAD: "web:desk",
    Role.LEADER: "web:dashboard",
    Role.ADMIN: "web:dashboard",
}


def _safe_reverse(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def nav_for(user) -> list[dict]:
    if not user.is_authenticated:
        return []
    role = Role.ADMIN if user.is_superuser else user.role
    items = []
    for name, label, roles in NAV:
        if role in roles:
            url = _safe_reverse(name)
            if url:
                items.append({"name": name, "url": url, "label": label})
    return items


def home_url(user) -> str:
    role = Role.ADMIN if user.is_superuser else user.role
    return _safe_reverse(HOME_BY_ROLE.get(role, "web:dashboard")) or "/admin/"


def admin_url(user) -> str | None:
    """The Django admin (/admin/: schemes, users, areas …) for system administrators only."""
    if user is None or not user.is_authenticated:
        return None
    if not (user.is_superuser or user.role == Role.ADMIN):
        return None
    return _safe_reverse("admin:index")


def nav_context(request) -> dict:
    # A request refused before the auth middleware ran (a bad Host header) has no user.
    user = getattr(request, "user", None)
    return {
        "nav_items": nav_for(user) if user is not None else [],
        "current_url": request.path,
        "admin_url": admin_url(user),
    }
