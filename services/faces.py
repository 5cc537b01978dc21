"""Detect, align and embed faces, and search the gallery of known faces.

dlib's HOG frontal face detector runs on a downscaled copy of the photo, and
dlib's 5-point landmarks are found on the full-size photo. dlib then cuts the
aligned 150 px face chip that the recognition model was trained on, and
deepface's Dlib model embeds that chip with its own detection skipped.
Comparing embeddings is a dot product, because every vector has unit length.

deepface imports TensorFlow, so it is imported lazily, in _recognition_model.
"""

import os
import shutil
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np
from flask_babel import lazy_gettext as _l
from PIL import Image

from services.errors import InputError

MODEL_NAME = "Dlib"
MODEL_VERSION = "dlib_face_recognition_resnet_model_v1"
DETECTOR = "dlib_hog_frontal"
VECTOR_SIZE = 128

# Detection runs on a copy whose long side is at most DETECT_SIDE pixels.
DETECT_SIDE = 1024
# dlib's HOG detector returned no box narrower than about 70 px in the image
# it was given, or 36 px after one upsampling (demo faces scaled down in steps).
MIN_DETECTABLE_PX = 70
MIN_FACE_PX = 60
# The largest face is used when it is this many times wider than the next one.
DOMINANT_FACE_RATIO = 1.5
CHIP_SIZE = 150
CHIP_PADDING = 0.25

# Bands on the cosine similarity of two embeddings, set with
# `benchmarks/bench_face_search.py --calibrate` on the 15 labelled demo photos
# of 6 people: same-person pairs scored 0.935 to 0.974, different-person pairs
# 0.741 to 0.886. LIKELY_MIN is above every different-person pair and equals
# deepface 0.0.103's own cosine threshold for Dlib (distance 0.07). REVIEW_MIN
# leaves a margin of 0.07 for older or degraded photos, where same-person
# scores fall, and puts 9 of the 91 different-person demo pairs up for review.
# NOTE: the demo set has no East Asian faces, no children and no age gaps.
# Recheck both values on the station's own confirmed matches.
LIKELY_MIN = 0.93
REVIEW_MIN = 0.86

BAND_LABELS = {
    "likely": _l("很可能是同一人"),
    "review": _l("需人工核对"),
    "unlikely": _l("可能性低"),
}

# deepface 0.0.103 looks for its weight files in $DEEPFACE_HOME/.deepface/weights
# under the same names the face_recognition_models package uses.
WEIGHT_FILES = (
    face_recognition_models.face_recognition_model_location(),
    face_recognition_models.pose_predictor_five_point_model_location(),
)

# dlib's DNN keeps its layer outputs inside the net object, so two threads
# embedding at once would overwrite each other's buffers. The HOG detector is
# serialised by the same lock. NOTE: whether dlib's detector is safe to call
# from several threads at once was not checked.
_dlib_lock = threading.Lock()


class FaceError(InputError):
    """A photo that cannot be searched, with a message for staff in Chinese.

    `code` is "no_face", "several_faces" or "face_too_small".
    """


@dataclass(frozen=True)
class Face:
    """A detected face box in pixels of the full-size photo.

    `score` is the HOG detector's confidence, above 0 for a detection.
    """

    left: int
    top: int
    right: int
    bottom: int
    score: float = 0.0

    @property
    def width(self):
        return self.right - self.left

    @property
    def height(self):
        return self.bottom - self.top

    @property
    def area(self):
        return self.width * self.height


@dataclass(frozen=True)
class FaceVector:
    """A unit-length float32 embedding, the face it came from and its model."""

    vector: np.ndarray
    face: Face
    model: str = MODEL_VERSION


