"""Limits on what a request may upload, enforced while it arrives, before any view reads it.

`UploadLimitsMiddleware` comes before anything that reads a body. It answers 413 at once to a
request whose declared length is above the limit (a multipart upload above
GRIDCITY_UPLOAD_MAX_REQUEST_BYTES, any other body above DATA_UPLOAD_MAX_MEMORY_SIZE), without
reading it; and it lets a process hold at most GRIDCITY_UPLOAD_INFLIGHT_BYTES of large bodies at
once, so twenty people sending photos to one worker queue for a moment instead of taking its
memory together.

`PhotoUploadHandler` is the first of FILE_UPLOAD_HANDLERS. A file in a photo field (or one that
says or looks like an image) may have GRIDCITY_PHOTO_MAX_BYTES, any other file
GRIDCITY_UPLOAD_MAX_BYTES; a request may carry GRIDCITY_PHOTO_MAX_COUNT photos. A file over a
limit is not kept: the rest of it is read and thrown away 64 KB at a time, and the view gets a
small stand-in that the photo check (`gridcity.cases.photos.check_photo`) refuses with the
reason, under the field's name, on every page and endpoint that takes photos."""

import contextlib
import ctypes
import io
import threading

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.translation import gettext as _

from gridcity.cases.photos import max_bytes, max_count, refused_upload

PHOTO_FIELDS = {"photo", "photos"}
# A body this large waits for its share of the process's in-flight budget; smaller ones do not.
LARGE_BODY = 1024 * 1024
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:.1f}".removesuffix(".0")


def _looks_like_image(head: bytes) -> bool:
    return (
        head.startswith(_IMAGE_MAGIC)
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head[4:8] == b"ftyp"
    )


class PhotoUploadHandler(FileUploadHandler):
    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.photos = 0
        self.photo = False
        self.refusal = ""

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self.refusal = ""
        self.photo = False
        if field_name in PHOTO_FIELDS or (self.content_type or "").startswith("image/"):
            self._count_photo()

    def _count_photo(self) -> None:
        self.photo = True
        self.photos += 1
        if self.photos > max_count():
            self.refusal = f"一次最多上传 {max_count()} 张照片"

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start == 0 and not self.photo and _looks_like_image(raw_data):
            self._count_photo()
        if self.refusal:
            return None
        if start + len(raw_data) > self._limit():
            self.refusal = "over"
            return None
        return raw_data

    def _limit(self) -> int:
        return max_bytes() if self.photo else settings.GRIDCITY_UPLOAD_MAX_BYTES

    def file_complete(self, file_size: int) -> InMemoryUploadedFile | None:
        if not self.refusal:
            return None  # the next handler (memory or temporary file) has the file
        if self.refusal == "over":
            what = "照片" if self.photo else "文件"
            self.refusal = (
                f"{what}“{self.file_name}”大小 {_mb(file_size)} MB，"
                f"超过上限 {_mb(self._limit())} MB"
            )
        data = refused_upload(self.refusal)
        return InMemoryUploadedFile(
            io.BytesIO(data),
            self.field_name,
            self.file_name,
            self.content_type,
            len(data),
            self.charset,
            self.content_type_extra,
        )


class _Budget:
    """Bytes of large request bodies a process holds at once; a body larger than the whole
    budget waits until it can be alone."""

    def __init__(self) -> None:
        self.used = 0
        self.cond = threading.Condition()

    def acquire(self, n: int, total: int, timeout: float) -> int | None:
        n = min(n, total)
        with self.cond:
            if not self.cond.wait_for(lambda: self.used + n <= total, timeout):
                return None
            self.used += n
            return n

    def release(self, n: int) -> None:
        with self.cond:
            self.used -= n
            self.cond.notify_all()


_budget = _Budget()


def _give_large_buffers_back() -> None:
    """glibc serves an allocation below its mmap threshold from a heap it seldom gives back,
    and raises the threshold by itself (up to 32 MB) each time a larger block is freed: after
    the first upload, every 14 MB body would come from the heap of the thread that read it and
    stay in the worker's memory. A fixed threshold has large buffers mapped and unmapped on
    their own. Elsewhere than glibc this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD


_give_large_buffers_back()


def _error(request: HttpRequest, status: int, heading: str, message: str) -> HttpResponse:
    path = request.path_info
    if path.startswith("/api/"):
        return JsonResponse(
            {"error": message, "field": "body" if status == 413 else None},
            status=status,
            json_dumps_params={"ensure_ascii": False},
        )
    if path.startswith("/open311/"):
        from gridcity.open311.render import error as georeport_error

        fmt = "xml" if path.endswith(".xml") else "json"
        return georeport_error(fmt, status, "request entity too large" if status == 413 else "busy")
    html = loader.get_template("web/errors/upload.html").render(
        {
            "CSP_NONCE": getattr(request, "csp_nonce", ""),
            "code": status,
            "heading": heading,
            "message": message,
        }
    )
    return HttpResponse(html, status=status)


def _language(request: HttpRequest) -> str:
    """This runs before LocaleMiddleware: a page answers in the visitor's language, the API in
    Chinese as always."""
    if request.path_info.startswith("/api/"):
        return settings.LANGUAGE_CODE
    return translation.get_language_from_request(request)


class UploadLimitsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = max(0, int(request.META.get("CONTENT_LENGTH") or 0))
        except ValueError:
            length = 0
        multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/")
        cap = (
            settings.GRIDCITY_UPLOAD_MAX_REQUEST_BYTES
            if multipart
            else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
        if cap is not None and length > cap:
            with translation.override(_language(request)):
                return _error(
                    request,
                    413,
                    _("上传的内容过大"),
                    _(
                        "本次提交 %(size)s MB，超过上限 %(cap)s MB。每张照片不超过 %(photo)s MB，"
                        "一次最多 %(count)s 张。"
                    )
                    % {
                        "size": _mb(length),
                        "cap": _mb(cap),
                        "photo": _mb(max_bytes()),
                        "count": max_count(),
                    },
                )
        if length < LARGE_BODY:
            return self.get_response(request)
        held = _budget.acquire(
            length,
            settings.GRIDCITY_UPLOAD_INFLIGHT_BYTES,
            settings.GRIDCITY_UPLOAD_QUEUE_SECONDS,
        )
        if held is None:
            with translation.override(_language(request)):
                response = _error(
                    request,
                    503,
                    _("服务器正忙"),
                    _("服务器正在处理其他人上传的照片，请稍后重新提交。"),
                )
            response["Retry-After"] = "10"
            return response
        try:
            return self.get_response(request)
        finally:
            # Every Django request is in a reference cycle (its lazy user refers back to it): a
            # finished one stays in memory until the cyclic garbage collector next runs, which
            # counts objects, not bytes, and may be many requests later. Its large body (and
            # the stream Django made of it) is let go of now.
            request.__dict__.pop("_body", None)
            request._stream = io.BytesIO()
            _budget.release(held)
