"""Photo checks, shared by every way a photo comes in (the API, the phone pages, the citizens'
form, campaigns, the team pages, the admin).

A photo is refused before anything is decoded when its bytes, its pixels (read from the image
header) or the memory its decoding would take are above the limits; a request may carry at most
`max_count()` photos. What is accepted is decoded once, at the size the copies need (a JPEG is
decoded by libjpeg at 1/2, 1/4 or 1/8 of its size), and one photo at a time per process, so a
worker's memory does not grow with the number of people uploading at once.

The original keeps its EXIF (GPS included) for staff. The public copy and the thumbnail are
encoded from pixels alone: no EXIF, GPS, XMP, ICC profile or JPEG comment survives into them.
"""

import hashlib
import io
import re
import secrets
import threading
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext
from PIL import Image, ImageCms, ImageOps, PngImagePlugin, UnidentifiedImageError

ALLOWED_FORMATS = {
    "JPEG": "image/jpeg",
    # A phone's multi-picture JPEG (a photo with a depth map or a second exposure): the first
    # picture is an ordinary JPEG and is what is kept.
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
SUPPORTED = "JPEG、PNG、WebP"
THUMB_SIZE = (320, 320)
# The public copy is at most this many pixels on its long side: plenty for a page. A JPEG larger
# than that is decoded by libjpeg straight to 1/2, 1/4 or 1/8 of its size, the first that is
# at least half of this (a 12-megapixel 4032 × 3024 photo to 2016 × 1512), and that is the
# public copy: the full-size pixels are never in memory.
PUBLIC_SIDE = 2048
# The most memory one decode may take. Above it a photo is refused, whatever its byte size.
DECODE_BUDGET = 96 * 1024 * 1024
# Pillow's own bomb check is a backstop only: it warns above this and refuses above twice it,
# and _check_size refuses first, with a message that says why.
Image.MAX_IMAGE_PIXELS = settings.GRIDCITY_PHOTO_MAX_PIXELS
# No photo needs the text chunks of a PNG; Pillow would otherwise inflate up to 64 MB of them.
PngImagePlugin.MAX_TEXT_MEMORY = 1024 * 1024

# Pillow keeps RGB pixels in 4 bytes; these modes take less.
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2}
# The brands of an ISO-BMFF ("ftyp") file that say HEIF/HEIC or AVIF.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
# One decode at a time per process: threads waiting for their turn hold only compressed bytes.
_decoding = threading.Lock()


class PhotoError(ValueError):
    pass


def max_bytes() -> int:
    return settings.GRIDCITY_PHOTO_MAX_BYTES


def max_pixels() -> int:
    return settings.GRIDCITY_PHOTO_MAX_PIXELS


def max_count() -> int:
    return settings.GRIDCITY_PHOTO_MAX_COUNT


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


# ---------------------------------------------------------------------------------------------
# Uploads refused while they were still arriving (gridcity.cases.uploads) reach the views as a
# small stand-in whose bytes say why; check_photo turns them into the refusal. The secret part
# is made per process, so no uploaded file can pass itself off as one.

_REFUSED = b"\x00gridcity-refused-upload-" + secrets.token_hex(16).encode() + b"\x00"


def refused_upload(reason: str) -> bytes:
    return _REFUSED + reason.encode()


def _refusal(data: bytes) -> str | None:
    if data[: len(_REFUSED)] == _REFUSED:
        return data[len(_REFUSED) :].decode(errors="replace")
    return None


# ---------------------------------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:.1f}".removesuffix(".0")


def _megapixels(n: float) -> str:
    """Pixels the way a Chinese camera box says them: 4000 万像素, 1.19 亿像素."""
    if n >= 100_000_000:
        return f"{n / 100_000_000:.2f}".rstrip("0").rstrip(".") + " 亿像素"
    return f"{n / 10_000:.0f} 万像素"


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


def _unsupported_container(data: bytes, name: str) -> None:
    """HEIC (an iPhone's default) and AVIF say so by name: "not an image" would be wrong."""
    if data[4:8] != b"ftyp":
        return
    brand = data[8:12]
    if brand in _HEIF_BRANDS:
        raise PhotoError(
            gettext(
                "照片“%(name)s”是 HEIC/HEIF 格式，暂不支持；请在手机相机设置中选择“兼容性最佳”（JPEG）后重拍，或转换为 JPEG 后上传（支持 %(SUPPORTED)s）"
            )
            % {"name": name, "SUPPORTED": SUPPORTED}
        )
    if brand in _AVIF_BRANDS:
        raise PhotoError(
            gettext("照片“%(name)s”是 AVIF 格式，暂不支持（支持 %(SUPPORTED)s）")
            % {"name": name, "SUPPORTED": SUPPORTED}
        )