def ensure_weights(home: str | os.PathLike) -> Path:
    """Link the model files from face_recognition_models into deepface's folder.

    Sets DEEPFACE_HOME to `home`. Call it before deepface.DeepFace is imported,
    because that module creates its folders at import time. Copies a file when
    the file system does not support symbolic links. Returns the folder.
    """
    weights = Path(home) / ".deepface" / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    for source in map(Path, WEIGHT_FILES):
        target = weights / source.name
        if target.exists() and target.stat().st_size == source.stat().st_size:
            continue
        target.unlink(missing_ok=True)
        try:
            target.symlink_to(source)
        except OSError:
            shutil.copyfile(source, target)
    os.environ["DEEPFACE_HOME"] = str(home)
    return weights


def detect(
    image: Image.Image, side: int = DETECT_SIDE, upsample: int | None = None
) -> list["Face"]:
    """Find faces in a PIL image and return them largest first.

    Detection runs on a copy scaled down to `side` pixels, and the boxes are
    mapped back to `image` pixels. With `upsample` None, a second pass with
    the copy upsampled once runs when the first found no face, or when a face
    of similar size to the largest could have been too small to detect. An
    integer runs one pass with that many upsamplings.
    """
    small = _downscale(image, side)
    pixels = np.asarray(small)
    scale = image.width / small.width

    if upsample is not None:
        faces = _run_detector(pixels, upsample)
    else:
        faces = _run_detector(pixels, 0)
        if not faces or faces[0].width < MIN_DETECTABLE_PX * DOMINANT_FACE_RATIO:
            faces = _run_detector(pixels, 1)
    return [_scale_face(face, scale) for face in faces]


def choose_face(faces: list["Face"]) -> "Face":
    """Return the face to embed, or raise FaceError when there is none or no
    clearly largest one."""
    if not faces:
        raise FaceError(
            "no_face",
            _l(
                "未检测到人脸。请上传正脸、清晰、光线充足的照片；"
                "若人脸在照片中很小，请先裁剪到人脸附近再上传。"
            ),
        )
    largest = max(faces, key=lambda face: face.area)
    others = [face for face in faces if face is not largest]
    if any(largest.width < face.width * DOMINANT_FACE_RATIO for face in others):
        raise FaceError(
            "several_faces",
            _l(
                "检测到多张人脸（%(count)d 张），请裁剪为只含一人的照片后再上传。",
                count=len(faces),
            ),
        )
    return largest


def embed(image: Image.Image, face: "Face | None" = None) -> "FaceVector":
    """Embed one face of a PIL image and return its FaceVector.

    Uses `face` when given, otherwise the face choose_face picks from detect.
    Raises FaceError when there is no usable face or it is under MIN_FACE_PX.
    """
    if face is None:
        face = choose_face(detect(image))
    size = min(face.width, face.height)
    if size < MIN_FACE_PX:
        raise FaceError(
            "face_too_small",
            _l(
                "人脸太小（约 %(size)d 像素宽），至少需要 %(minimum)d 像素。"
                "请使用人脸更大、更清晰的照片，或靠近后重新拍摄。",
                size=size,
                minimum=MIN_FACE_PX,
            ),
        )
    chip = face_chip(image, face)
    return FaceVector(vector=embed_chip(chip), face=face)


def face_chip(
    image: Image.Image,
    face: "Face",
    size: int = CHIP_SIZE,
    padding: float = CHIP_PADDING,
) -> np.ndarray:
    """Cut the aligned face chip: eyes level, scaled to `size` pixels.

    Landmarks and the chip come from a crop around the face, so a 12 MP photo
    is never copied into a numpy array whole.
    """
    margin = max(face.width, face.height)
    crop_box = (
        max(face.left - margin, 0),
        max(face.top - margin, 0),
        min(face.right + margin, image.width),
        min(face.bottom + margin, image.height),
    )
    pixels = np.asarray(image.crop(crop_box).convert("RGB"))
    box = dlib.rectangle(
        face.left - crop_box[0],
        face.top - crop_box[1],
        face.right - crop_box[0],
        face.bottom - crop_box[1],
    )
    landmarks = _shape_predictor()(pixels, box)
    return dlib.get_face_chip(pixels, landmarks, size=size, padding=padding)


