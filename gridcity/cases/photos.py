"""Photo checks: decode to be sure it is an image, keep EXIF GPS for staff, strip every
piece of metadata from the public copy, make a thumbnail."""

import hashlib
import io
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
THUMB_SIZE = (320, 320)
# Decompression bombs: a 10 MB file must not expand into gigabytes of pixels.
Image.MAX_IMAGE_PIXELS = 60_000_000


class PhotoError(ValueError):
    pass


@dataclass
class CheckedPhoto:
    data: bytes
    name: str
    content_type: str
    width: int
    height: int
    sha256: str
    exif_gps: dict | None
    public_data: bytes
    thumbnail: bytes

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def _rational(v) -> float:
    return float(v[0]) / float(v[1]) if isinstance(v, tuple) else float(v)


def _gps(img: Image.Image) -> dict | None:
    try:
        gps = img.getexif().get_ifd(0x8825)
    except Exception:  # broken EXIF blocks are common and never fatal
        return None
    if not gps or 2 not in gps or 4 not in gps:
        return None
    try:
        lat = sum(_rational(x) / 60**i for i, x in enumerate(gps[2]))
        lon = sum(_rational(x) / 60**i for i, x in enumerate(gps[4]))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if gps.get(1) == "S":
        lat = -lat
    if gps.get(3) == "W":
        lon = -lon
    return {"lat": round(lat, 7), "lon": round(lon, 7)}


def check_photo(data: bytes, name: str = "photo") -> CheckedPhoto:
    limit = settings.GRIDCITY_PHOTO_MAX_BYTES
    if len(data) > limit:
        raise PhotoError(
            f"照片“{name}”大小 {len(data) / 1e6:.1f} MB，超过上限 {limit / 1e6:.0f} MB"
        )
    if not data:
        raise PhotoError(f"照片“{name}”是空文件")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            probe.verify()
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise PhotoError(f"“{name}”不是可识别的图片（支持 JPEG、PNG、WebP）") from exc
    if fmt not in ALLOWED_FORMATS:
        raise PhotoError(f"“{name}”的格式 {fmt} 不受支持（支持 JPEG、PNG、WebP）")
    gps = _gps(img)
    upright = ImageOps.exif_transpose(img)
    public = io.BytesIO()
    clean = upright.convert("RGB") if fmt == "JPEG" else upright
    clean.save(public, format=fmt, **({"quality": 88} if fmt in ("JPEG", "WEBP") else {}))
    thumb = upright.convert("RGB")
    thumb.thumbnail(THUMB_SIZE)
    tbuf = io.BytesIO()
    thumb.save(tbuf, format="JPEG", quality=80)
    return CheckedPhoto(
        data=data,
        name=name,
        content_type=ALLOWED_FORMATS[fmt],
        width=img.width,
        height=img.height,
        sha256=hashlib.sha256(data).hexdigest(),
        exif_gps=gps,
        public_data=public.getvalue(),
        thumbnail=tbuf.getvalue(),
    )


def check_photos(photos, field: str = "photos") -> list[CheckedPhoto]:
    """Check every (name, bytes) pair; a bad one is an InvalidInput naming `photos[i]`."""
    from gridcity.cases.errors import InvalidInput

    checked = []
    for i, (name, data) in enumerate(photos):
        try:
            checked.append(check_photo(data, name or f"photo{i + 1}"))
        except PhotoError as exc:
            raise InvalidInput(str(exc), field=f"{field}[{i}]") from exc
    return checked
