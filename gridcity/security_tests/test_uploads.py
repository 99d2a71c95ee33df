"""Issue #14, point 1: image bombs, oversized uploads, phone formats, metadata and files left by
a rollback, tried as an attacker (or an unlucky phone) would.

A 10,900 × 10,900 PNG of a third of a megabyte is refused from its header in milliseconds,
anonymously on /public/ and through the API, with a Chinese message at the photo field; so is a
picture in the band where Pillow would only warn. A 30 MB upload to /public/ is refused without
being read into memory, a 300 MB one without being read at all, and ten photos in one request
before any is decoded. A phone's MPO is kept as the JPEG of its first picture; an iPhone's HEIC
is refused by name. A phone number in a JPEG comment, EXIF, XMP or a PNG text chunk, and the GPS
position, never reach the public copy or the thumbnail. Photo files written in a transaction
that rolls back are gone from MEDIA_ROOT."""

import base64
import functools
import io
import json
import os
import struct
import time
import tracemalloc
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.test import Client, RequestFactory
from django.test.client import BOUNDARY, MULTIPART_CONTENT, ClientHandler, encode_multipart
from django.utils import timezone
from PIL import Image, ImageCms, PngImagePlugin

from gridcity.accounts.actions import do_create_token
from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.cases.models import Attachment, Case, Channel
from gridcity.cases.tests.test_s3_storage import PREFIX as S3_PREFIX
from gridcity.cases.tests.test_s3_storage import bucket as s3_bucket  # noqa: F401 (a fixture)
from gridcity.cases.tests.test_s3_storage import moto_endpoint  # noqa: F401 (a fixture)
from gridcity.lib.errors import InvalidInput
from gridcity.people.actions import VisitIn, do_record_visit
from gridcity.people.models import Pairing
from gridcity.taxonomy.actions import resolve_category
from gridcity.testing import MID_LAT, build_city, tiny_jpeg

PHONE = b"13800138000"
GPS = (30.2436, 120.163)
POINT = {"lon": 120.1630, "lat": MID_LAT + 0.0012}
SOMEWHERE = "198.51.100.77"


@pytest.fixture
def city(db):
    return build_city()


@pytest.fixture
def api(client, city):
    token = do_create_token(city.people["inspector"])

    def post(path, body):
        return client.post(
            path,
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    return post


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def report_body(*photos: bytes) -> dict:
    return {
        "category": "06042",
        "description": "垃圾桶满溢",
        **POINT,
        "photos": [b64(p) for p in photos],
    }


def public_form(*photos) -> dict:
    return {
        "category": "matter:09999",
        "lon": str(POINT["lon"]),
        "lat": str(POINT["lat"]),
        "description": "有人遛狗不牵绳",
        "key": f"upload-{time.monotonic_ns()}",
        "photo": list(photos),
    }


def public_post(client, *photos):
    return client.post("/public/", public_form(*photos), REMOTE_ADDR=SOMEWHERE)


def files_on_disk(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def photo_error_of(response) -> str:
    """What the citizens' page shows between the photo field and the next field."""
    page = response.content.decode()
    start = page.index('name="photo"')
    return page[start : page.index('id="pick-map"', start)]


@functools.cache
def png_bomb(width: int = 10_900, height: int = 10_900) -> bytes:
    """A real RGB PNG of width × height black pixels: a third of a megabyte that a decoder
    would turn into 475 MB of pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    packer = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def exif_with_gps(lat: float, lon: float) -> Image.Exif:
    def dms(v: float) -> tuple[float, float, float]:
        d = int(v)
        m = int((v - d) * 60)
        return (float(d), float(m), round(((v - d) * 60 - m) * 60, 4))

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    exif[0x010E] = "举报人 13800138000"  # ImageDescription
    exif[0x010F] = "PhoneMaker"
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'dc:creator="13800138000"/></rdf:RDF></x:xmpmeta>'
)


def jpeg_with_secrets(size=(640, 480)) -> bytes:
    """A photo as a phone's gallery app leaves it: GPS and a description in EXIF, the owner's
    number in a JPEG comment and in XMP, a colour profile."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    img.save(
        buf,
        "JPEG",
        quality=90,
        exif=exif_with_gps(*GPS),
        comment=PHONE,
        xmp=XMP,
        icc_profile=icc,
    )
    data = buf.getvalue()
    assert data.count(PHONE) == 3 and b"\xff\xfe" in data
    return data


def png_with_secrets() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", PHONE.decode())
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (30, 120, 200)).save(
        buf, "PNG", pnginfo=info, exif=exif_with_gps(*GPS)
    )
    data = buf.getvalue()
    assert PHONE in data
    return data