def embed_chip(chip: np.ndarray) -> np.ndarray:
    """Embed an RGB face chip with deepface's Dlib model and return a unit
    vector."""
    model = _recognition_model()
    # deepface's forward takes BGR, like OpenCV.
    batch = np.ascontiguousarray(chip[np.newaxis, :, :, ::-1])
    with _dlib_lock:
        values = model.forward(batch)
    return normalise_vector(values)


def normalise_vector(values) -> np.ndarray:
    """Return `values` as a float32 unit vector, or raise ValueError unless
    there are VECTOR_SIZE of them."""
    vector = np.asarray(values, dtype=np.float32).reshape(-1)
    if vector.shape != (VECTOR_SIZE,):
        raise ValueError(f"expected {VECTOR_SIZE} values, got {vector.size}")
    return vector / np.linalg.norm(vector)


def similarity(first: np.ndarray, second: np.ndarray) -> float:
    """Return the cosine similarity of two unit vectors."""
    return float(np.dot(first, second))


def band(similarity: float) -> str:
    """Return "likely", "review" or "unlikely" for a cosine similarity."""
    if similarity >= LIKELY_MIN:
        return "likely"
    if similarity >= REVIEW_MIN:
        return "review"
    return "unlikely"


def vector_to_bytes(vector: np.ndarray) -> bytes:
    """Return the 512-byte little-endian float32 form stored in the database."""
    values = np.asarray(vector, dtype="<f4")
    if values.shape != (VECTOR_SIZE,):
        raise ValueError(f"expected {VECTOR_SIZE} values, got shape {values.shape}")
    return values.tobytes()


def vector_from_bytes(data: bytes) -> np.ndarray:
    if len(data) != VECTOR_SIZE * 4:
        raise ValueError(f"expected {VECTOR_SIZE * 4} bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


@cache
def _detector():
    return dlib.get_frontal_face_detector()


@cache
def _shape_predictor():
    return dlib.shape_predictor(
        face_recognition_models.pose_predictor_five_point_model_location()
    )


@cache
def _recognition_model():
    """Load deepface's Dlib model once per process, without TensorFlow.

    DeepFace.represent(model_name="Dlib", detector_backend="skip") returns the
    same vector for a chip. But importing deepface.DeepFace loads TensorFlow,
    which took 5 s and 550 MB more memory on a 2-core machine, and the call was
    no faster than DlibClient.forward (`bench_face_search.py --compare`).
    """
    weights = _deepface_weights_folder() / Path(WEIGHT_FILES[0]).name
    if not weights.exists():
        raise RuntimeError(
            f"{weights} not found: call services.faces.ensure_weights() first, "
            "since deepface would try to download it"
        )
    from deepface.models.facial_recognition.dlib.Dlib import DlibClient

    return DlibClient()


def _deepface_weights_folder():
    home = os.environ.get("DEEPFACE_HOME", os.path.expanduser("~"))
    return Path(home) / ".deepface" / "weights"


def _downscale(image, side):
    if image.mode != "RGB":
        image = image.convert("RGB")
    ratio = side / max(image.size)
    if ratio >= 1:
        return image
    size = (max(round(image.width * ratio), 1), max(round(image.height * ratio), 1))
    # reducing_gap=1.0 box-averages by the whole part of the factor first, which
    # halves the time of a 12 MP resize and is fine for the HOG features.
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=1.0)


def _run_detector(pixels, upsample):
    with _dlib_lock:
        boxes, scores, _ = _detector().run(pixels, upsample, 0.0)
    faces = [
        Face(box.left(), box.top(), box.right(), box.bottom(), float(score))
        for box, score in zip(boxes, scores, strict=True)
    ]
    return sorted(faces, key=lambda face: face.area, reverse=True)


