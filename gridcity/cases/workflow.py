"""The case workflow as data: one table that the action, the API, the page buttons and the
tests all read. Pure: no database access here."""

from dataclasses import dataclass, field

from django.utils.translation import gettext_noop

from gridcity.accounts.models import Role
from gridcity.cases.models import STEP_LABELS, Status  # noqa: F401  (STEP_LABELS: re-exported)

S = Status
R = Role


class Scope:
    """Whose case it must be for the actor to take the action."""

    CENTRE = "centre"  # centre staff within their jurisdiction
    DEPARTMENT = "department"  # staff of the department holding the case
    FIELD = "field"  # the assigned grid manager, or the manager of the case's beat


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: frozenset[Status]
    target: Status | None  # None: the status does not change (e.g. reassignment)
    roles: frozenset[Role]
    scope: str = Scope.CENTRE
    note_required: bool = False
    stamp: str | None = None  # the Case timestamp field this transition sets
    needs: tuple[str, ...] = field(default=())  # extra inputs the action checks
    style: str = "secondary"  # how a page renders the button


def _t(action, label, sources, target, roles, **kw) -> Transition:
    return Transition(action, label, frozenset(sources), target, frozenset(roles), **kw)


PRE_FILING = {S.UNLOCATED, S.REPORTED, S.VERIFYING}
INTAKE_STAFF = {R.INTAKE, R.SHIFT_LEAD, R.ADMIN}
DISPATCH_STAFF = {R.DISPATCHER, R.SHIFT_LEAD, R.ADMIN}
DEPT_STAFF = {R.HANDLER, R.DEPT_LEAD}

TRANSITIONS: tuple[Transition, ...] = (
    _t(
        "locate",
        gettext_noop("人工定位"),
        {S.UNLOCATED},
        S.REPORTED,
        INTAKE_STAFF,
        needs=("lonlat",),
        style="primary",
    ),
    _t(
        "send_verify",
        gettext_noop("派发核实"),
        {S.REPORTED},
        S.VERIFYING,
        INTAKE_STAFF,
        needs=("assignee",),
    ),
    _t(
        "verify",
        gettext_noop("提交核实结果"),
        {S.VERIFYING},
        S.REPORTED,
        {R.INSPECTOR, *INTAKE_STAFF},
        scope=Scope.FIELD,
        needs=("verified",),
        style="primary",
    ),
    _t(
        "file",
        gettext_noop("立案"),
        {S.REPORTED, S.VERIFYING},
        S.FILED,
        {*INTAKE_STAFF, R.SYSTEM},
        stamp="filed_at",
        needs=("filing_condition",),
        style="primary",
    ),
    _t(
        "void",
        gettext_noop("作废"),
        {*PRE_FILING, S.FILED},
        S.VOIDED,
        INTAKE_STAFF,
        note_required=True,
        style="danger",
    ),
    _t(
        "merge",
        gettext_noop("合并到已有案件"),
        {*PRE_FILING, S.FILED},
        S.MERGED,
        INTAKE_STAFF,
        needs=("merge_into",),
    ),
    _t(
        "dispatch",
        gettext_noop("派遣"),
        {S.FILED, S.RETURNED},
        S.DISPATCHED,
        {*DISPATCH_STAFF, R.SYSTEM},
        stamp="dispatched_at",
        needs=("department",),
        style="primary",
    ),
    _t(
        "sign",
        gettext_noop("签收"),
        {S.DISPATCHED},
        S.HANDLING,
        DEPT_STAFF,
        scope=Scope.DEPARTMENT,
        stamp="signed_at",
        style="primary",
    ),
    _t(
        "return",
        gettext_noop("回退（非本部门职责）"),
        {S.DISPATCHED, S.HANDLING},
        S.RETURNED,
        DEPT_STAFF,
        scope=Scope.DEPARTMENT,
        note_required=True,
        style="danger",
    ),
    _t(
        "reject_return",
        gettext_noop("不同意回退"),
        {S.RETURNED},
        S.DISPATCHED,
        DISPATCH_STAFF,
        note_required=True,
    ),
    _t(
        "request_extension",
        gettext_noop("申请延期"),
        {S.HANDLING},
        S.EXTENSION_REQUESTED,
        DEPT_STAFF,
        scope=Scope.DEPARTMENT,
        note_required=True,
        needs=("extension",),
    ),
    _t(
        "approve_extension",
        gettext_noop("批准延期"),
        {S.EXTENSION_REQUESTED},
        S.HANDLING,
        DISPATCH_STAFF,
        style="primary",
    ),
    _t(
        "refuse_extension",
        gettext_noop("不批准延期"),
        {S.EXTENSION_REQUESTED},
        S.HANDLING,
        DISPATCH_STAFF,
        note_required=True,
    ),
    _t(
        "request_hold",
        gettext_noop("申请挂账"),
        {S.HANDLING},
        S.HOLD_REQUESTED,
        DEPT_STAFF,
        scope=Scope.DEPARTMENT,
        note_required=True,
    ),
    _t(
        "approve_hold",
        gettext_noop("批准挂账"),
        {S.HOLD_REQUESTED},
        S.ON_HOLD,
        DISPATCH_STAFF,
        style="primary",
    ),
    _t(
        "refuse_hold",
        gettext_noop("不批准挂账"),
        {S.HOLD_REQUESTED},
        S.HANDLING,
        DISPATCH_STAFF,
        note_required=True,
    ),
    _t(
        "resume",
        gettext_noop("恢复处置"),
        {S.ON_HOLD},
        S.HANDLING,
        {*DISPATCH_STAFF, *DEPT_STAFF},
        scope=Scope.DEPARTMENT,
    ),
    _t(
        "report_back",
        gettext_noop("处置反馈"),
        {S.HANDLING},
        S.HANDLED,
        DEPT_STAFF,
        scope=Scope.DEPARTMENT,
        stamp="handled_at",
        needs=("after_photo",),
        style="primary",
    ),
    _t(
        "check_pass",
        gettext_noop("核查通过"),
        {S.HANDLED},
        S.CHECKED,
        {R.INSPECTOR, *INTAKE_STAFF},
        scope=Scope.FIELD,
        stamp="checked_at",
        style="primary",
    ),
    _t(
        "check_fail",
        gettext_noop("核查不通过（返工）"),
        {S.HANDLED},
        S.HANDLING,
        {R.INSPECTOR, *INTAKE_STAFF},
        scope=Scope.FIELD,
        note_required=True,
        style="danger",
    ),
    _t(
        "close",
        gettext_noop("结案"),
        {S.CHECKED},
        S.CLOSED,
        {R.SHIFT_LEAD, R.ADMIN},
        stamp="closed_at",
        style="primary",
    ),
    _t(
        "assign",
        gettext_noop("指派核实/核查人"),
        {S.VERIFYING, S.HANDLED},
        None,
        INTAKE_STAFF,
        needs=("assignee",),
    ),
    # 回访: after closing a citizen's or hotline case the centre calls back and records the
    # caller's satisfaction (1–5). The status stays closed; the event feeds 回访满意率.
    _t("callback", gettext_noop("回访"), {S.CLOSED}, None, INTAKE_STAFF, needs=("satisfaction",)),
)

