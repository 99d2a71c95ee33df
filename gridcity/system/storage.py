"""Uploaded photos in an S3-compatible object store, still served by the app.

The stock S3 backend answers `.url` with a presigned link straight to the bucket: the original
photo (with EXIF GPS) would reach whoever holds the link, past every permission check, and a
link published in an Open311 feed would die after an hour. Here every stored file's URL is its
/media/ address, whatever the backend, and `gridcity.cases.media.serve_media` decides who may
have it and streams it through the storage API. An object written in a transaction that rolls
back is deleted again (`gridcity.lib.txfiles`)."""

from urllib.parse import urljoin

from django.conf import settings
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage

from gridcity.lib.txfiles import FilesFollowTransactionMixin


def app_media_url(name: str) -> str:
    """The app's own URL for a stored file, as FileSystemStorage builds it."""
    return urljoin(settings.MEDIA_URL, filepath_to_uri(name).lstrip("/"))


class AppServedS3Storage(FilesFollowTransactionMixin, S3Storage):
    def url(self, name, parameters=None, expire=None, http_method=None) -> str:
        return app_media_url(name)
