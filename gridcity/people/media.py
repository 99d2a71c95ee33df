"""Who may read the people app's files: a pairing visit's photos to those who may see the
pairing, a station activity's photo to anyone (it is on the public page)."""

from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest

from gridcity.accounts.access import effective_role
from gridcity.accounts.models import Role
from gridcity.cases.media import request_user
from gridcity.people.actions import SUPERVISOR_ROLES, pairings_visible_to
from gridcity.people.models import StationActivity, VisitPhoto

VISIT_ROLES = set(SUPERVISOR_ROLES) | {Role.DEPT_LEAD, Role.HANDLER}


def people_file(request: HttpRequest, path: str) -> FieldFile | None:
    photo = VisitPhoto.objects.filter(Q(file=path) | Q(thumbnail=path)).first()
    if photo is not None:
        user = request_user(request)
        if not user.is_authenticated or effective_role(user) not in VISIT_ROLES:
            return None
        if not pairings_visible_to(user).filter(visits__photos=photo).exists():
            return None
        return photo.file if photo.file.name == path else photo.thumbnail
    activity = StationActivity.objects.filter(photo=path).exclude(photo="").first()
    return activity.photo if activity is not None else None
