"""What the public sees of the cases behind an exposure: their rectification state, read live
from the cases, and their public photos (the metadata-stripped copies, never the originals)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from gridcity.cases.models import AttachmentKind, Case, Status
from gridcity.publicity.models import Exposure, ExposureKind

BEFORE_KINDS = (AttachmentKind.REPORT, AttachmentKind.BEFORE, AttachmentKind.VERIFY)
AFTER_KINDS = (AttachmentKind.AFTER, AttachmentKind.CHECK)
# Handled and waiting for the on-site check (or for closing after a passed check).
AWAITING_CHECK = frozenset({Status.HANDLED, Status.CHECKED})
NO_LONGER_HANDLED = frozenset({Status.VOIDED, Status.MERGED})
PHOTOS_SHOWN = 6

# A mainland mobile number anywhere in a text meant for the public.
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


@dataclass(frozen=True)
class Rectification:
    code: str  # "handling", "checking", "done", "void"
    label: str
    done: int  # cases rectified (closed)
    total: int  # cases counted


def state_of_case(status: str) -> tuple[str, str]:
    if status == Status.CLOSED:
        return "done", str(_("已整改"))
    if status in AWAITING_CHECK:
        return "checking", str(_("已整改，待核查"))
    if status in NO_LONGER_HANDLED:
        return "void", str(_("不再办理"))
    return "handling", str(_("处置中"))


def rectification_of(exposure: Exposure) -> Rectification:
    if exposure.kind == ExposureKind.CASE:
        code, label = state_of_case(exposure.case.status)
        return Rectification(code, label, int(code == "done"), 1)
    statuses = [c.status for c in exposure.cases.all() if c.status not in NO_LONGER_HANDLED]
    total = len(statuses)
    done = sum(1 for s in statuses if s == Status.CLOSED)
    if total == 0:
        return Rectification("void", str(_("不再办理")), 0, 0)
    if done == total:
        return Rectification("done", str(_("已全部整改")), done, total)
    if all(s == Status.CLOSED or s in AWAITING_CHECK for s in statuses):
        code = "checking"
    else:
        code = "handling"
    label = _("整改中（已整改 %(done)s / %(total)s 件）") % {"done": done, "total": total}
    return Rectification(code, str(label), done, total)


def cases_of(exposure: Exposure) -> list[Case]:
    if exposure.kind == ExposureKind.CASE:
        return [exposure.case]
    return list(exposure.cases.all())


def public_photos(cases: Iterable[Case]) -> tuple[list, list]:
    """(before, after): attachments that have a stripped public copy, oldest first."""
    before, after = [], []
    for case in cases:
        for att in case.attachments.all():
            if not att.public_file:
                continue
            if att.kind in BEFORE_KINDS:
                before.append(att)
            elif att.kind in AFTER_KINDS:
                after.append(att)
    before.sort(key=lambda a: (a.uploaded_at, a.pk))
    after.sort(key=lambda a: (a.uploaded_at, a.pk))
    return before[:PHOTOS_SHOWN], after[:PHOTOS_SHOWN]


def personal_data_in(text: str, cases: Iterable[Case]) -> str | None:
    """Why `text` may not be shown to the public, or None. It must not name a reporter, give
    a reporter's phone or any mobile number."""
    if MOBILE.search(text):
        return str(_("公开说明不得包含手机号码"))
    for case in cases:
        names = {case.reporter_name, case.reporter_phone}
        for report in case.reports.all():
            names |= {report.reporter_name, report.reporter_phone, report.reporter_email}
        for value in names:
            if value and len(value) >= 2 and value in text:
                return str(_("公开说明不得包含上报人的姓名或联系方式"))
    return None