BY_ACTION: dict[str, Transition] = {t.action: t for t in TRANSITIONS}

# The step whose clock runs while a case is in a status. Extension and hold requests keep the
# handling clock running; an approved hold stops it.
STEP_OF_STATUS: dict[Status, str] = {
    S.UNLOCATED: "file",
    S.REPORTED: "file",
    S.VERIFYING: "verify",
    S.FILED: "dispatch",
    S.RETURNED: "dispatch",
    S.DISPATCHED: "sign",
    S.HANDLING: "handle",
    S.EXTENSION_REQUESTED: "handle",
    S.HOLD_REQUESTED: "handle",
    S.HANDLED: "check",
    S.CHECKED: "close",
}


# Who owns each step, so who answers a supervision order (督办) raised on it: the addressee kind
# (see models.Addressee) and the roles that may answer for it. A field step is the assigned grid
# manager's (else the beat's); a department step is the holding department's.
STEP_OWNERS: dict[str, tuple[str, frozenset[Role]]] = {
    "file": ("centre", frozenset(INTAKE_STAFF)),
    "verify": ("field", frozenset({R.INSPECTOR})),
    "dispatch": ("centre", frozenset(DISPATCH_STAFF)),
    "sign": ("department", frozenset(DEPT_STAFF)),
    "handle": ("department", frozenset(DEPT_STAFF)),
    "check": ("field", frozenset({R.INSPECTOR})),
    "close": ("centre", frozenset({R.SHIFT_LEAD, R.ADMIN})),
}


def transitions_from(status: Status | str) -> list[Transition]:
    return [t for t in TRANSITIONS if status in t.sources]


def allowed_actions(status: Status | str, role: Role | str) -> list[Transition]:
    """What a role may do to a case in this status, ignoring whose case it is."""
    return [t for t in transitions_from(status) if role in t.roles]
