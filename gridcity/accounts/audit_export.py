"""The audit log for a period, as an auditor takes it away: filtered rows, CSV and XLSX.

A cell is whatever someone typed somewhere (a theme, a name, a reason): a value that a
spreadsheet would run as a formula is written as text, and control characters, which XLSX
cannot hold, are dropped."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from gridcity.accounts.models import AuditEntry, Role
from gridcity.lib.text import spreadsheet_cell

AUDITOR_ROLES = frozenset({Role.ADMIN, Role.LEADER})
XLSX_MAX_ROWS = 1_048_575  # Excel's limit, less the header

COLUMNS = [
    ("at", gettext_lazy("时间")),
    ("actor", gettext_lazy("操作人账号")),
    ("actor_name", gettext_lazy("操作人")),
    ("actor_role", gettext_lazy("角色")),
    ("action", gettext_lazy("动作")),
    ("object_type", gettext_lazy("对象类型")),
    ("object_id", gettext_lazy("对象编号")),
    ("summary", gettext_lazy("摘要")),
    ("changes", gettext_lazy("变更（字段：原值 → 新值）")),
    ("data", gettext_lazy("详细数据（JSON）")),
]


def cell(value: object) -> object:
    """One exported cell: `gridcity.lib.text.spreadsheet_cell`, as in every export."""
    return spreadsheet_cell(value)


def can_audit(user) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.role in AUDITOR_ROLES)
    )


@dataclass
class AuditFilter:
    date_from: date | None = None
    date_to: date | None = None
    actor: str = ""
    object_type: str = ""
    action: str = ""

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The period in the installation's time zone: from the start of `date_from` to the end
        of `date_to`, both days included."""
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.date_from, time.min, tzinfo=tz) if self.date_from else None
        end = (
            datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=tz)
            if self.date_to
            else None
        )
        return start, end


def audit_entries(f: AuditFilter) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.select_related("actor").order_by("at", "pk")
    start, end = f.bounds()
    if start is not None:
        qs = qs.filter(at__gte=start)
    if end is not None:
        qs = qs.filter(at__lt=end)
    if f.actor:
        qs = qs.filter(actor__username=f.actor)
    if f.object_type:
        qs = qs.filter(object_type=f.object_type)
    if f.action:
        qs = qs.filter(action=f.action)
    return qs


def describe_changes(data: dict) -> str:
    changes = data.get("changes") if isinstance(data, dict) else None
    if not isinstance(changes, dict):
        return ""
    parts = []
    for name, change in changes.items():
        if not isinstance(change, dict):
            continue
        label = change.get("label") or name
        if change.get("changed") is True and "old" not in change:
            parts.append(gettext("%(label)s：已修改") % {"label": label})
        else:
            old, new = change.get("old"), change.get("new")
            parts.append(f"{label}{gettext('：')}{_show(old)} → {_show(new)}")
    return gettext("；").join(parts)


def _show(value: object) -> str:
    if value is None or value == "":
        return gettext("（空）")
    if isinstance(value, list):
        return gettext("、").join(str(v) for v in value) or gettext("（空）")
    return str(value)


def rows(qs: QuerySet[AuditEntry]) -> Iterator[dict]:
    roles = dict(Role.choices)
    for e in qs.iterator(chunk_size=2000):
        yield {
            "at": timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S"),
            "actor": e.actor.username if e.actor_id else "",
            "actor_name": str(e.actor) if e.actor_id else "",
            "actor_role": str(roles.get(e.actor_role, e.actor_role)),
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "summary": e.summary,
            "changes": describe_changes(e.data),
            "data": json.dumps(e.data, ensure_ascii=False, default=str),
        }


def csv_lines(qs: QuerySet[AuditEntry]) -> Iterator[str]:
    """UTF-8 with a BOM so that Excel opens the Chinese text as such; streamed line by line."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate(0)
        return text

    writer.writerow([str(label) for _, label in COLUMNS])
    yield "\ufeff" + flush()
    for row in rows(qs):
        writer.writerow([cell(row[k]) for k, _ in COLUMNS])
        yield flush()


def xlsx_bytes(qs: QuerySet[AuditEntry]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(gettext("操作记录"))
    ws.append([str(label) for _, label in COLUMNS])
    for n, row in enumerate(rows(qs)):
        if n >= XLSX_MAX_ROWS:
            break
        out = []
        for key, _ in COLUMNS:
            c = WriteOnlyCell(ws, value=cell(row[key]))
            if isinstance(c.value, str):
                # Text is text: never a formula, whatever it starts with.
                c.data_type = "s"
            out.append(c)
        ws.append(out)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def record_export(user, kind: str, count: int, scope: str) -> None:
    """Who took the log away, and what: itself a row of the log."""
    from gridcity.accounts import audit

    audit.record(
        user,
        "export_audit_log",
        actor=user,
        summary=f"导出操作记录（{kind}，{count} 条）：{scope}"[:200],
        data={"format": kind, "rows": count, "scope": scope},
    )


def describe(f: AuditFilter) -> str:
    parts = []
    if f.date_from or f.date_to:
        parts.append(f"{f.date_from or '…'} 至 {f.date_to or '…'}")
    if f.actor:
        parts.append(f"操作人 {f.actor}")
    if f.object_type:
        parts.append(f"对象类型 {f.object_type}")
    if f.action:
        parts.append(f"动作 {f.action}")
    return "，".join(parts) or "全部"


def export_name(f: AuditFilter, ext: str) -> str:
    span = "-".join(d.isoformat() for d in (f.date_from, f.date_to) if d) or "all"
    return f"audit-{span}.{ext}"
