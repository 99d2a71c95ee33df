"""Photos in an S3-compatible object store: they land in the bucket and nothing on disk, and are
still served through the app with the same permission checks.

The store is moto's standalone server (`moto_server`), started by the test on 127.0.0.1: a real
HTTP S3 API that boto3 and django-storages talk to over the wire, but an emulator, not MinIO or
AWS."""

import base64
import http.client
import io
import json
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone
from PIL import Image

from gridcity.accounts.actions import do_create_token
from gridcity.campaigns.models import LedgerRow, LedgerStatus
from gridcity.campaigns.tests.helpers import WEST_A, WEST_B, at, bin_campaign, report
from gridcity.cases.models import Attachment, AttachmentKind, Case
from gridcity.people.actions import VisitIn, do_record_visit
from gridcity.people.models import Pairing
from gridcity.system.storage import AppServedS3Storage
from gridcity.testing import MID_LAT, tiny_jpeg

pytestmark = pytest.mark.django_db

KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"
PREFIX = "gridcity-media"
POINT = {"lon": 120.1630, "lat": MID_LAT + 0.0012}
GPS = (30.2436, 120.163)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """One moto S3 server per test process (each xdist worker has its own)."""
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.skip(f"moto_server is not installed at {exe} (pip install 'moto[server]')")
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        # The server needs a second or two to import moto; poll its port rather than guess.
        deadline = time.monotonic() + 60
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"moto_server did not start on port {port}: {log.read_text()[-500:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def bucket(moto_endpoint, settings):
    """A fresh bucket, and the default storage switched to it the way settings.py does for
    GRIDCITY_MEDIA_STORAGE=s3 (with GRIDCITY_S3_PREFIX set)."""
    name = f"gridcity-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION, **KEYS)
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        # Pages (the 404 page too) are rendered without collectstatic having run.
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "default": {
            "BACKEND": "gridcity.system.storage.AppServedS3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": moto_endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": REGION,
                "location": PREFIX,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }
    return Bucket(client, name, Path(settings.MEDIA_ROOT))


class Bucket:
    def __init__(self, client, name: str, media_root: Path) -> None:
        self.client, self.name, self.media_root = client, name, media_root

    def keys(self) -> set[str]:
        listing = self.client.list_objects_v2(Bucket=self.name)
        return {o["Key"] for o in listing.get("Contents", [])}

    def read(self, storage_name: str) -> bytes:
        obj = self.client.get_object(Bucket=self.name, Key=f"{PREFIX}/{storage_name}")
        return obj["Body"].read()

    def assert_holds(self, *fields) -> None:
        keys = self.keys()
        for f in fields:
            assert f.name and f"{PREFIX}/{f.name}" in keys, (f.name, keys)

    def assert_nothing_on_disk(self) -> None:
        written = [p for p in self.media_root.rglob("*") if p.is_file()]
        assert written == [], written


@pytest.fixture
def api(client, city):
    tokens = {}

    def call(method, path, body=None, *, who="inspector"):
        if who not in tokens:
            tokens[who] = do_create_token(city.people[who])
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {tokens[who]}"}
        if body is not None:
            return getattr(client, method)(
                path, json.dumps(body), content_type="application/json", **kwargs
            )
        return getattr(client, method)(path, **kwargs)

    return call


def bearer(city, who: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {do_create_token(city.people[who])}"}


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def report_with_photo(api, jpeg: bytes) -> Case:
    r = api(
        "post",
        "/api/cases",
        {
            "category": "06042",
            "description": "垃圾桶满溢",
            **POINT,
            "photos": [base64.b64encode(jpeg).decode()],
        },
    )
    assert r.status_code == 201, r.content
    return Case.objects.get(number=r.json()["number"])


def test_it_switches_default_storage_and_every_file_field_to_s3(bucket):
    assert isinstance(default_storage, AppServedS3Storage)
    assert default_storage.bucket_name == bucket.name
    fields = [
        f
        for model in apps.get_models()
        if model.__module__.startswith("gridcity.")
        for f in model._meta.get_fields()
        if isinstance(f, models.FileField)
    ]
    # Attachment (3), VisitPhoto (2), EvidencePhoto, StationActivity: none may have captured a
    # FileSystemStorage when the model was defined.
    assert len(fields) >= 7
    for f in fields:
        assert isinstance(f.storage, AppServedS3Storage), f"{f.model.__name__}.{f.name}"
    assert Attachment._meta.get_field("file").storage.bucket_name == bucket.name


def test_it_stores_a_grid_managers_photo_in_the_bucket_and_serves_it_through_the_app(
    api, client, city, bucket
):
    jpeg = tiny_jpeg(gps=GPS)
    case = report_with_photo(api, jpeg)
    att = case.attachments.get()
    bucket.assert_holds(att.file, att.public_file, att.thumbnail)
    assert bucket.read(att.file.name) == jpeg
    bucket.assert_nothing_on_disk()

    # Every URL handed out is the app's, never a presigned link to the bucket.
    detail = api("get", f"/api/cases/{case.number}", who="dispatcher").json()
    urls = detail["attachments"][0]
    assert urls["url"] == f"/media/{att.file.name}"
    assert urls["thumbnail"] == f"/media/{att.thumbnail.name}"

    staff = client.get(f"/media/{att.file.name}", **bearer(city, "dispatcher"))
    assert staff.status_code == 200 and staff["Content-Type"] == "image/jpeg"
    original = body_of(staff)
    assert original == jpeg
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)

    public = client.get(f"/media/{att.public_file.name}")
    assert public.status_code == 200
    public_img = Image.open(io.BytesIO(body_of(public)))
    assert public_img.size == (64, 48) and not public_img.getexif().get_ifd(0x8825)
    thumb = client.get(f"/media/{att.thumbnail.name}")
    assert thumb.status_code == 200 and body_of(thumb) == bucket.read(att.thumbnail.name)


