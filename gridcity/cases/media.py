"""Photos are served through Django, not as open files: the original (with EXIF GPS) only to
staff who may see the case; the stripped public copy and the thumbnail to anyone; a pairing
visit's photos to those who may see the pairing; a station activity's photo to anyone (it is
on the public page).

Files are read through the storage API only (`FieldFile.open`), never by a filesystem path, so
the same view serves local files and objects in an S3-compatible store."""

import mimetypes

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest

from gridcity.accounts.actions import authenticate_token
from gridcity.accounts.models import Role
from gridcity.cases.actions import effective_role
from gridcity.cases.models import Attachment
from gridcity.cases.scope import visible_to
from gridcity.people.actions import SUPERVISOR_ROLES, pairings_visible_to
from gridcity.people.models import StationActivity, VisitPhoto

VISIT_ROLES = set(SUPERVISOR_ROLES) | {Role.DEPT_LEAD, Role.HANDLER}


def _user(request: HttpRequest):
    """The session's user, or the phone's from its bearer token."""
    user = request.user
    if not user.is_authenticated:
        header = request.headers.get("Authorization", "")
        token_user = authenticate_token(header.removeprefix("Bearer ").strip())
        user = token_user or AnonymousUser()
    return user


def _field_for(request: HttpRequest, path: str) -> FieldFile | None:
    att = Attachment.objects.filter(Q(file=path) | Q(public_file=path) | Q(thumbnail=path)).first()
    if att is not None:
        if att.file.name != path:
            return att.public_file if att.public_file.name == path else att.thumbnail
        if not visible_to(_user(request)).filter(pk=att.case_id).exists():
            return None
        return att.file
    photo = VisitPhoto.objects.filter(Q(file=path) | Q(thumbnail=path)).first()
    if photo is not None:
        user = _user(request)
        if not user.is_authenticated or effective_role(user) not in VISIT_ROLES:
            return None
        if not pairings_visible_to(user).filter(visits__photos=photo).exists():
            return None
        return photo.file if photo.file.name == path else photo.thumbnail
    activity = StationActivity.objects.filter(photo=path).exclude(photo="").first()
    return activity.photo if activity is not None else None


def serve_media(request: HttpRequest, path: str) -> FileResponse:
    field = _field_for(request, path)
    if field is None or not field.name:
        raise Http404("文件不存在")
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404("文件不存在") from exc
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
