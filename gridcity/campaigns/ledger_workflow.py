"""The rectification ledger's workflow as data, like gridcity.cases.workflow: the actions, the
pages' buttons and the tests all read this table. Pure: no database access here."""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from gridcity.accounts.models import Role
from gridcity.campaigns.models import ClosedCasePolicy, LedgerStatus
from gridcity.cases.models import Status as CaseStatus

S = LedgerStatus
R = Role

# The responsible unit's people act on their own rows; the centre manages every row.
UNIT = frozenset({R.HANDLER, R.DEPT_LEAD})
CENTRE = frozenset({R.SHIFT_LEAD, R.DISPATCHER, R.LEADER, R.ADMIN})
# Who may verify and sign off (销号): the supervision centre and the grid managers who check on
# site — never the unit that did the work.
VERIFIERS = frozenset({R.INSPECTOR, R.INTAKE, R.SHIFT_LEAD, R.LEADER, R.ADMIN})


@dataclass(frozen=True)
class LedgerTransition:
    action: str
    label: str
    sources: frozenset[LedgerStatus]
    target: LedgerStatus | None
    roles: frozenset[Role]
    unit_scope: bool = False  # unit staff only on rows of their own department
    note_required: bool = False
    needs: tuple[str, ...] = field(default=())
    style: str = "secondary"


def _t(action, label, sources, target, roles, **kw) -> LedgerTransition:
    return LedgerTransition(action, label, frozenset(sources), target, frozenset(roles), **kw)


TRANSITIONS: tuple[LedgerTransition, ...] = (
    _t(
        "start",
        _("开始整改"),
        {S.PENDING, S.OVERDUE},
        S.RECTIFYING,
        UNIT | CENTRE,
        unit_scope=True,
        style="primary",
    ),
    _t(
        "submit",
        _("提交验收"),
        {S.PENDING, S.RECTIFYING, S.OVERDUE},
        S.AWAITING,
        UNIT | CENTRE,
        unit_scope=True,
        style="primary",
    ),
    _t(
        "sign_off",
        _("验收销号"),
        {S.AWAITING},
        S.SIGNED_OFF,
        VERIFIERS,
        note_required=True,
        needs=("after_photo",),
        style="primary",
    ),
    _t(
        "reject",
        _("验收不通过"),
        {S.AWAITING},
        S.RECTIFYING,
        VERIFIERS,
        note_required=True,
        style="danger",
    ),
    _t(
        "extend",
        _("调整整改时限"),
        {S.PENDING, S.RECTIFYING, S.OVERDUE},
        S.RECTIFYING,
        CENTRE,
        note_required=True,
        needs=("deadline",),
    ),
    # Only the sweep marks a row overdue.
    _t("mark_overdue", _("标记逾期"), {S.PENDING, S.RECTIFYING}, S.OVERDUE, {R.SYSTEM}),
)

BY_ACTION: dict[str, LedgerTransition] = {t.action: t for t in TRANSITIONS}


def transitions_from(status: LedgerStatus | str) -> list[LedgerTransition]:
    return [t for t in TRANSITIONS if status in t.sources]


def allowed_actions(status: LedgerStatus | str, role: Role | str) -> list[LedgerTransition]:
    return [t for t in transitions_from(status) if role in t.roles]


# How a row made from a case follows the case. While the case is open the unit works it in the
# case loop, so the row mirrors the case: waiting (未整改) until the unit has signed for it,
# then 整改中. A closed case has been handled and checked on site: its row is rectified and
# waits for the centre's sign-off, or is signed off outright if the campaign says so.
CASE_AT_UNIT = frozenset(
    {
        CaseStatus.HANDLING,
        CaseStatus.EXTENSION_REQUESTED,
        CaseStatus.HOLD_REQUESTED,
        CaseStatus.ON_HOLD,
        CaseStatus.HANDLED,
        CaseStatus.CHECKED,
    }
)
# The automatic moves, in the order a row goes through them; a row never moves back.
FOLLOW_RANK = {
    S.PENDING: 0,
    S.RECTIFYING: 1,
    S.OVERDUE: 1,
    S.AWAITING: 2,
    S.SIGNED_OFF: 3,
    S.CANCELLED: 3,
}
# The ledger events of the moves the case loop causes (see actions.follow_case_rows).
FOLLOW_EVENTS = {
    "case_signed": _("单位签收案件"),
    "case_closed": _("案件结案"),
    "case_voided": _("案件作废"),
    "case_merged": _("案件合并"),
}


def row_status_for_case(case_status: str, closed_cases: str) -> LedgerStatus | None:
    """Where a row made from a case in `case_status` stands. None: the case gets no row (it was
    voided or merged, or it is closed and the campaign leaves closed cases out)."""
    if case_status == CaseStatus.CLOSED:
        return {
            ClosedCasePolicy.AWAIT: S.AWAITING,
            ClosedCasePolicy.SIGN_OFF: S.SIGNED_OFF,
        }.get(closed_cases)
    if case_status in (CaseStatus.VOIDED, CaseStatus.MERGED):
        return None
    if case_status in CASE_AT_UNIT:
        return S.RECTIFYING
    return S.PENDING


def closed_case_target(closed_cases: str) -> LedgerStatus:
    """Where an open row goes when its case closes: a row made while the case was open is in
    the ledger already, so only "sign off outright" changes the destination."""
    return S.SIGNED_OFF if closed_cases == ClosedCasePolicy.SIGN_OFF else S.AWAITING