def test_an_outsider_cannot_get_the_original_from_the_bucket(api, client, city, bucket):
    att = report_with_photo(api, tiny_jpeg(gps=GPS)).attachments.get()
    assert client.get(f"/media/{att.file.name}").status_code == 404
    outsider = client.get(f"/media/{att.file.name}", **bearer(city, "enforcement"))
    assert outsider.status_code == 404
    # The key exists in the bucket, but the app never names it with a path that skips the check.
    assert client.get(f"/media/{PREFIX}/{att.file.name}").status_code == 404


def test_a_departments_report_back_photo_uploaded_as_multipart_lands_in_the_bucket(
    api, client, city, bucket
):
    case = report_with_photo(api, tiny_jpeg())
    after = tiny_jpeg(color=(40, 160, 60), size=(80, 60))
    r = client.post(
        f"/api/cases/{case.number}/attachments",
        {"file": io.BytesIO(after), "kind": "after"},
        **bearer(city, "sanitation"),
    )
    assert r.status_code == 201, r.content
    att = case.attachments.get(kind=AttachmentKind.AFTER)
    assert r.json()["url"] == f"/media/{att.file.name}"
    bucket.assert_holds(att.file, att.public_file, att.thumbnail)
    assert bucket.read(att.file.name) == after
    bucket.assert_nothing_on_disk()
    served = client.get(r.json()["url"], **bearer(city, "sanitation"))
    assert served.status_code == 200 and body_of(served) == after


def test_a_photo_missing_from_the_bucket_is_a_404(api, client, city, bucket):
    att = report_with_photo(api, tiny_jpeg()).attachments.get()
    bucket.client.delete_object(Bucket=bucket.name, Key=f"{PREFIX}/{att.public_file.name}")
    assert client.get(f"/media/{att.public_file.name}").status_code == 404


def test_a_campaign_evidence_photo_lands_in_the_bucket_and_is_served_to_its_units(
    client, city, bucket
):
    campaign = bin_campaign(city)
    report(city, WEST_A, at(3), tag=True)
    report(city, WEST_B, at(4), tag=True)
    row_id = campaign.ledger_rows.order_by("pk").values_list("pk", flat=True)[0]
    client.force_login(city.people["sanitation"])
    client.post(
        "/campaigns/ledger/bulk/", {"action": "submit", "rows": [row_id], "next": "/campaigns/"}
    )
    client.force_login(city.people["inspector"])
    upload = io.BytesIO(tiny_jpeg(gps=GPS))
    upload.name = "after.jpg"
    client.post(
        f"/campaigns/ledger/{row_id}/", {"action": "sign_off", "note": "已清", "photos": upload}
    )
    row = LedgerRow.objects.get(pk=row_id)
    assert row.status == LedgerStatus.SIGNED_OFF
    photo = row.photos.get()
    bucket.assert_holds(photo.file)
    assert photo.file.name.startswith("campaigns/")
    bucket.assert_nothing_on_disk()
    r = client.get(f"/campaigns/photos/{photo.pk}/")
    assert r.status_code == 200 and body_of(r) == upload.getvalue()
    client.force_login(city.people["enforcement"])
    assert client.get(f"/campaigns/photos/{photo.pk}/").status_code == 404


def test_a_pairing_visit_photo_lands_in_the_bucket_and_is_served_to_who_sees_the_pairing(
    client, city, bucket
):
    today = timezone.localdate()
    pairing = Pairing.objects.create(
        leader=city.people["leader"],
        community=city.communities[0],
        starts_on=today - timedelta(days=30),
        ends_on=today + timedelta(days=300),
        tasks="帮助解决环境卫生问题",
    )
    visit = do_record_visit(
        pairing,
        VisitIn(today, "陈主任", "走访背街小巷", photos=[("a.jpg", tiny_jpeg(gps=GPS))]),
        acting_user=city.people["leader"],
    )
    photo = visit.photos.get()
    bucket.assert_holds(photo.file, photo.thumbnail)
    bucket.assert_nothing_on_disk()
    assert photo.file.url == f"/media/{photo.file.name}"
    assert photo.thumbnail.url == f"/media/{photo.thumbnail.name}"
    assert client.get(photo.file.url).status_code == 404  # anonymous
    client.force_login(city.people["inspector"])
    assert client.get(photo.file.url).status_code == 404
    client.force_login(city.people["leader"])
    r = client.get(photo.file.url)
    assert r.status_code == 200 and body_of(r) == bucket.read(photo.file.name)
    assert client.get(photo.thumbnail.url).status_code == 200
