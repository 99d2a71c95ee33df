"""Who may see which evaluation figures: centre staff all of them; department staff their own
department's; a grid manager or centre clerk their own scorecard."""

from gridcity.accounts.models import CENTRE_ROLES, Role, User
from gridcity.cases.actions import effective_role

BOARD_ROLES = frozenset({Role.LEADER, Role.SHIFT_LEAD, Role.DISPATCHER, Role.ADMIN})


def may_view(user: User, unit_type: str, unit_key: str) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    role = effective_role(user)
    if role in BOARD_ROLES:
        return True
    if role in (Role.HANDLER, Role.DEPT_LEAD):
        return unit_type == "department" and str(user.department_id) == str(unit_key)
    if role in CENTRE_ROLES or role == Role.INSPECTOR:
        return unit_type == role and str(user.pk) == str(unit_key)
    return False


def may_view_board(user: User) -> bool:
    return user.is_authenticated and effective_role(user) in BOARD_ROLES