def jpeg_markers(data: bytes) -> set[int]:
    """The markers of a JPEG's header segments (up to the image data)."""
    assert data[:2] == b"\xff\xd8"
    found, i = set(), 2
    while data[i] == 0xFF and data[i + 1] != 0xDA:
        found.add(data[i + 1])
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return found


def assert_pixels_only(data: bytes) -> None:
    assert PHONE not in data
    assert b"Exif" not in data and b"xmpmeta" not in data and b"ICC_PROFILE" not in data
    img = Image.open(io.BytesIO(data))
    assert not set(img.info) & {"exif", "xmp", "icc_profile", "comment", "Comment"}
    assert not img.getexif()
    if img.format == "JPEG":
        # No APP1 (EXIF, XMP), APP2 (ICC, MPF), APP13 (IPTC) or COM segment: JFIF and the
        # tables that decode the pixels, nothing else.
        assert jpeg_markers(data) <= {0xE0, 0xDB, 0xC0, 0xC2, 0xC4, 0xDD}


# --- pixel bombs ------------------------------------------------------------------------------


def test_a_pixel_bomb_posted_anonymously_to_the_public_form_is_refused_at_once(
    client, city, settings
):
    bomb = SimpleUploadedFile("bomb.png", png_bomb(), "image/png")
    assert bomb.size < 400_000
    assert client.get("/public/", REMOTE_ADDR=SOMEWHERE).status_code == 200  # the form first
    started = time.monotonic()
    r = public_post(client, bomb)
    elapsed = time.monotonic() - started
    assert r.status_code == 422
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    shown = photo_error_of(r)
    assert "照片“bomb.png”有 1.19 亿像素，超过上限 4000 万像素" in shown
    assert Case.objects.count() == 0 and not files_on_disk(settings)
    print(f"pixel bomb refused by /public/ in {elapsed * 1000:.0f} ms")


def test_a_pixel_bomb_through_the_api_is_refused_at_once_naming_the_photo(api, settings):
    started = time.monotonic()
    r = api("/api/cases", report_body(tiny_jpeg(), png_bomb()))
    elapsed = time.monotonic() - started
    assert r.status_code == 422 and elapsed < 1.0, f"{r.status_code} {elapsed:.2f} s"
    assert r.json()["field"] == "photos[1]"
    assert "1.19 亿像素，超过上限 4000 万像素" in r.json()["error"]
    assert Case.objects.count() == 0 and not files_on_disk(settings)
    print(f"pixel bomb refused by the API in {elapsed * 1000:.0f} ms")