def _scale_face(face, scale):
    return Face(
        left=round(face.left * scale),
        top=round(face.top * scale),
        right=round(face.right * scale),
        bottom=round(face.bottom * scale),
        score=face.score,
    )


class Gallery:
    """Gallery embeddings held as one float32 matrix, searched exactly.

    Several vectors may share an id, such as the photos of one missing-person
    report. Vectors must be unit length, as embed returns them. A search takes
    a snapshot of the rows, so one that runs while another thread changes the
    gallery reads either the old or the new contents, never a mix.
    """

    def __init__(self, ids=(), vectors=()):
        self._lock = threading.Lock()
        self._publish(np.empty((0, VECTOR_SIZE), dtype=np.float32), [], 0)
        if len(ids):
            self.replace(ids, vectors)

    def __len__(self):
        return self._count

    def replace(self, ids, vectors) -> None:
        """Replace the whole gallery, for example after loading it from the
        database."""
        ids = list(ids)
        rows = np.array(vectors, dtype=np.float32, ndmin=2)
        if len(ids) == 0:
            rows = np.empty((0, VECTOR_SIZE), dtype=np.float32)
        if rows.shape != (len(ids), VECTOR_SIZE):
            raise ValueError(
                f"expected {len(ids)} vectors of {VECTOR_SIZE} values, "
                f"got shape {rows.shape}"
            )
        with self._lock:
            self._publish(rows, ids, len(ids))

    def add(self, id, vector: np.ndarray) -> None:
        row = np.asarray(vector, dtype=np.float32)
        if row.shape != (VECTOR_SIZE,):
            raise ValueError(f"expected {VECTOR_SIZE} values, got shape {row.shape}")
        with self._lock:
            count = self._count
            rows, ids = self._rows, self._ids
            if count == len(rows):
                # Grow into new arrays: running searches keep the old ones.
                rows = np.empty((max(2 * count, 64), VECTOR_SIZE), dtype=np.float32)
                rows[:count] = self._rows[:count]
                ids = self._ids[:count]
            # Rows past `count` are outside every snapshot taken so far.
            rows[count] = row
            ids.append(id)
            self._publish(rows, ids, count + 1)

    def remove(self, id) -> int:
        """Remove every vector stored under `id`; return how many there were."""
        with self._lock:
            ids = self._ids[: self._count]
            keep = [index for index, value in enumerate(ids) if value != id]
            removed = len(ids) - len(keep)
            if removed:
                rows = self._rows[keep]
                self._publish(rows, [ids[index] for index in keep], len(keep))
            return removed

    def search(self, vector: np.ndarray, k: int = 10) -> list[tuple]:
        """Return up to `k` (id, similarity) pairs, most similar first.

        Each id appears once, with the best similarity of its vectors.
        """
        rows, ids = self._snapshot
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (VECTOR_SIZE,):
            raise ValueError(f"expected {VECTOR_SIZE} values, got shape {query.shape}")
        if k <= 0 or len(rows) == 0:
            return []

        similarities = rows @ query
        candidates = k
        while True:
            best = _best_ids(similarities, ids, candidates, k)
            # Fewer than k distinct ids among the top rows: look further down.
            if len(best) == k or candidates >= len(rows):
                return best
            candidates *= 2

    def _publish(self, rows, ids, count):
        self._rows, self._ids, self._count = rows, ids, count
        self._snapshot = (rows[:count], ids)


def _best_ids(similarities, ids, candidates, k):
    """Return the first `k` distinct ids among the `candidates` top rows."""
    if candidates < len(similarities):
        top = np.argpartition(-similarities, candidates - 1)[:candidates]
    else:
        top = np.arange(len(similarities))
    top = top[np.argsort(-similarities[top], kind="stable")]

    best = {}
    for index in top:
        best.setdefault(ids[index], float(similarities[index]))
        if len(best) == k:
            break
    return list(best.items())
