import hashlib
import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image, ImageCms

from services import photos

RED = (255, 0, 0)
GREEN = (0, 200, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def encode(image, image_format, **params):
    buffer = io.BytesIO()
    image.save(buffer, image_format, **params)
    return buffer.getvalue()


def two_halves(left, right, size=(200, 100), mode="RGB"):
    """Return an image whose left half is `left` and right half is `right`."""
    image = Image.new(mode, size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def png_header(width, height):
    """Return a PNG with a valid header for `width` x `height` and no pixels."""

    def chunk(kind, body):
        checksum = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + checksum

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def assert_close(actual, expected, tolerance=12):
    for channel, (got, wanted) in enumerate(zip(actual, expected, strict=True)):
        assert abs(got - wanted) <= tolerance, (channel, actual, expected)


def test_text_named_jpg_rejected(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_text("这不是照片, just text in a file named .jpg")

    with pytest.raises(photos.PhotoError) as caught:
        photos.normalise(path.read_bytes())

    assert caught.value.code == "unsupported_format"
    assert "JPEG、PNG、WebP 和 HEIC/HEIF" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (b"%PDF-1.4\n1 0 obj << >> endobj\n" + b"0" * 64, "PDF"),
        (encode(Image.new("RGB", (8, 8), RED), "GIF"), "GIF"),
        (encode(Image.new("RGB", (8, 8), RED), "BMP"), "BMP"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>', None),
    ],
    ids=["pdf", "gif", "bmp", "svg"],
)
def test_other_formats_rejected(data, detected):
    with pytest.raises(photos.PhotoError) as caught:
        photos.normalise(data)

    assert caught.value.code == "unsupported_format"
    assert "HEIC/HEIF" in str(caught.value)
    if detected:
        assert detected in str(caught.value)


def test_empty_file_rejected():
    with pytest.raises(photos.PhotoError) as caught:
        photos.normalise(b"")

    assert caught.value.code == "empty"


def test_file_over_byte_limit_rejected():
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "PNG")

    with pytest.raises(photos.PhotoError) as caught:
        photos.normalise(data, max_bytes=len(data) - 1)

    assert caught.value.code == "too_large"
    assert "MB" in str(caught.value)


@pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
def test_truncated_file_rejected(image_format):
    noise = Image.effect_noise((256, 256), 60).convert("RGB")
    data = encode(noise, image_format)

    with pytest.raises(photos.PhotoError) as caught:
        photos.normalise(data[: len(data) // 2])

    assert caught.value.code == "corrupt"


def test_pixel_limit_checked_from_header():
    # The PNG has no pixel data, so decoding it would fail as "corrupt".
    with pytest.raises(photos.PhotoError) as caught:
        photos.normalise(png_header(9000, 9000))

    assert caught.value.code == "too_many_pixels"
    assert "9000×9000" in str(caught.value)


def test_decompression_bomb_rejected():
    with pytest.raises(photos.PhotoError) as caught:
        photos.normalise(png_header(20000, 20000))

    assert caught.value.code == "too_many_pixels"


def test_pixel_limit_parameter():
    data = encode(Image.new("RGB", (100, 100), RED), "PNG")

    with pytest.raises(photos.PhotoError) as caught:
        photos.normalise(data, max_pixels=9999)

    assert caught.value.code == "too_many_pixels"


def test_jpeg_result_matches_fields():
    data = encode(Image.new("RGB", (120, 80), GREEN), "PNG")

    result = photos.normalise(data)
    decoded = Image.open(io.BytesIO(result.jpeg))

    assert decoded.format == "JPEG"
    assert decoded.size == (120, 80)
    assert (result.width, result.height) == (120, 80)
    assert result.image.mode == "RGB"
    assert result.sha256 == hashlib.sha256(result.jpeg).hexdigest()


def test_exif_orientation_applied_and_metadata_removed():
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored rotated: turn 90° clockwise
    exif[ExifTags.Base.Make] = "TestPhoneMaker"
    exif[ExifTags.Base.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (23.0, 7.0, 30.0),
    }
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(two_halves(RED, BLUE), "JPEG", exif=exif, icc_profile=srgb)
    uploaded = Image.open(io.BytesIO(data))
    assert uploaded.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "icc_profile" in uploaded.info

    result = photos.normalise(data)
    stored = Image.open(io.BytesIO(result.jpeg))

    assert (result.width, result.height) == (100, 200)
    assert_close(result.image.getpixel((50, 10)), RED, tolerance=40)
    assert_close(result.image.getpixel((50, 190)), BLUE, tolerance=40)
    assert len(stored.getexif()) == 0
    assert not stored.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "exif" not in stored.info
    assert "icc_profile" not in stored.info
    assert b"TestPhoneMaker" not in result.jpeg
    assert result.image.info == {}


def test_png_transparency_on_white():
    image = two_halves((0, 0, 255, 255), (0, 0, 255, 0), mode="RGBA")

    result = photos.normalise(encode(image, "PNG"))

    assert result.image.mode == "RGB"
    assert result.image.getpixel((10, 50)) == BLUE
    assert result.image.getpixel((190, 50)) == WHITE


def test_webp_transparency_on_white():
    image = two_halves((0, 0, 255, 255), (0, 0, 255, 0), mode="RGBA")

    result = photos.normalise(encode(image, "WEBP", lossless=True))

    assert result.image.getpixel((10, 50)) == BLUE
    assert result.image.getpixel((190, 50)) == WHITE


def test_palette_transparency_on_white():
    image = Image.new("P", (200, 100), 0)
    image.putpalette([*RED, *GREEN] + [0] * 762)
    image.paste(1, (100, 0, 200, 100))

    result = photos.normalise(encode(image, "PNG", transparency=0))

    assert result.image.getpixel((10, 50)) == WHITE
    assert result.image.getpixel((190, 50)) == GREEN


def test_grayscale_converted_to_rgb():
    result = photos.normalise(encode(Image.new("L", (64, 64), 77), "PNG"))

    assert result.image.mode == "RGB"
    assert result.image.getpixel((5, 5)) == (77, 77, 77)


def test_16_bit_grayscale_scaled():
    result = photos.normalise(encode(Image.new("I;16", (64, 64), 40000), "PNG"))

    assert result.image.getpixel((5, 5)) == (156, 156, 156)


def test_cmyk_jpeg_converted_to_rgb():
    cmyk_red = Image.new("CMYK", (64, 64), (0, 255, 255, 0))

    result = photos.normalise(encode(cmyk_red, "JPEG"))

    assert result.image.mode == "RGB"
    assert_close(result.image.getpixel((30, 30)), RED, tolerance=20)


def test_heic_accepted():
    data = encode(Image.new("RGB", (64, 64), GREEN), "HEIF", quality=90)

    result = photos.normalise(data)

    assert (result.width, result.height) == (64, 64)
    assert_close(result.image.getpixel((30, 30)), GREEN)


def test_long_side_capped():
    data = encode(Image.new("RGB", (3000, 1000), GREEN), "PNG")

    result = photos.normalise(data, max_side=1000)

    assert (result.width, result.height) == (1000, 333)


def test_large_jpeg_reduced_to_exact_cap():
    # 4100 px is over twice the cap, so libjpeg decodes at a reduced scale.
    data = encode(two_halves(RED, BLUE, size=(4100, 2050)), "JPEG")

    result = photos.normalise(data, max_side=1000)

    assert (result.width, result.height) == (1000, 500)
    assert_close(result.image.getpixel((100, 250)), RED, tolerance=40)
    assert_close(result.image.getpixel((900, 250)), BLUE, tolerance=40)


def test_thumbnail_fits_box():
    image = Image.new("RGB", (1200, 900), GREEN)

    small = Image.open(io.BytesIO(photos.thumbnail(image, side=320)))

    assert small.format == "JPEG"
    assert small.size == (320, 240)
    assert image.size == (1200, 900)


def test_mask_path_hides_name_and_folders():
    path = "/srv/tuanyuan/photos/ab/张三-report-42.JPG"

    masked = photos.mask_path(path)

    assert "张三" not in masked
    assert "tuanyuan" not in masked
    assert masked.endswith(".jpg")
    assert masked == photos.mask_path(path)
    assert masked != photos.mask_path("/srv/tuanyuan/photos/ab/other.jpg")