def test_a_pixel_bomb_as_a_report_back_photo_upload_is_refused(api, client, city, settings):
    number = api("/api/cases", report_body()).json()["number"]
    token = do_create_token(city.people["sanitation"])
    started = time.monotonic()
    r = client.post(
        f"/api/cases/{number}/attachments",
        {"file": SimpleUploadedFile("after.png", png_bomb(), "image/png"), "kind": "after"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert r.status_code == 422 and time.monotonic() - started < 1.0
    assert r.json()["field"] == "file" and "超过上限" in r.json()["error"]
    assert Attachment.objects.count() == 0 and not files_on_disk(settings)


def test_a_picture_where_pillow_would_only_warn_is_refused_too(api):
    # 8,000 × 8,000 = 64 M pixels: above the ceiling, below twice it, where Pillow's own check
    # only warns and would decode it.
    r = api("/api/cases", report_body(png_bomb(8000, 8000)))
    assert r.status_code == 422 and r.json()["field"] == "photos[0]"
    assert "8000×8000（6400 万像素），超过上限 4000 万像素" in r.json()["error"]


def test_a_bomb_in_a_pairing_visit_is_refused_by_the_same_check(city, settings):
    today = timezone.localdate()
    pairing = Pairing.objects.create(
        leader=city.people["leader"],
        community=city.communities[0],
        starts_on=today - timedelta(days=30),
        ends_on=today + timedelta(days=300),
        tasks="帮助解决环境卫生问题",
    )
    with pytest.raises(InvalidInput) as refused:
        do_record_visit(
            pairing,
            VisitIn(
                today, "陈主任", "走访", photos=[("a.jpg", tiny_jpeg()), ("b.png", png_bomb())]
            ),
            acting_user=city.people["leader"],
        )
    assert refused.value.field == "photos[1]" and "超过上限" in refused.value.message
    assert not files_on_disk(settings)


# --- sizes and counts -----------------------------------------------------------------------


def test_a_30_mb_upload_to_the_public_form_is_refused_without_being_read_into_memory(
    city, settings
):
    # JPEG-looking bytes, so that nothing but the size can refuse them.
    big = b"\xff\xd8\xff\xe0" + os.urandom(30 * 1024 * 1024)
    body = encode_multipart(BOUNDARY, public_form(SimpleUploadedFile("big.jpg", big)))
    request = RequestFactory().generic(
        "POST", "/public/", body, content_type=MULTIPART_CONTENT, REMOTE_ADDR=SOMEWHERE
    )
    del big, body
    handler = ClientHandler(enforce_csrf_checks=False)
    tracemalloc.start()
    try:
        started = time.monotonic()
        r = handler(request.environ)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 422
    assert "照片“big.jpg”大小 30 MB，超过上限 10 MB" in photo_error_of(r)
    assert Case.objects.count() == 0 and not files_on_disk(settings)
    # The upload went by in 64 KB pieces; reading it would have taken 30 MB at least.
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    print(f"30 MB upload refused in {elapsed:.2f} s, peak Python memory {peak / 1e6:.1f} MB")


def test_a_300_mb_upload_is_refused_before_a_byte_of_it_is_read(city):
    body = encode_multipart(BOUNDARY, public_form(SimpleUploadedFile("a.jpg", tiny_jpeg())))
    request = RequestFactory().generic(
        "POST",
        "/public/",
        body,
        content_type=MULTIPART_CONTENT,
        REMOTE_ADDR=SOMEWHERE,
        CONTENT_LENGTH=str(300 * 1024 * 1024),
    )
    r = ClientHandler(enforce_csrf_checks=False)(request.environ)
    assert r.status_code == 413
    page = r.content.decode()
    assert "本次提交 300 MB，超过上限 94 MB" in page and "没有保存任何内容" in page
    assert not request.environ["wsgi.input"].read_started
    assert Case.objects.count() == 0


def test_an_api_body_above_its_limit_is_a_413_in_json_before_it_is_read(city, client):
    token = do_create_token(city.people["inspector"])
    r = client.generic(
        "POST",
        "/api/cases",
        b"{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        CONTENT_LENGTH=str(40 * 1024 * 1024),
    )
    assert r.status_code == 413
    assert r.json()["field"] == "body" and "超过上限 32 MB" in r.json()["error"]


def test_ten_photos_in_one_api_request_are_refused_before_any_is_decoded(api, settings):
    started = time.monotonic()
    r = api("/api/cases", report_body(*[tiny_jpeg(size=(2000, 1500))] * 10))
    assert r.status_code == 422 and time.monotonic() - started < 1.0
    assert r.json()["field"] == "photos"
    assert "一次最多上传 9 张照片（收到 10 张）" in r.json()["error"]
    assert Case.objects.count() == 0 and not files_on_disk(settings)
    # Nine are fine.
    assert api("/api/cases", report_body(*[tiny_jpeg()] * 9)).status_code == 201


def test_ten_photos_on_the_public_form_are_refused(client, city, settings):
    photos = [SimpleUploadedFile(f"p{i}.jpg", tiny_jpeg(), "image/jpeg") for i in range(10)]
    r = public_post(client, *photos)
    assert r.status_code == 422
    assert "一次最多上传 9 张照片" in photo_error_of(r)
    assert Case.objects.count() == 0 and not files_on_disk(settings)


def test_a_photo_over_10_mb_in_base64_is_refused_before_it_is_decoded(api):
    r = api("/api/cases", {**report_body(), "photos": ["A" * (15 * 1024 * 1024)]})
    assert r.status_code == 422 and r.json()["field"] == "photos[0]"
    assert "超过上限 10 MB" in r.json()["error"]


# --- phone formats --------------------------------------------------------------------------


def test_a_phones_mpo_is_kept_as_the_jpeg_of_its_first_picture(api, client, city):
    first = Image.new("RGB", (640, 480), (200, 30, 30))
    second = Image.new("RGB", (640, 480), (30, 30, 200))  # e.g. the depth map or wide angle
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], exif=exif_with_gps(*GPS))
    mpo = buf.getvalue()
    assert Image.open(io.BytesIO(mpo)).format == "MPO"

    r = api("/api/cases", report_body(mpo))
    assert r.status_code == 201, r.content
    att = Case.objects.get(number=r.json()["number"]).attachments.get()
    assert att.content_type == "image/jpeg" and att.file.name.endswith(".jpg")
    assert att.exif_gps == pytest.approx({"lat": GPS[0], "lon": GPS[1]}, abs=1e-4)
    with att.file.open("rb") as f:
        kept = f.read()
    assert len(kept) < len(mpo) and b"MPF\x00" not in kept
    original = Image.open(io.BytesIO(kept))
    assert original.format == "JPEG" and original.convert("RGB").getpixel((10, 10))[0] > 150
    public = client.get(att.public_file.url)
    assert public.status_code == 200
    shown = Image.open(io.BytesIO(b"".join(public.streaming_content)))
    assert shown.format == "JPEG" and shown.size == (640, 480)


