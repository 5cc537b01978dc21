"""Measure whether a detected face is good enough to search with.

The measures are taken on dlib's aligned face chip and its 5 landmarks, so
they do not depend on the size of the photo:

- size: the shorter side of the detector's box, in pixels of the photo;
- brightness: the mean grey level (0-255) of the middle of the chip;
- sharpness: the variance of the Laplacian of the middle of the chip, after
  its brightness is scaled to EXPOSURE_TARGET, so that a dark photo is not
  also counted as blurred;
- turn: how far the nose lies from the midpoint of the eyes, along the line
  through the eyes, in eye distances. It is near 0 for a frontal face and
  grows with the head's left-right rotation.

The limits belong to a model and detector, so they are stored with the band
thresholds in services.faces.CALIBRATIONS.
"""

from dataclasses import dataclass

import numpy as np
from flask_babel import lazy_gettext as _l

# The chip's middle square, where the face is: with dlib's padding of 0.25 the
# face spans about the middle two thirds of a 150 px chip.
CENTRE = slice(25, 125)
# Exposure normalisation scales the chip so that its middle has this mean grey
# level, with a gain of at most MAX_GAIN.
EXPOSURE_TARGET = 128.0
MAX_GAIN = 8.0
# ITU-R BT.601 luma weights.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

BLURRED = "face_blurred"
TOO_DARK = "face_too_dark"
TURNED = "face_turned"
TOO_SMALL = "face_too_small"

# Shown beside a search result whose photo passed the limits only narrowly.
WARNINGS = {
    BLURRED: _l("照片略模糊，比对结果仅供参考，建议补拍清晰正脸照。"),
    TOO_DARK: _l("照片偏暗，比对结果仅供参考，建议在光线充足处补拍。"),
    TURNED: _l("人脸略有偏转，比对结果仅供参考，建议补拍正脸照。"),
}


@dataclass(frozen=True)
class QualityLimits:
    """Rejection limits, and the stricter levels below which a face is only
    flagged with a warning."""

    min_face_px: int
    min_sharpness: float
    warn_sharpness: float
    min_brightness: float
    warn_brightness: float
    max_turn: float
    warn_turn: float


@dataclass(frozen=True)
class FaceQuality:
    """The measures described in the module docstring, for one face."""

    size: int
    brightness: float
    sharpness: float
    turn: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejection:
    """Why a face cannot be searched: a FaceError code and its message."""

    code: str
    message: str


def exposure_gain(chip: np.ndarray) -> float:
    """Return the factor that brings the middle of an RGB chip to
    EXPOSURE_TARGET, at most MAX_GAIN."""
    brightness = float(_grey(chip)[CENTRE, CENTRE].mean())
    return min(EXPOSURE_TARGET / max(brightness, 1.0), MAX_GAIN)


def normalise_exposure(chip: np.ndarray) -> np.ndarray:
    """Scale an RGB uint8 chip by exposure_gain, clipping at 255.

    On demo photos darkened to 12% of their brightness, this raised the median
    similarity of each photo to its undarkened copy from 0.974 to 0.993, and it
    left the similarities between undarkened photos within 0.002.
    """
    scaled = chip.astype(np.float32) * exposure_gain(chip)
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def measure(chip: np.ndarray, landmarks: np.ndarray, size: int) -> FaceQuality:
    """Measure an RGB uint8 chip and its 5 dlib landmarks.

    `landmarks` are (x, y) rows in any pixel frame. `size` is the shorter side
    of the face box in pixels.
    """
    grey = _grey(chip)[CENTRE, CENTRE]
    brightness = float(grey.mean())
    gain = min(EXPOSURE_TARGET / max(brightness, 1.0), MAX_GAIN)
    return FaceQuality(
        size=int(size),
        brightness=brightness,
        sharpness=laplacian_variance(grey * gain),
        turn=turn(landmarks),
    )


def laplacian_variance(grey: np.ndarray) -> float:
    """Return the variance of the 4-neighbour Laplacian of a 2-D array."""
    laplacian = (
        grey[:-2, 1:-1]
        + grey[2:, 1:-1]
        + grey[1:-1, :-2]
        + grey[1:-1, 2:]
        - 4 * grey[1:-1, 1:-1]
    )
    return float(laplacian.var())


def turn(landmarks: np.ndarray) -> float:
    """Return the nose's offset from the eyes' midpoint along the eye line,
    in eye distances, signed (positive towards the image's right).

    dlib's 5-point model orders its points as the outer and inner corner of
    the eye on the image's right, the same for the eye on the image's left,
    then the base of the nose.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    right_eye = points[0:2].mean(axis=0)
    left_eye = points[2:4].mean(axis=0)
    axis = right_eye - left_eye
    distance = float(np.hypot(*axis))
    if distance == 0:
        return float("inf")
    midpoint = (right_eye + left_eye) / 2
    return float((points[4] - midpoint) @ axis / distance**2)


def judge(
    quality: FaceQuality, limits: QualityLimits
) -> tuple[Rejection | None, FaceQuality]:
    """Check `quality` against `limits`.

    Returns the first failed limit as a Rejection (size, then brightness,
    sharpness and turn), or None, and `quality` with its warnings filled in.
    """
    rejection = _first_rejection(quality, limits)
    warnings = []
    if quality.brightness < limits.warn_brightness:
        warnings.append(TOO_DARK)
    if quality.sharpness < limits.warn_sharpness:
        warnings.append(BLURRED)
    if abs(quality.turn) > limits.warn_turn:
        warnings.append(TURNED)
    flagged = FaceQuality(
        size=quality.size,
        brightness=quality.brightness,
        sharpness=quality.sharpness,
        turn=quality.turn,
        warnings=tuple(warnings),
    )
    return rejection, flagged


def _first_rejection(quality, limits):
    if quality.size < limits.min_face_px:
        message = _l(
            "人脸太小（约 %(size)d 像素宽），至少需要 %(minimum)d 像素。"
            "请使用人脸更大、更清晰的照片，或靠近后重新拍摄。",
            size=quality.size,
            minimum=limits.min_face_px,
        )
        return Rejection(TOO_SMALL, message)
    # Brightness comes before sharpness because the gain that evens out a dark
    # chip also scales up its noise, which inflates the sharpness figure.
    if quality.brightness < limits.min_brightness:
        message = _l(
            "人脸过暗（亮度 %(value).1f，至少需要 %(minimum).0f）。"
            "请在光线充足处重新拍摄，避免逆光，或换一张更亮的照片。",
            value=quality.brightness,
            minimum=limits.min_brightness,
        )
        return Rejection(TOO_DARK, message)
    if quality.sharpness < limits.min_sharpness:
        message = _l(
            "人脸模糊（清晰度 %(value).1f，至少需要 %(minimum).0f）。"
            "请对焦后重新拍摄，拍摄时保持手机稳定，或换一张更清晰的照片。",
            value=quality.sharpness,
            minimum=limits.min_sharpness,
        )
        return Rejection(BLURRED, message)
    if abs(quality.turn) > limits.max_turn:
        message = _l(
            "人脸偏转角度过大（偏转 %(value).2f，上限 %(maximum).2f）。"
            "请让被拍摄者正对镜头后重新拍摄，或换一张正脸照片。",
            value=abs(quality.turn),
            maximum=limits.max_turn,
        )
        return Rejection(TURNED, message)
    return None


def _grey(chip):
    return np.asarray(chip, dtype=np.float32) @ LUMA
