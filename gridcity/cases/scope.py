"""Who may see which cases: the one helper every read goes through."""

from django.db.models import Q, QuerySet, Subquery

from gridcity.accounts.models import CENTRE_ROLES, Role, User
from gridcity.cases.models import Case


def jurisdiction_path(user: User) -> str:
    """The path of the user's jurisdiction, read once per user object (without the polygon)."""
    if user.jurisdiction_id is None:
        return ""
    cached = getattr(user, "_jurisdiction_path", None)
    if cached is None:
        from gridcity.grids.models import Area

        cached = Area.objects.filter(pk=user.jurisdiction_id).values_list("path", flat=True).first()
        user._jurisdiction_path = cached or ""
    return user._jurisdiction_path


def visible_to(user: User, qs: QuerySet | None = None) -> QuerySet:
    """Restrict cases to what `user` may see: centre staff their jurisdiction, a department
    the cases dispatched to it (a department lead also its sub-departments'), a grid manager
    the cases in their beat and those they reported or were assigned."""
    qs = Case.objects.all() if qs is None else qs
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_superuser or user.role == Role.SYSTEM:
        return qs
    if user.role in CENTRE_ROLES:
        if user.jurisdiction_id is None:
            return qs
        # Unlocated reports have no area yet: the centre sees its triage queue.
        return qs.filter(Q(area_path__startswith=jurisdiction_path(user)) | Q(area_path=""))
    if user.role in (Role.HANDLER, Role.DEPT_LEAD):
        if user.department_id is None:
            return qs.none()
        ids = user.department.subtree_ids() if user.role == Role.DEPT_LEAD else {user.department_id}
        return qs.filter(department_id__in=ids)
    if user.role == Role.INSPECTOR:
        from gridcity.grids.models import Area

        beat_cells = Area.objects.filter(beats__manager=user).values("pk")
        return qs.filter(Q(cell_id__in=Subquery(beat_cells)) | Q(reporter=user) | Q(assignee=user))
    return qs.none()