def test_an_iphone_heic_is_refused_by_its_name(api):
    heic = struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0mif1heic" + os.urandom(2000)
    r = api("/api/cases", report_body(heic))
    assert r.status_code == 422 and r.json()["field"] == "photos[0]"
    assert "HEIC" in r.json()["error"] and "JPEG" in r.json()["error"]


# --- metadata -------------------------------------------------------------------------------


def test_a_citizens_photo_keeps_no_number_no_gps_no_xmp_no_profile_in_what_anyone_can_fetch(
    city, settings
):
    citizen = Client()
    r = public_post(citizen, SimpleUploadedFile("dog.jpg", jpeg_with_secrets(), "image/jpeg"))
    assert r.status_code == 302, photo_error_of(r)
    att = Case.objects.get().attachments.get()
    # Staff keep where the photo was taken.
    assert att.exif_gps == pytest.approx({"lat": GPS[0], "lon": GPS[1]}, abs=1e-4)
    stranger = Client()
    for url in (att.public_file.url, att.thumbnail.url):
        served = stranger.get(url)
        assert served.status_code == 200
        assert_pixels_only(b"".join(served.streaming_content))
    assert stranger.get(att.file.url).status_code == 404


def test_an_api_photo_and_a_png_keep_nothing_but_pixels_in_their_copies(api):
    r = api("/api/cases", report_body(jpeg_with_secrets((3000, 2000)), png_with_secrets()))
    assert r.status_code == 201, r.content
    atts = list(Case.objects.get(number=r.json()["number"]).attachments.order_by("pk"))
    assert [a.content_type for a in atts] == ["image/jpeg", "image/png"]
    for att in atts:
        assert att.exif_gps == pytest.approx({"lat": GPS[0], "lon": GPS[1]}, abs=1e-4)
        for copy in (att.public_file, att.thumbnail):
            with copy.open("rb") as f:
                assert_pixels_only(f.read())
    # The large one was decoded at half its size, which is its public copy.
    with atts[0].public_file.open("rb") as f:
        assert Image.open(f).size == (1500, 1000)
    assert (atts[0].width, atts[0].height) == (3000, 2000)


