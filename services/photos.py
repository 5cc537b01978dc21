"""Check and normalise uploaded photos.

Every upload goes through normalise(). The format is decided by the file's
content, never by its name, and the stored copy is an upright RGB JPEG with no
metadata, so no EXIF block, GPS position or camera serial number is kept.
"""

import hashlib
import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import PurePath

import filetype
import numpy as np
import pillow_heif
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from services.errors import InputError

pillow_heif.register_heif_opener()

MAX_BYTES = 20 * 1024 * 1024
# 80 megapixels accepts the 48-64 MP photos of current phones and stays below
# Pillow's own decompression bomb warning (Image.MAX_IMAGE_PIXELS, 89.5 MP).
MAX_PIXELS = 80_000_000
MAX_SIDE = 4096
JPEG_QUALITY = 90
THUMBNAIL_SIDE = 320
THUMBNAIL_QUALITY = 80

# Pillow format names. pillow-heif registers both HEIC and HEIF files as "HEIF".
# Passing this list to Image.open also keeps Pillow from trying plugins such as
# EPS, which would run Ghostscript on the upload.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")

# Pillow raises these for damaged or truncated files, depending on the plugin.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)

SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
WHITE = (255, 255, 255)


class PhotoError(InputError):
    """A rejected upload, with a message for staff in Simplified Chinese.

    `code` is a stable English key for tests and logs: "empty", "too_large",
    "unsupported_format", "too_many_pixels" or "corrupt".
    """


@dataclass(frozen=True)
class NormalisedPhoto:
    image: Image.Image
    jpeg: bytes
    width: int
    height: int
    sha256: str


def normalise(
    data: bytes,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_side: int = MAX_SIDE,
) -> NormalisedPhoto:
    """Decode an uploaded photo and re-encode it as a JPEG without metadata.

    Applies the EXIF orientation, converts to RGB in the sRGB colour space
    (transparency on white), and scales the long side down to `max_side`.
    Raises PhotoError when the file is empty, over `max_bytes`, not
    JPEG/PNG/WebP/HEIC, over `max_pixels` (checked from the header, before
    decoding) or damaged.
    """
    _check_size(data, max_bytes)
    image = _open(data, max_pixels)
    _check_pixels(image, max_pixels)
    image = _decode(image, max_side)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)

    jpeg = _encode_jpeg(image, JPEG_QUALITY)
    return NormalisedPhoto(
        image=image,
        jpeg=jpeg,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(jpeg).hexdigest(),
    )


def thumbnail(image: Image.Image, side: int = THUMBNAIL_SIDE) -> bytes:
    """Return JPEG bytes of `image` scaled to fit a `side` x `side` box."""
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    return _encode_jpeg(small, THUMBNAIL_QUALITY)


def mask_path(path: str | os.PathLike) -> str:
    """Return a stand-in for a photo path that is safe to write to logs.

    File names may carry a person's name, so only the suffix is kept, with a
    digest of the whole path that lets an administrator match log lines to a
    file.
    """
    path = str(path)
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()
    return f".../{digest[:12]}{PurePath(path).suffix.lower()}"


def _check_size(data, max_bytes):
    if not data:
        raise PhotoError("empty", _l("文件为空，请重新选择照片上传。"))
    if len(data) > max_bytes:
        raise PhotoError(
            "too_large",
            _l(
                "照片文件过大（%(size).1f MB），上限为 %(limit).1f MB。"
                "请压缩或用手机“小尺寸”重新导出后再上传。",
                size=len(data) / 1024 / 1024,
                limit=max_bytes / 1024 / 1024,
            ),
        )


def _open(data, max_pixels):
    """Open the image header, accepting only ACCEPTED_FORMATS by content."""
    try:
        with warnings.catch_warnings():
            # MAX_PIXELS applies instead, in _check_pixels.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as error:
        raise _too_many_pixels_error(max_pixels) from error
    except UnidentifiedImageError as error:
        raise _unsupported_format_error(data) from error
    except DECODE_ERRORS as error:
        raise _corrupt_error() from error


