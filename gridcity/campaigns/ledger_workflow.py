"""The rectification ledger's workflow as data, like gridcity.cases.workflow: the actions, the
pages' buttons and the tests all read this table. Pure: no database access here."""

from dataclasses import dataclass, field

from gridcity.accounts.models import Role
from gridcity.campaigns.models import LedgerStatus

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
        "开始整改",
        {S.PENDING, S.OVERDUE},
        S.RECTIFYING,
        UNIT | CENTRE,
        unit_scope=True,
        style="primary",
    ),
    _t(
        "submit",
        "提交验收",
        {S.PENDING, S.RECTIFYING, S.OVERDUE},
        S.AWAITING,
        UNIT | CENTRE,
        unit_scope=True,
        style="primary",
    ),
    _t(
        "sign_off",
        "验收销号",
        {S.AWAITING},
        S.SIGNED_OFF,
        VERIFIERS,
        note_required=True,
        needs=("after_photo",),
        style="primary",
    ),
    _t(
        "reject",
        "验收不通过",
        {S.AWAITING},
        S.RECTIFYING,
        VERIFIERS,
        note_required=True,
        style="danger",
    ),
    _t(
        "extend",
        "调整整改时限",
        {S.PENDING, S.RECTIFYING, S.OVERDUE},
        S.RECTIFYING,
        CENTRE,
        note_required=True,
        needs=("deadline",),
    ),
    # Only the sweep marks a row overdue.
    _t("mark_overdue", "标记逾期", {S.PENDING, S.RECTIFYING}, S.OVERDUE, {R.SYSTEM}),
)

BY_ACTION: dict[str, LedgerTransition] = {t.action: t for t in TRANSITIONS}


def transitions_from(status: LedgerStatus | str) -> list[LedgerTransition]:
    return [t for t in TRANSITIONS if status in t.sources]


def allowed_actions(status: LedgerStatus | str, role: Role | str) -> list[LedgerTransition]:
    return [t for t in transitions_from(status) if role in t.roles]