def _open(data: bytes, name: str) -> Image.Image:
    """The image with only its header read, or a PhotoError. Nothing is decoded here."""
    try:
        with warnings.catch_warnings():
            # Between MAX_IMAGE_PIXELS and twice it Pillow only warns: _check_size refuses.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = _megapixels(int(found.group(1))) if found else "像素"
        raise PhotoError(
            gettext("照片“%(name)s”有 %(pixels)s，超过上限 %(megapixels)s，请缩小后重新上传")
            % {"name": name, "pixels": pixels, "megapixels": _megapixels(max_pixels())}
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoError(
            gettext("“%(name)s”不是可识别的图片（支持 %(SUPPORTED)s）")
            % {"name": name, "SUPPORTED": SUPPORTED}
        ) from exc


def _draft_box(width: int, height: int) -> tuple[int, int] | None:
    """The smallest size a JPEG larger than the public copy may be decoded to (long side
    PUBLIC_SIDE / 2): libjpeg picks the largest scale that stays at or above it."""
    side = max(width, height)
    if side <= PUBLIC_SIDE:
        return None
    half = PUBLIC_SIDE // 2
    return (max(1, width * half // side), max(1, height * half // side))


def _jpeg_coefficients(img: Image.Image, width: int, height: int) -> int:
    """A progressive JPEG is decoded from a buffer of every DCT coefficient of the full image
    (2 bytes each), whatever size it is decoded to."""
    layers = getattr(img, "layer", None) or [(None, 1, 1, None)] * 3
    hmax = max(h for _, h, _, _ in layers) or 1
    vmax = max(v for _, _, v, _ in layers) or 1
    share = sum(h * v for _, h, v, _ in layers) / (hmax * vmax)
    return int(width * height * share * 2)


def _check_size(img: Image.Image, name: str) -> None:
    """Refuse, from the header alone, what would take too many pixels or too much memory; for
    a JPEG, ask the decoder for the reduced size first (that is what bounds its memory)."""
    width, height = img.size
    if width < 1 or height < 1:
        raise PhotoError(
            gettext("“%(name)s”不是可识别的图片（支持 %(SUPPORTED)s）")
            % {"name": name, "SUPPORTED": SUPPORTED}
        )
    pixels = width * height
    if pixels > max_pixels():
        raise PhotoError(
            gettext(
                "照片“%(name)s”为 %(width)s×%(height)s（%(megapixels)s），超过上限 %(megapixels2)s，请缩小后重新上传"
            )
            % {
                "name": name,
                "width": width,
                "height": height,
                "megapixels": _megapixels(pixels),
                "megapixels2": _megapixels(max_pixels()),
            }
        )
    cost = 0
    if img.format in ("JPEG", "MPO"):
        if img.info.get("progressive"):
            cost += _jpeg_coefficients(img, width, height)
        box = _draft_box(width, height)
        if box:
            img.draft(img.mode, box)
    decoded = img.size[0] * img.size[1] * _BYTES_PER_PIXEL.get(img.mode, 4)
    # libwebp decodes into a buffer of its own that Pillow then copies.
    cost += decoded * (2 if img.format == "WEBP" else 1)
    if cost > DECODE_BUDGET:
        kind = "渐进式 JPEG" if img.info.get("progressive") else f"{img.format} 图片"
        raise PhotoError(
            gettext(
                "照片“%(name)s”为 %(width)s×%(height)s 的%(kind)s，解码所需内存超过上限，请缩小或另存为普通 JPEG 后重新上传"
            )
            % {"name": name, "width": width, "height": height, "kind": kind}
        )


def _without_mp_index(jpeg: bytes) -> bytes:
    """The JPEG without its APP2 "MPF" segment, the index of the pictures that followed it."""
    out, i = [jpeg[:2]], 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        length = int.from_bytes(jpeg[i + 2 : i + 4], "big")
        if marker != 0xE2 or jpeg[i + 4 : i + 8] != b"MPF\x00":
            out.append(jpeg[i : i + 2 + length])
        i += 2 + length
    out.append(jpeg[i:])
    return b"".join(out)


def _first_frame(data: bytes, img: Image.Image) -> bytes:
    """The bytes of an MPO's first picture as a JPEG of its own, EXIF included."""
    try:
        size = int(img.mpinfo[0xB002][0]["Size"])
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return data
    first = data[:size]
    if not (0 < size <= len(data) and first[:2] == b"\xff\xd8" and first[-2:] == b"\xff\xd9"):
        return data
    return _without_mp_index(first)


def _upright_rgb(img: Image.Image) -> Image.Image:
    """Pixels only, upright, in sRGB (a colour profile is applied, then dropped), as RGB or
    RGBA (L for a grey picture)."""
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # broken EXIF blocks are common and never fatal
        orientation = 1
    upright = ImageOps.exif_transpose(img) if orientation in range(2, 9) else img
    alpha = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    target = "RGBA" if alpha else ("L" if upright.mode in ("1", "L") else "RGB")
    icc = upright.info.get("icc_profile")
    converted = None
    if icc and upright.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            converted = ImageCms.profileToProfile(
                upright,
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                outputMode="RGBA" if alpha else "RGB",
            )
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            converted = None
    if converted is None:
        if upright.mode.startswith("I;16"):
            upright = upright.convert("I")
        if upright.mode == "I":  # 16-bit grey
            upright = upright.point(lambda v: v * (1 / 256)).convert("L")
        converted = upright if upright.mode == target else upright.convert(target)
    # A new image holds the pixels and nothing else: no EXIF, XMP, ICC profile or comment.
    clean = Image.new(converted.mode, converted.size)
    clean.paste(converted)
    return clean


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        (img if img.mode in ("RGB", "L") else img.convert("RGB")).save(
            buf, format="JPEG", quality=88
        )
    elif fmt == "WEBP":
        img.save(buf, format="WEBP", quality=88)
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


def _thumbnail(img: Image.Image) -> bytes:
    thumb = img.copy()
    thumb.thumbnail(THUMB_SIZE)
    if thumb.mode == "RGBA":
        flat = Image.new("RGB", thumb.size, (255, 255, 255))
        flat.paste(thumb, mask=thumb.getchannel("A"))
        thumb = flat
    buf = io.BytesIO()
    thumb.convert("RGB").save(buf, format="JPEG", quality=80)
    return buf.getvalue()


@dataclass
class _Header:
    """A photo whose header has passed every check, not decoded yet."""

    img: Image.Image
    name: str
    original: bytes
    width: int
    height: int
    gps: dict | None


def _inspect(data: bytes, name: str) -> _Header:
    refusal = _refusal(data)
    if refusal:
        raise PhotoError(refusal)
    limit = max_bytes()
    if len(data) > limit:
        raise PhotoError(
            gettext("照片“%(name)s”大小 %(mb)s MB，超过上限 %(mb2)s MB")
            % {"name": name, "mb": _mb(len(data)), "mb2": _mb(limit)}
        )
    if not data:
        raise PhotoError(gettext("照片“%(name)s”是空文件") % {"name": name})
    _unsupported_container(data, name)
    img = _open(data, name)
    if img.format not in ALLOWED_FORMATS:
        img.close()
        raise PhotoError(
            gettext("“%(name)s”的格式 %(format)s 不受支持（支持 %(SUPPORTED)s）")
            % {"name": name, "format": img.format, "SUPPORTED": SUPPORTED}
        )
    width, height = img.size
    try:
        _check_size(img, name)
    except PhotoError:
        img.close()
        raise
    original = _first_frame(data, img) if img.format == "MPO" else data
    return _Header(img, name, original, width, height, _gps(img))


def _decode(header: _Header) -> CheckedPhoto:
    fmt = header.img.format
    with _decoding, header.img as img:
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise PhotoError(
                gettext("照片“%(name)s”不完整或已损坏，无法识别") % {"name": header.name}
            ) from exc
        if max(img.size) > PUBLIC_SIDE:
            img.thumbnail((PUBLIC_SIDE, PUBLIC_SIDE))
        clean = _upright_rgb(img)
        public_data = _encode(clean, "JPEG" if fmt == "MPO" else fmt)
        thumbnail = _thumbnail(clean)
    return CheckedPhoto(
        data=header.original,
        name=header.name,
        content_type=ALLOWED_FORMATS[fmt],
        width=header.width,
        height=header.height,
        sha256=hashlib.sha256(header.original).hexdigest(),
        exif_gps=header.gps,
        public_data=public_data,
        thumbnail=thumbnail,
    )


def check_photo(data: bytes, name: str = "photo") -> CheckedPhoto:
    return _decode(_inspect(data, name))


def check_photos(photos, field: str = "photos") -> list[CheckedPhoto]:
    """Check every (name, bytes) pair; a bad one is an InvalidInput naming `photos[i]`, too
    many of them an InvalidInput naming `photos`. Every header is checked before any photo is
    decoded, so a bomb behind a good photo costs nothing either."""
    from gridcity.lib.errors import InvalidInput

    photos = list(photos)
    if len(photos) > max_count():
        raise InvalidInput(
            gettext("一次最多上传 %(max_count)s 张照片（收到 %(count)s 张）")
            % {"max_count": max_count(), "count": len(photos)},
            field=field,
        )
    headers = []
    try:
        for i, (name, data) in enumerate(photos):
            try:
                headers.append(_inspect(data, name or f"photo{i + 1}"))
            except PhotoError as exc:
                raise InvalidInput(str(exc), field=f"{field}[{i}]") from exc
        checked = []
        for i, header in enumerate(headers):
            try:
                checked.append(_decode(header))
            except PhotoError as exc:
                raise InvalidInput(str(exc), field=f"{field}[{i}]") from exc
        return checked
    finally:
        for header in headers:
            header.img.close()
