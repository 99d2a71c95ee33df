"""Every write of the evaluation: freezing and publishing a period, filing and reviewing an
appeal. One transaction each, rows locked, a log row per change."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext

from gridcity.accounts.models import Role, User
from gridcity.cases.actions import add_case_event, effective_role
from gridcity.cases.facts import FACT_COLUMNS, FLOW_MEASURES
from gridcity.cases.models import Case, CaseEvent, FactDay, Status
from gridcity.evaluation import snapshot, sources
from gridcity.evaluation.compute import (
    DAY_COUNTED_COLUMNS,
    FrozenSource,
    LiveSource,
    compute_rankings,
    ranking_to_json,
    window_for,
)
from gridcity.evaluation.indicators import Period, parse_period
from gridcity.evaluation.models import (
    Appeal,
    AppealLog,
    AppealStatus,
    EvaluationPeriod,
    FrozenUnitFigure,
    PeriodResult,
    PeriodStatus,
)
from gridcity.lib.errors import Conflict, Forbidden, InvalidInput, NotFound

CLOSE_ROLES = frozenset({Role.LEADER, Role.SHIFT_LEAD, Role.ADMIN})
FIRST_REVIEW_ROLES = frozenset({Role.DISPATCHER, Role.SHIFT_LEAD, Role.ADMIN})
FINAL_REVIEW_ROLES = frozenset({Role.LEADER, Role.ADMIN})
APPEAL_ROLES = frozenset({Role.HANDLER, Role.DEPT_LEAD})


def copy_facts(live: LiveSource, row: EvaluationPeriod) -> int:
    """The period's live facts into its snapshot: INSERT … SELECT in the database (on
    PostgreSQL into a partition of its own, indexed once filled: see snapshot.py). The
    selects read the month only: the (measure, at) range of the flow measures and the
    (measure, ended_at) range of the steps open at the period's end."""
    columns = list(FACT_COLUMNS)
    selects = [
        qs.values_list(*columns).query.sql_with_params() for qs in (live.flow(), live.stock())
    ]
    copied = snapshot.copy_selects(row.pk, columns, selects)
    snapshot.count_days(row.pk, FLOW_MEASURES, DAY_COUNTED_COLUMNS)
    return copied


def freeze_unit_figures(live: LiveSource, row: EvaluationPeriod) -> int:
    """Copy every registered source's figures for the period (督查扣分, 曝光次数 …) into the
    snapshot, so that later findings or exposures dated in the period change nothing."""
    figures = [
        FrozenUnitFigure(period=row, source=s.key, label=s.label, unit=unit, value=value)
        for s in sources.registered()
        for unit, value in (live.external(s.key) or {}).items()
    ]
    FrozenUnitFigure.objects.bulk_create(figures)
    return len(figures)


# Above this many facts a freeze goes to the task worker rather than the web request (10,000,000
# cases a year: 7.6 million facts a month, about a minute to copy).
FREEZE_INLINE_FACTS = 500_000


def facts_in_period(period_key: str) -> int:
    """About how many facts a freeze of the period copies (from the day counts)."""
    period = parse_period(period_key)
    return (
        FactDay.objects.filter(
            day__gte=period.start, day__lt=period.end, dimension="u_actor"
        ).aggregate(n=Sum("n"))["n"]
        or 0
    )


def too_big_to_freeze_inline(period: Period) -> bool:
    """Whether freezing the period belongs to the task worker rather than a web request."""
    return facts_in_period(period.key) > FREEZE_INLINE_FACTS


def check_freezable(period_key: str, acting_user: User, now: datetime) -> Period:
    if effective_role(acting_user) not in CLOSE_ROLES:
        raise Forbidden(gettext("只有领导或值班长可以冻结考评期间"))
    try:
        period = parse_period(period_key)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="period") from exc
    if window_for(period).end > now:
        raise Conflict(
            gettext("%(label)s尚未结束，不能冻结") % {"label": period.label}, field="period"
        )
    if EvaluationPeriod.objects.filter(key=period.key).exists():
        raise Conflict(gettext("%(label)s已冻结") % {"label": period.label}, field="period")
    return period


def do_freeze_period(
    period_key: str, *, acting_user: User, now: datetime | None = None
) -> EvaluationPeriod:
    """Copy every counted fact of the period into the snapshot and store the scored rankings.
    From then on the period's figures, drill-downs and 通报 read only the snapshot."""
    now = now or timezone.now()
    period = check_freezable(period_key, acting_user, now)
    window = window_for(period)
    try:
        with transaction.atomic():
            row = EvaluationPeriod.objects.create(
                key=period.key,
                kind=period.kind,
                start=period.start,
                end=period.end,
                status=PeriodStatus.FROZEN,
                frozen_at=now,
                frozen_by=acting_user,
            )
            live = LiveSource(window)
            copy_facts(live, row)
            freeze_unit_figures(live, row)
            frozen = FrozenSource(row)
            for unit_type, ranking in compute_rankings(period, source=frozen).items():
                PeriodResult.objects.create(
                    period=row, unit_type=unit_type, data=ranking_to_json(ranking)
                )
    except IntegrityError as exc:
        raise Conflict(
            gettext("%(label)s已冻结") % {"label": period.label}, field="period"
        ) from exc
    return row