def _unsupported_format_error(data):
    kind = filetype.guess(data)
    if kind is None:
        message = _l(
            "无法识别的文件内容，不是照片。"
            "仅支持 JPEG、PNG、WebP 和 HEIC/HEIF 格式，请重新选择照片。"
        )
    else:
        message = _l(
            "不支持的文件格式（%(format)s）。"
            "仅支持 JPEG、PNG、WebP 和 HEIC/HEIF 格式，请转换后再上传。",
            format=kind.extension.upper(),
        )
    return PhotoError("unsupported_format", message)


def _check_pixels(image, max_pixels):
    if image.width * image.height <= max_pixels:
        return
    raise PhotoError(
        "too_many_pixels",
        _l(
            "照片尺寸为 %(width)d×%(height)d 像素，超过上限 %(limit)d 万像素。"
            "请缩小尺寸后再上传。",
            width=image.width,
            height=image.height,
            limit=max_pixels // 10_000,
        ),
    )


def _too_many_pixels_error(max_pixels):
    return PhotoError(
        "too_many_pixels",
        _l(
            "照片像素数超过上限 %(limit)d 万像素。请缩小尺寸后再上传。",
            limit=max_pixels // 10_000,
        ),
    )


def _corrupt_error():
    return PhotoError(
        "corrupt",
        _l("照片文件已损坏或不完整，无法读取。请从原设备重新导出或重新拍摄后上传。"),
    )


def _decode(image, max_side):
    """Decode pixels and return an upright sRGB image in mode RGB."""
    if image.format == "JPEG":
        _request_reduced_decoding(image, max_side)
    try:
        image.load()
        icc_profile = image.info.get("icc_profile")
        ImageOps.exif_transpose(image, in_place=True)
        rgb = _to_rgb(image, icc_profile)
    except DECODE_ERRORS as error:
        raise _corrupt_error() from error
    # Drop the EXIF and ICC blocks, which a later save to PNG or WebP would copy.
    rgb.info = {}
    return rgb


def _request_reduced_decoding(image, max_side):
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result still fits.

    Image.draft picks the smallest scale whose result is at least the requested
    size, so the later resize to `max_side` loses no detail.
    """
    long_side = max(image.size)
    if long_side <= max_side * 2:
        return
    ratio = max_side / long_side
    target = (math.ceil(image.width * ratio), math.ceil(image.height * ratio))
    image.draft(image.mode, target)


def _to_rgb(image, icc_profile):
    if image.mode.startswith("I"):
        image = _to_8_bit(image)
    if image.mode in ("P", "L") and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _composite_on_white(image)
    if icc_profile and image.mode in ("RGB", "CMYK"):
        return _to_srgb(image, icc_profile)
    if image.mode == "RGB":
        return image
    return image.convert("RGB")


def _to_8_bit(image):
    """Scale 16- or 32-bit grayscale to 8 bits. Image.convert clips it at 255
    instead (Pillow 13)."""
    pixels = np.asarray(image)
    top = 65535 if pixels.max() > 255 else 255
    scaled = (pixels.astype(np.float32) * (255 / top)).round().astype(np.uint8)
    return Image.fromarray(scaled, "L")


def _composite_on_white(image):
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_srgb(image, icc_profile):
    """Convert from the embedded colour profile, which is not stored, to sRGB.

    Keeps the pixel values unchanged when the profile cannot be read.
    """
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        if image.mode == "RGB" and _is_srgb(source):
            return image
        return ImageCms.profileToProfile(image, source, SRGB_PROFILE, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image.convert("RGB")


def _is_srgb(profile):
    description = ImageCms.getProfileDescription(profile) or ""
    return description.strip().lower().startswith("srgb")


def _encode_jpeg(image, quality):
    """Encode as JPEG. Pillow writes no EXIF or ICC block unless it is passed."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
