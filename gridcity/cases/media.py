"""Photos are served through Django, not as open files: the original (with EXIF GPS) only to
staff who may see the case; the stripped public copy and the thumbnail to anyone."""

import mimetypes

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest

from gridcity.accounts.actions import authenticate_token
from gridcity.cases.models import Attachment
from gridcity.cases.scope import visible_to


def serve_media(request: HttpRequest, path: str) -> FileResponse:
    att = Attachment.objects.filter(Q(file=path) | Q(public_file=path) | Q(thumbnail=path)).first()
    if att is None:
        raise Http404("文件不存在")
    if att.file.name == path:
        user = request.user
        if not user.is_authenticated:
            header = request.headers.get("Authorization", "")
            token_user = authenticate_token(header.removeprefix("Bearer ").strip())
            user = token_user or AnonymousUser()
        if not visible_to(user).filter(pk=att.case_id).exists():
            raise Http404("文件不存在")
        field = att.file
    else:
        field = att.public_file if att.public_file.name == path else att.thumbnail
    try:
        handle = field.open("rb")
    except FileNotFoundError as exc:
        raise Http404("文件不存在") from exc
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