def do_publish_period(
    period_key: str, *, acting_user: User, now: datetime | None = None
) -> EvaluationPeriod:
    if effective_role(acting_user) not in (Role.LEADER, Role.ADMIN):
        raise Forbidden(gettext("只有领导可以发布考评结果"))
    with transaction.atomic():
        row = EvaluationPeriod.objects.select_for_update().filter(key=period_key).first()
        if row is None:
            raise NotFound(gettext("该期间尚未冻结，请先冻结再发布"))
        updated = EvaluationPeriod.objects.filter(pk=row.pk, status=PeriodStatus.FROZEN).update(
            status=PeriodStatus.PUBLISHED,
            published_at=now or timezone.now(),
            published_by=acting_user,
        )
        if not updated:
            raise Conflict(gettext("该期间已发布"), field="period")
        row.refresh_from_db()
    return row


def overdue_marks(case: Case, department_id: int) -> list[CaseEvent]:
    """The department's overdue marks on a case: steps it finished late and the sweeper's marks
    while it held the case."""
    return list(
        CaseEvent.objects.filter(case=case, department_id=department_id, overdue=True).order_by(
            "at", "pk"
        )
    )


def do_file_appeal(
    case: Case | int, *, acting_user: User, reason: str, now: datetime | None = None
) -> Appeal:
    if effective_role(acting_user) not in APPEAL_ROLES or acting_user.department_id is None:
        raise Forbidden(gettext("只有责任部门人员可以提出超期申诉"))
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(gettext("请填写申诉理由"), field="reason")
    if len(reason) > 2000:
        raise InvalidInput(gettext("申诉理由不能超过2000字"), field="reason")
    case_id = case.pk if isinstance(case, Case) else case
    now = now or timezone.now()
    with transaction.atomic():
        locked = Case.objects.select_for_update().filter(pk=case_id).first()
        if locked is None:
            raise NotFound(gettext("案件不存在"))
        if locked.status != Status.CLOSED:
            raise Conflict(gettext("案件结案后才能申诉超期"), field="case")
        if not overdue_marks(locked, acting_user.department_id):
            raise Conflict(gettext("本部门在该案件上没有超期记录"), field="case")
        if Appeal.objects.filter(case=locked).exists():
            raise Conflict(gettext("该案件已提出过申诉（每案限一次）"), field="case")
        appeal = Appeal.objects.create(
            case=locked,
            department_id=acting_user.department_id,
            reason=reason,
            filed_by=acting_user,
            filed_at=now,
        )
        AppealLog.objects.create(
            appeal=appeal, actor=acting_user, at=now, to_status=AppealStatus.PENDING, note=reason
        )
    return appeal


def do_review_appeal(
    appeal: Appeal | int,
    *,
    acting_user: User,
    approve: bool,
    note: str = "",
    now: datetime | None = None,
) -> Appeal:
    """First review by the command centre, final review by a leader; a refusal at either level
    ends the appeal."""
    appeal_id = appeal.pk if isinstance(appeal, Appeal) else appeal
    note = (note or "").strip()
    if not approve and not note:
        raise InvalidInput(gettext("驳回申诉需要填写理由"), field="note")
    now = now or timezone.now()
    role = effective_role(acting_user)
    with transaction.atomic():
        a = Appeal.objects.select_for_update().filter(pk=appeal_id).first()
        if a is None:
            raise NotFound(gettext("申诉不存在"))
        before = a.status
        if a.status == AppealStatus.PENDING:
            if role not in FIRST_REVIEW_ROLES:
                raise Forbidden(gettext("初审由指挥中心（派遣员或值班长）进行"))
            a.first_reviewer, a.first_at, a.first_note = acting_user, now, note
            a.status = AppealStatus.FIRST_APPROVED if approve else AppealStatus.REJECTED
            fields = ["first_reviewer", "first_at", "first_note", "status"]
        elif a.status == AppealStatus.FIRST_APPROVED:
            if role not in FINAL_REVIEW_ROLES:
                raise Forbidden(gettext("终审由领导进行"))
            if a.first_reviewer_id == acting_user.pk:
                raise Forbidden(gettext("初审人不能终审同一申诉"))
            a.final_reviewer, a.final_at, a.final_note = acting_user, now, note
            a.status = AppealStatus.APPROVED if approve else AppealStatus.REJECTED
            fields = ["final_reviewer", "final_at", "final_note", "status"]
        else:
            raise Conflict(
                gettext("申诉已%(value)s，不能再审") % {"value": a.get_status_display()},
                field="appeal",
            )
        if a.status in (AppealStatus.APPROVED, AppealStatus.REJECTED):
            a.decided_at = now
            fields.append("decided_at")
        a.save(update_fields=fields)
        if a.status == AppealStatus.APPROVED:
            # On the case's own record: its late steps for this department now count as on
            # time in scores (the raw overdue flags stay).
            add_case_event(
                Case.objects.select_for_update().get(pk=a.case_id),
                "appeal_approved",
                acting_user=acting_user,
                now=now,
                note=note or "超期申诉获批",
                department_id=a.department_id,
                data={"appeal": a.pk},
            )
        AppealLog.objects.create(
            appeal=a, actor=acting_user, at=now, from_status=before, to_status=a.status, note=note
        )
    return a