# --- files and transactions -----------------------------------------------------------------


def _report(city, *photos: bytes) -> Case:
    inp = ReportInput(
        category=resolve_category("06042"),
        channel=Channel.INSPECTOR,
        description="垃圾桶满溢",
        photos=[(f"p{i}.jpg", p) for i, p in enumerate(photos)],
        **POINT,
    )
    return do_report_case(inp, acting_user=city.people["inspector"]).case


class Boom(Exception):
    pass


def test_photo_files_of_a_rolled_back_transaction_are_deleted(city, settings):
    seen = []
    with pytest.raises(Boom), transaction.atomic():
        _report(city, tiny_jpeg(), tiny_jpeg(color=(1, 2, 3)))
        seen = files_on_disk(settings)
        raise Boom
    assert len(seen) == 6  # two originals, two public copies, two thumbnails
    assert not files_on_disk(settings)
    assert Case.objects.count() == 0


def test_a_rolled_back_savepoint_takes_its_files_and_leaves_the_rest(city, settings):
    with transaction.atomic():
        kept = _report(city, tiny_jpeg())
        with pytest.raises(Boom), transaction.atomic():
            _report(city, tiny_jpeg(color=(9, 9, 9)))
            assert len(files_on_disk(settings)) == 6
            raise Boom
        assert len(files_on_disk(settings)) == 3
    att = kept.attachments.get()
    assert sorted(
        p.relative_to(settings.MEDIA_ROOT).as_posix() for p in files_on_disk(settings)
    ) == (sorted([att.file.name, att.public_file.name, att.thumbnail.name]))


@pytest.mark.django_db(transaction=True)
def test_a_real_rollback_on_the_database_deletes_the_files_and_a_commit_keeps_them(settings):
    city = build_city()
    att = _report(city, tiny_jpeg()).attachments.get()
    committed = {att.file.name, att.public_file.name, att.thumbnail.name}
    with pytest.raises(Boom), transaction.atomic():
        _report(city, tiny_jpeg(color=(9, 9, 9)))
        assert len(files_on_disk(settings)) == 6
        raise Boom
    on_disk = files_on_disk(settings)
    assert {p.relative_to(settings.MEDIA_ROOT).as_posix() for p in on_disk} == committed


def test_in_object_storage_a_rollback_deletes_the_objects_too(city, request):
    bucket = request.getfixturevalue("s3_bucket")  # moto's S3 server, as default storage
    with transaction.atomic():
        kept = _report(city, tiny_jpeg())
        with pytest.raises(Boom), transaction.atomic():
            _report(city, tiny_jpeg(color=(9, 9, 9)))
            assert len(bucket.keys()) == 6
            raise Boom
    att = kept.attachments.get()
    assert bucket.keys() == {
        f"{S3_PREFIX}/{name}" for name in (att.file.name, att.public_file.name, att.thumbnail.name)
    }


def test_files_a_killed_process_left_are_pruned_once_old(city, settings):
    att = _report(city, tiny_jpeg()).attachments.get()
    # What a process killed between writing its photo and committing leaves: a file no row
    # names. One is a day old, one was written a minute ago by a transaction still open.
    root = Path(settings.MEDIA_ROOT)
    old = root / "cases" / "2020" / "01" / "orphan.jpg"
    fresh = root / "thumbs" / "2020" / "01" / "in-flight.jpg"
    for path in (old, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tiny_jpeg())
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    for name in (att.file.name, att.public_file.name, att.thumbnail.name):
        os.utime(root / name, (day_ago, day_ago))
    out = io.StringIO()
    call_command("prune-orphan-files", stdout=out)
    assert "cases/2020/01/orphan.jpg" in out.getvalue()
    assert not old.exists() and fresh.exists()
    for name in (att.file.name, att.public_file.name, att.thumbnail.name):
        assert (root / name).exists()
