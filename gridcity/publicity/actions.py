"""Every change to an exposure: propose, submit, approve (publishes), reject, withdraw. Each is
one transaction that locks the exposure, checks who may do it and writes an audit row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from gridcity.accounts import audit
from gridcity.accounts.models import CENTRE_ROLES, Department, Role, User
from gridcity.cases.actions import effective_role
from gridcity.cases.models import Case, Status
from gridcity.cases.scope import visible_to
from gridcity.grids.models import Area, AreaLevel
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput, NotFound
from gridcity.lib.text import clean_text
from gridcity.publicity.models import (
    ACTIVE_STATES,
    Exposure,
    ExposureKind,
    ExposureState,
    Tone,
)
from gridcity.publicity.rectification import personal_data_in

PROPOSERS = frozenset(CENTRE_ROLES)
APPROVERS = frozenset({Role.LEADER, Role.SHIFT_LEAD, Role.ADMIN})
# A case shown as a typical problem must at least have been filed and sent to a unit.
NOT_YET_FILED = frozenset({Status.UNLOCATED, Status.REPORTED, Status.VERIFYING})
MAX_UNIT_CASES = 50


def may_propose(user: User) -> bool:
    return user.is_authenticated and effective_role(user) in PROPOSERS


def may_approve(user: User) -> bool:
    return user.is_authenticated and effective_role(user) in APPROVERS


def community_of(case: Case) -> Area | None:
    codes = [c for c in case.area_path.strip("/").split("/") if c]
    if not codes:
        return None
    wanted = codes[: AreaLevel.COMMUNITY]
    return Area.objects.filter(code__in=wanted).order_by("-level").first()


def _clean_text(title: str, text: str) -> tuple[str, str]:
    title, text = clean_text(title), clean_text(text, multiline=True)
    if not title:
        raise InvalidInput(gettext("请填写标题"), field="title")
    if len(title) > 100:
        raise InvalidInput(gettext("标题不能超过 100 字"), field="title")
    if not text:
        raise InvalidInput(gettext("请填写面向公众的说明"), field="text")
    if len(text) > 2000:
        raise InvalidInput(gettext("公开说明不能超过 2000 字"), field="text")
    return title, text


def do_propose_exposure(
    *,
    acting_user: User,
    kind: str,
    title: str,
    text: str,
    tone: str = Tone.NEGATIVE,
    case: Case | str | None = None,
    department: Department | int | None = None,
    case_numbers: Iterable[str] = (),
    area: Area | None = None,
    now: datetime | None = None,
) -> Exposure:
    """A draft (拟曝光): a typical case (`case`) or a unit (`department` with the cases that
    show its failures). The text is what the public will read and may carry no personal
    data; the responsible unit, category and area are taken from the cases."""
    if not may_propose(acting_user):
        raise Forbidden(gettext("只有监督指挥中心的工作人员可以提出曝光"))
    if kind not in ExposureKind.values:
        raise InvalidInput(gettext("请选择曝光对象：典型案例或责任单位"), field="kind")
    if tone not in Tone.values:
        raise InvalidInput(gettext("请选择性质：反面典型或好的做法"), field="tone")
    title, text = _clean_text(title, text)
    now = now or timezone.now()
    visible = visible_to(acting_user)
    with transaction.atomic():
        if kind == ExposureKind.CASE:
            number = case.number if isinstance(case, Case) else (case or "").strip()
            if not number:
                raise InvalidInput(gettext("请填写案件编号"), field="case")
            found = visible.select_for_update().filter(number=number).first()
            if found is None:
                raise NotFound(
                    gettext("没有找到案件 %(number)s") % {"number": number}, field="case"
                )
            if found.status in NOT_YET_FILED or found.department_id is None:
                raise InvalidInput(gettext("案件尚未立案派遣，不能作为典型案例曝光"), field="case")
            if found.status in (Status.VOIDED, Status.MERGED):
                raise InvalidInput(gettext("已作废或已合并的案件不能曝光"), field="case")
            if tone == Tone.POSITIVE and found.status != Status.CLOSED:
                raise InvalidInput(gettext("只有已结案的案件可以作为好的做法展示"), field="case")
            if Exposure.objects.filter(case=found, tone=tone, state__in=ACTIVE_STATES).exists():
                raise Conflict(gettext("该案件已有一条同性质的曝光在办理或已发布"), field="case")
            reason = personal_data_in(f"{title}\n{text}", [found])
            if reason:
                raise InvalidInput(reason, field="text")
            exposure = Exposure.objects.create(
                kind=kind,
                tone=tone,
                case=found,
                department_id=found.department_id,
                title=title,
                text=text,
                category_id=found.category_id,
                area=community_of(found),
                proposed_by=acting_user,
                proposed_at=now,
            )
            linked = [found.number]
        else:
            dept_id = department.pk if isinstance(department, Department) else department
            dept = (
                Department.objects.filter(pk=dept_id, is_active=True).first() if dept_id else None
            )
            if dept is None:
                raise InvalidInput(gettext("请选择被曝光的责任单位"), field="department")
            numbers = list(dict.fromkeys(n.strip() for n in case_numbers if n and n.strip()))
            if not numbers:
                raise InvalidInput(gettext("请列出能说明问题的案件（至少一件）"), field="cases")
            if len(numbers) > MAX_UNIT_CASES:
                raise InvalidInput(
                    gettext("一次最多列出 %(MAX_UNIT_CASES)s 件案件")
                    % {"MAX_UNIT_CASES": MAX_UNIT_CASES},
                    field="cases",
                )
            found_cases = list(visible.filter(number__in=numbers))
            missing = set(numbers) - {c.number for c in found_cases}
            if missing:
                raise InvalidInput(
                    gettext("没有找到案件：%(value)s") % {"value": "、".join(sorted(missing))},
                    field="cases",
                )
            others = [c.number for c in found_cases if c.department_id != dept.pk]
            if others:
                raise InvalidInput(
                    gettext("以下案件不由%(name)s办理：%(value)s")
                    % {"name": dept.name, "value": "、".join(sorted(others))},
                    field="cases",
                )
            if Exposure.objects.filter(
                kind=ExposureKind.UNIT, department=dept, tone=tone, state__in=ACTIVE_STATES
            ).exists():
                raise Conflict(
                    gettext("该单位已有一条同性质的曝光在办理或已发布"), field="department"
                )
            reason = personal_data_in(f"{title}\n{text}", found_cases)
            if reason:
                raise InvalidInput(reason, field="text")
            categories = {c.category_id for c in found_cases}
            exposure = Exposure.objects.create(
                kind=kind,
                tone=tone,
                department=dept,
                title=title,
                text=text,
                category_id=categories.pop() if len(categories) == 1 else None,
                area=area,
                proposed_by=acting_user,
                proposed_at=now,
            )
            exposure.cases.set(found_cases)
            linked = sorted(c.number for c in found_cases)
        audit.record(
            exposure,
            "propose",
            actor=acting_user,
            summary=f"拟曝光：{title}",
            data={
                "kind": kind,
                "tone": tone,
                "cases": linked,
                "department": exposure.department_id,
            },
            at=now,
        )
    return exposure


def _locked(exposure: Exposure | int) -> Exposure:
    pk = exposure.pk if isinstance(exposure, Exposure) else exposure
    found = Exposure.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(gettext("没有这条曝光"))
    return found


def _require_state(exposure: Exposure, allowed: set[str], what: str) -> None:
    if exposure.state not in allowed:
        raise Conflict(
            gettext("这条曝光当前为“%(state)s”，不能%(what)s")
            % {"state": exposure.get_state_display(), "what": what}
        )


def _reason(reason: str, field: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(gettext("请填写%(what)s理由") % {"what": what}, field=field)
    if len(reason) > 300:
        raise InvalidInput(gettext("%(what)s理由不能超过 300 字") % {"what": what}, field=field)
    return reason


def do_submit_exposure(
    exposure: Exposure | int, *, acting_user: User, now: datetime | None = None
) -> Exposure:
    """Send a draft for approval: its proposer, or an admin."""
    now = now or timezone.now()
    with transaction.atomic():
        exposure = _locked(exposure)
        if exposure.proposed_by_id != acting_user.pk and effective_role(acting_user) != Role.ADMIN:
            raise Forbidden(gettext("只有提出人可以提交审批"))
        _require_state(exposure, {ExposureState.DRAFT}, pgettext("cannot be", "提交审批"))
        exposure.state = ExposureState.SUBMITTED
        exposure.submitted_at = now
        exposure.save(update_fields=["state", "submitted_at"])
        audit.record(exposure, "submit", actor=acting_user, summary="提交审批", at=now)
    return exposure


def _require_approver(exposure: Exposure, user: User) -> None:
    if not may_approve(user):
        raise Forbidden(gettext("只有领导、值班长或系统管理员可以审批曝光"))
    if exposure.proposed_by_id == user.pk:
        raise Forbidden(gettext("不能审批自己提出的曝光，请由另一位领导或值班长审批"))


def do_approve_exposure(
    exposure: Exposure | int, *, acting_user: User, now: datetime | None = None
) -> Exposure:
    """Approve and publish at once: from now on it is on the public 曝光台."""
    now = now or timezone.now()
    with transaction.atomic():
        exposure = _locked(exposure)
        _require_approver(exposure, acting_user)
        _require_state(exposure, {ExposureState.SUBMITTED}, pgettext("cannot be", "审批"))
        exposure.state = ExposureState.PUBLISHED
        exposure.decided_by = acting_user
        exposure.decided_at = now
        exposure.published_at = now
        exposure.save(update_fields=["state", "decided_by", "decided_at", "published_at"])
        audit.record(exposure, "approve", actor=acting_user, summary="审批通过并发布", at=now)
    return exposure


def do_reject_exposure(
    exposure: Exposure | int, *, acting_user: User, reason: str, now: datetime | None = None
) -> Exposure:
    now = now or timezone.now()
    with transaction.atomic():
        exposure = _locked(exposure)
        _require_approver(exposure, acting_user)
        _require_state(exposure, {ExposureState.SUBMITTED}, pgettext("cannot be", "审批"))
        reason = _reason(reason, "reason", pgettext("reason for", "不通过"))
        exposure.state = ExposureState.REJECTED
        exposure.decided_by = acting_user
        exposure.decided_at = now
        exposure.reject_reason = reason
        exposure.save(update_fields=["state", "decided_by", "decided_at", "reject_reason"])
        audit.record(
            exposure,
            "reject",
            actor=acting_user,
            summary=f"审批不通过：{reason}",
            data={"reason": reason},
            at=now,
        )
    return exposure


def do_withdraw_exposure(
    exposure: Exposure | int, *, acting_user: User, reason: str, now: datetime | None = None
) -> Exposure:
    """Take an exposure down (撤回): a published one by a leader, shift lead or admin; one not
    yet published also by its proposer. It leaves the public page and no longer counts."""
    now = now or timezone.now()
    with transaction.atomic():
        exposure = _locked(exposure)
        _require_state(exposure, set(ACTIVE_STATES), pgettext("cannot be", "撤回"))
        own_unpublished = (
            exposure.state != ExposureState.PUBLISHED and exposure.proposed_by_id == acting_user.pk
        )
        if not (own_unpublished or may_approve(acting_user)):
            raise Forbidden(gettext("只有领导、值班长或系统管理员可以撤回曝光"))
        reason = _reason(reason, "reason", pgettext("reason for", "撤回"))
        was = exposure.state
        exposure.state = ExposureState.WITHDRAWN
        exposure.withdrawn_by = acting_user
        exposure.withdrawn_at = now
        exposure.withdraw_reason = reason
        exposure.save(update_fields=["state", "withdrawn_by", "withdrawn_at", "withdraw_reason"])
        audit.record(
            exposure,
            "withdraw",
            actor=acting_user,
            summary=f"撤回：{reason}",
            data={"reason": reason, "from": was},
            at=now,
        )
    return exposure
