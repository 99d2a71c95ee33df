"""Photos are served through Django, not as open files: the original (with EXIF GPS) only to
staff who may see the case; the stripped public copy and the thumbnail to anyone. Apps above
`cases` that keep files of their own (a pairing visit's photos, a station activity's photo)
register a finder here that decides who may read them.

Files are read through the storage API only (`FieldFile.open`), never by a filesystem path, so
the same view serves local files and objects in an S3-compatible store."""

import mimetypes
from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest
from django.utils.translation import gettext

from gridcity.accounts.actions import authenticate_token
from gridcity.cases.models import Attachment
from gridcity.cases.scope import visible_to

# (request, path) -> the file to send; None when the path is not the finder's or the requester
# may not read it. A stored path belongs to one model only, so the first answer decides.
MediaFinder = Callable[[HttpRequest, str], FieldFile | None]
_finders: list[MediaFinder] = []


def register_media_finder(finder: MediaFinder) -> MediaFinder:
    """Called from an app's `AppConfig.ready()`; idempotent."""
    if finder not in _finders:
        _finders.append(finder)
    return finder


def request_user(request: HttpRequest):
    """The session's user, or the phone's from its bearer token."""
    user = request.user
    if not user.is_authenticated:
        header = request.headers.get("Authorization", "")
        token_user = authenticate_token(header.removeprefix("Bearer ").strip())
        user = token_user or AnonymousUser()
    return user


def _attachment(request: HttpRequest, path: str) -> FieldFile | None:
    att = Attachment.objects.filter(Q(file=path) | Q(public_file=path) | Q(thumbnail=path)).first()
    if att is None:
        return None
    if att.file.name != path:
        return att.public_file if att.public_file.name == path else att.thumbnail
    if not visible_to(request_user(request)).filter(pk=att.case_id).exists():
        return None
    return att.file


def _field_for(request: HttpRequest, path: str) -> FieldFile | None:
    for finder in (_attachment, *_finders):
        field = finder(request, path)
        if field is not None:
            return field
    return None


def serve_media(request: HttpRequest, path: str) -> FileResponse:
    field = _field_for(request, path)
    if field is None or not field.name:
        raise Http404(gettext("文件不存在"))
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404(gettext("文件不存在")) from exc
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
