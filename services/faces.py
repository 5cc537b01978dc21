"""Detect, align and embed faces, and search the gallery of known faces.

dlib's HOG frontal face detector runs on a downscaled copy of the photo, and
dlib's 5-point landmarks are found on the full-size photo. dlib then cuts the
aligned 150 px face chip that the recognition model was trained on. The chip's
size, brightness, sharpness and turn are checked (services.face_quality), its
brightness is evened out, and deepface's Dlib model embeds it with its own
detection skipped. Comparing embeddings is a dot product, because every
vector has unit length.

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

from services import face_quality
from services.errors import InputError
from services.face_quality import FaceQuality, QualityLimits

MODEL_NAME = "Dlib"
MODEL_VERSION = "dlib_face_recognition_resnet_model_v1"
DETECTOR = "dlib_hog_frontal"
VECTOR_SIZE = 128

# Detection runs on a copy whose long side is at most DETECT_SIDE pixels.
DETECT_SIDE = 1024
# dlib's HOG detector returned no box narrower than about 70 px in the image
# it was given, or 36 px after one upsampling (demo faces scaled down in steps).
MIN_DETECTABLE_PX = 70
# The largest usable face is used when it is this many times wider than the
# next usable one.
DOMINANT_FACE_RATIO = 1.5
CHIP_SIZE = 150
CHIP_PADDING = 0.25


@dataclass(frozen=True)
class Calibration:
    """Thresholds measured for one model, detector and chip.

    `likely_min` and `review_min` are the lower bounds of the "likely" and
    "review" bands of cosine similarity; `quality` contains the limits of a
    usable face. `method` names the scripts that measured them.
    """

    likely_min: float
    review_min: float
    quality: QualityLimits
    method: str


# Keyed by (MODEL_NAME, MODEL_VERSION, DETECTOR): a new model or detector
# needs its own entry, measured as docs/faces.md describes.
CALIBRATIONS = {
    ("Dlib", "dlib_face_recognition_resnet_model_v1", "dlib_hog_frontal"): (
        Calibration(
            # demo/faces, 15 photos of 6 people: same-person pairs scored 0.933
            # to 0.973, different-person pairs 0.742 to 0.887. likely_min is
            # above every different-person pair and equals deepface 0.0.103's
            # cosine threshold for Dlib (distance 0.07). review_min leaves 0.07
            # for older or degraded photos and puts 10 of the 91
            # different-person demo pairs up for review.
            likely_min=0.93,
            review_min=0.86,
            quality=QualityLimits(
                # A chip cut from a face under 60 px is mostly upscaling, and
                # the detector finds none under about 36 px.
                min_face_px=60,
                # Demo photos: undegraded ones measured sharpness 78 or more.
                # Blur of 2% of the face width gave 2.6 to 7.2 and moved the
                # vectors to a median similarity of 0.972 with the originals;
                # 1% gave 14 to 36 and 0.993.
                min_sharpness=8.0,
                warn_sharpness=20.0,
                # Undegraded demo faces measured 97 or more. Darkened to 8%
                # (7 to 13) the vectors kept a median similarity of 0.987 with
                # exposure normalisation, but real dark photos are noisier.
                min_brightness=10.0,
                warn_brightness=30.0,
                # Demo faces measured up to 0.18. NOTE: not measured on turned
                # photos: taking the nose base as 0.3 eye distances in front of
                # the eyes, 0.35 is about 50 degrees and 0.25 about 40 degrees.
                max_turn=0.35,
                warn_turn=0.25,
            ),
            method=(
                "bands: bench_face_search.py --calibrate on demo/faces; "
                "quality limits: bench_face_search.py --calibrate-quality on "
                "demo/faces and blurred, darkened and downscaled copies"
            ),
        )
    ),
}
CALIBRATION = CALIBRATIONS[(MODEL_NAME, MODEL_VERSION, DETECTOR)]
# NOTE: the demo set has no East Asian faces, no children and no age gaps.
# Recheck the bands on the station's own confirmed matches.
LIKELY_MIN = CALIBRATION.likely_min
REVIEW_MIN = CALIBRATION.review_min
MIN_FACE_PX = CALIBRATION.quality.min_face_px

BAND_LABELS = {
    "likely": _l("很可能是同一人"),
    "review": _l("需人工核对"),
    "unlikely": _l("可能性低"),
}
# Messages for FaceQuality.warnings, shown beside the results of a search.
WARNING_LABELS = face_quality.WARNINGS

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

    `code` is "no_face", "several_faces", "no_face_at_point",
    "face_outside_photo", "face_too_small", "face_too_dark", "face_blurred" or
    "face_turned".
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
    """A unit-length float32 embedding, the face it came from and its model.

    `quality` is None for vectors loaded from storage.
    """

    vector: np.ndarray
    face: Face
    model: str = MODEL_VERSION
    quality: FaceQuality | None = None


@dataclass(frozen=True)
class AlignedFace:
    """A face box, its RGB face chip and its 5 landmarks in photo pixels."""

    face: Face
    chip: np.ndarray
    landmarks: np.ndarray


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


def faces_for_picking(image: Image.Image) -> list["Face"]:
    """Return every face that detect finds, ordered left to right.

    Staff pick the face to search with, which embed then takes as `face`.
    """
    return sorted(detect(image), key=lambda face: (face.left, face.top))


def face_at(image: Image.Image, x: int, y: int) -> "Face":
    """Return the detected face whose box contains the point (x, y), in photo
    pixels, or raise FaceError "no_face_at_point".

    Lets the server trust only its own detection when staff click a face.
    The smallest box wins where boxes overlap.
    """
    hits = [
        face
        for face in detect(image)
        if face.left <= x < face.right and face.top <= y < face.bottom
    ]
    if not hits:
        raise FaceError(
            "no_face_at_point",
            _l("所点位置没有检测到人脸，请点在人脸框内，或换一张照片。"),
        )
    return min(hits, key=lambda face: face.area)


def choose_face(
    faces: list["Face"],
    image: Image.Image | None = None,
    calibration: Calibration = CALIBRATION,
) -> "Face":
    """Return the face to embed, or raise FaceError.

    Without `image`, the face must be the largest by DOMINANT_FACE_RATIO.
    With `image`, faces that fail the quality limits are left out first, so
    the largest sharp face wins. When none is usable, the error gives the
    reason for the largest face.
    """
    if image is None:
        return _dominant(faces, len(faces))
    return _choose_aligned(image, faces, calibration.quality)[0].face


def embed(
    image: Image.Image,
    face: "Face | None" = None,
    check_quality: bool = True,
    calibration: Calibration = CALIBRATION,
) -> "FaceVector":
    """Embed one face of a PIL image and return its FaceVector.

    Uses `face` when given, for example the one staff picked from
    faces_for_picking, otherwise the face that choose_face picks. Raises
    FaceError when there is no usable face. With `check_quality` False only
    the size limit applies, and failed limits are left to the warnings.
    """
    limits = calibration.quality
    if not check_quality:
        limits = _size_only(limits)
    if face is None:
        aligned, quality = _choose_aligned(image, detect(image), limits)
    else:
        aligned, quality = _align_and_judge(image, _checked_box(face, image), limits)
    chip = face_quality.normalise_exposure(aligned.chip)
    return FaceVector(vector=embed_chip(chip), face=aligned.face, quality=quality)


def assess(
    image: Image.Image, face: "Face", calibration: Calibration = CALIBRATION
) -> FaceQuality:
    """Measure one face and return its FaceQuality, with warnings filled in,
    or raise FaceError when it fails a limit."""
    face = _checked_box(face, image)
    _, quality = _align_and_judge(image, face, calibration.quality)
    return quality


def align(image: Image.Image, face: "Face") -> AlignedFace:
    """Find the 5 landmarks of `face` and cut its aligned chip."""
    return _align(image, face, CHIP_SIZE, CHIP_PADDING)


def face_chip(
    image: Image.Image,
    face: "Face",
    size: int = CHIP_SIZE,
    padding: float = CHIP_PADDING,
) -> np.ndarray:
    """Cut the aligned face chip: eyes level, scaled to `size` pixels."""
    return _align(image, face, size, padding).chip


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


def band(similarity: float, calibration: Calibration = CALIBRATION) -> str:
    """Return "likely", "review" or "unlikely" for a cosine similarity."""
    if similarity >= calibration.likely_min:
        return "likely"
    if similarity >= calibration.review_min:
        return "review"
    return "unlikely"


def calibration_for(model_name: str, model_version: str, detector: str):
    """Return the Calibration stored for a model, or raise KeyError."""
    key = (model_name, model_version, detector)
    if key not in CALIBRATIONS:
        raise KeyError(f"no calibration stored for {key}")
    return CALIBRATIONS[key]


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


def _no_face_error():
    return FaceError(
        "no_face",
        _l(
            "未检测到人脸。请上传正脸、清晰、光线充足的照片；"
            "若人脸在照片中很小，请先裁剪到人脸附近再上传。"
        ),
    )


def _several_faces_error(count):
    return FaceError(
        "several_faces",
        _l(
            "检测到多张人脸（%(count)d 张），请在照片上点选要比对的人脸，"
            "或裁剪为只含一人的照片后再上传。",
            count=count,
        ),
    )


def _dominant(faces, count):
    """Return the largest face, or raise FaceError unless it is wider than
    every other by DOMINANT_FACE_RATIO. `count` is for the message."""
    if not faces:
        raise _no_face_error()
    largest = max(faces, key=lambda face: face.area)
    others = [face for face in faces if face is not largest]
    if any(largest.width < face.width * DOMINANT_FACE_RATIO for face in others):
        raise _several_faces_error(count)
    return largest


def _choose_aligned(image, faces, limits):
    """Return the aligned face and quality of the largest usable face.

    Raises FaceError "no_face", "several_faces" when two usable faces are of
    similar size, or the largest face's own rejection when none is usable.
    """
    if not faces:
        raise _no_face_error()
    judged = {}
    first_rejection = None
    for face in sorted(faces, key=lambda face: face.area, reverse=True):
        try:
            judged[face] = _align_and_judge(image, face, limits)
        except FaceError as error:
            first_rejection = first_rejection or error
    if not judged:
        raise first_rejection
    return judged[_dominant(list(judged), len(faces))]


def _align_and_judge(image, face, limits):
    """Return (AlignedFace, FaceQuality) or raise the FaceError of the first
    failed limit. The size limit is checked before the landmarks are found."""
    size = min(face.width, face.height)
    aligned = None
    if size < limits.min_face_px:
        quality = FaceQuality(size=size, brightness=0.0, sharpness=0.0, turn=0.0)
    else:
        aligned = align(image, face)
        quality = face_quality.measure(aligned.chip, aligned.landmarks, size)
    rejection, quality = face_quality.judge(quality, limits)
    if rejection is not None:
        raise FaceError(rejection.code, rejection.message)
    return aligned, quality


def _size_only(limits):
    return QualityLimits(
        min_face_px=limits.min_face_px,
        min_sharpness=0.0,
        warn_sharpness=limits.warn_sharpness,
        min_brightness=0.0,
        warn_brightness=limits.warn_brightness,
        max_turn=float("inf"),
        warn_turn=limits.warn_turn,
    )


def _checked_box(face, image):
    """Return `face`, or raise FaceError "face_outside_photo" when the box,
    which may come from a page, is empty or lies outside the photo. A box
    that only crosses the edge is kept, as dlib's own boxes may."""
    inside = (
        face.left < image.width
        and face.top < image.height
        and face.right > 0
        and face.bottom > 0
    )
    if face.width <= 0 or face.height <= 0 or not inside:
        raise FaceError(
            "face_outside_photo",
            _l("所选人脸框不在照片范围内，请重新点选人脸。"),
        )
    return face


def _align(image, face, size, padding):
    """Find the landmarks and cut the chip from a crop around the face, so a
    12 MP photo is never copied into a numpy array whole."""
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
    chip = dlib.get_face_chip(pixels, landmarks, size=size, padding=padding)
    points = np.array(
        [(point.x + crop_box[0], point.y + crop_box[1]) for point in landmarks.parts()],
        dtype=np.float64,
    )
    return AlignedFace(face=face, chip=chip, landmarks=points)


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


# Rows from replace (the gallery loaded from the database) stay in one float32
# matrix, so a search without the index is one matrix-vector product. Rows
# added later go into blocks of up to BLOCK_ROWS rows (64 MB), so an add
# copies at most one block.
BLOCK_ROWS = 131072
FIRST_BLOCK_ROWS = 64
# Galleries of at least this many rows also get a float16 index (faiss, when
# it is installed) whose scores pick the rows to score exactly.
INDEX_MIN_ROWS = 100_000
# faiss stores each value as float16 with a relative error of at most 2**-11
# (measured: 0.000489). Doubling that, and adding 2**-15 for float32
# rounding in both dot products, bounds the error of an index score, in units
# of |query| * the largest row norm.
INDEX_ERROR = 2**-10 + 2**-15


class Gallery:
    """Gallery embeddings held in float32 and searched exactly.

    Every search returns the ids and similarities that one float32
    matrix-vector product over all rows followed by a full sort would return,
    up to float32 rounding: ids whose similarities tie within about 1e-7 may
    swap places.

    When faiss is installed, galleries of INDEX_MIN_ROWS rows or more also keep
    a float16 copy in faiss, split into one shard per CPU so that a query uses
    every core. Its scores, each within INDEX_ERROR of the exact one, select
    every row that can still be among the best, and only those rows are
    scored in float32 (see _Float16Index.top_rows). Rows added after the index
    was built are scored in float32 directly, and the index is rebuilt once
    they fill a block.

    Several vectors may share an id, such as the photos of one missing-person
    report. Vectors should be unit length, as embed returns them. A search
    takes a snapshot of the rows, so one that runs while another thread
    changes the gallery reads either the old or the new contents, never a mix.
    """

    def __init__(self, ids=(), vectors=(), use_index: bool = True):
        self.use_index = use_index
        self._lock = threading.Lock()
        self._publish([], 0, [], None)
        if len(ids):
            self.replace(ids, vectors)

    def __len__(self):
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes of the float32 rows, spare rows included, and of the index."""
        return sum(block.nbytes for block in self._blocks) + self.index_nbytes

    @property
    def index_nbytes(self) -> int:
        """Bytes of the float16 index, which faiss allocates outside Python."""
        index = self._snapshot.index
        return index.nbytes if index is not None else 0

    @property
    def indexed(self) -> bool:
        """Whether searches use the float16 index."""
        return self._snapshot.index is not None

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
        blocks = [rows] if len(rows) else []
        index = self._build_index(_Snapshot.of(blocks, len(rows), ids, None))
        with self._lock:
            self._publish(blocks, len(rows), ids, index)

    def add(self, id, vector: np.ndarray) -> None:
        """Add one vector. The call that fills a block past the index rebuilds
        the index, which took about 1 s for 1,000,000 rows."""
        row = np.asarray(vector, dtype=np.float32)
        if row.shape != (VECTOR_SIZE,):
            raise ValueError(f"expected {VECTOR_SIZE} values, got shape {row.shape}")
        with self._lock:
            blocks, used = list(self._blocks), self._used
            if not blocks or used == len(blocks[-1]):
                if blocks and used < BLOCK_ROWS:
                    # Grow into a new array: running searches keep the old one.
                    grown = _empty_rows(min(max(2 * used, 1), BLOCK_ROWS))
                    grown[:used] = blocks[-1]
                    blocks[-1] = grown
                else:
                    blocks.append(_empty_rows(FIRST_BLOCK_ROWS))
                    used = 0
            # Rows past `used` are outside every snapshot taken so far, and
            # so are ids past the snapshot's count.
            blocks[-1][used] = row
            self._ids.append(id)
            count = self._count + 1
            index = self._snapshot.index
            unindexed = count - (index.count if index is not None else 0)
            if unindexed >= BLOCK_ROWS or (index is None and count == INDEX_MIN_ROWS):
                snapshot = _Snapshot.of(blocks, used + 1, self._ids, None)
                index = self._build_index(snapshot)
            self._publish(blocks, used + 1, self._ids, index)

    def remove(self, id) -> int:
        """Remove every vector stored under `id`; return how many there were."""
        with self._lock:
            snapshot = self._snapshot
            count = snapshot.count
            keep = np.fromiter((value != id for value in snapshot.ids), bool, count)
            removed = count - int(keep.sum())
            if removed:
                rows = _empty_rows(count - removed)
                filled = 0
                for start, view in zip(snapshot.starts, snapshot.views, strict=True):
                    kept = view[keep[start : start + len(view)]]
                    rows[filled : filled + len(kept)] = kept
                    filled += len(kept)
                ids = [value for value in snapshot.ids if value != id]
                blocks = [rows] if len(rows) else []
                index = self._build_index(_Snapshot.of(blocks, len(rows), ids, None))
                self._publish(blocks, len(rows), ids, index)
            return removed

    def search(self, vector: np.ndarray, k: int = 10) -> list[tuple]:
        """Return up to `k` (id, similarity) pairs, most similar first.

        Each id appears once, with the best similarity of its vectors. Equal
        similarities are ordered by when the vectors were added.
        """
        snapshot = self._snapshot
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (VECTOR_SIZE,):
            raise ValueError(f"expected {VECTOR_SIZE} values, got shape {query.shape}")
        if k <= 0 or snapshot.count == 0:
            return []

        scorer = _Scorer(snapshot, query)
        depth = min(k, snapshot.count)
        while True:
            best = _distinct_ids(snapshot.ids, *scorer.top_rows(depth), k)
            # Fewer than k distinct ids among the top rows: look further down.
            if len(best) == k or depth == snapshot.count:
                return best
            depth = min(depth * 2, snapshot.count)

    def _build_index(self, snapshot):
        if not self.use_index or snapshot.count < INDEX_MIN_ROWS or _faiss() is None:
            return None
        return _Float16Index(snapshot)

    def _publish(self, blocks, used, ids, index):
        self._blocks, self._used, self._ids = blocks, used, ids
        self._snapshot = _Snapshot.of(blocks, used, ids, index)
        self._count = self._snapshot.count


@dataclass(frozen=True)
class _Snapshot:
    """The rows a search reads: `views` of the blocks' used rows, the row
    number each view starts at, the ids of the rows and the index."""

    views: tuple
    starts: np.ndarray
    ids: list
    count: int
    index: "_Float16Index | None"

    @classmethod
    def of(cls, blocks, used, ids, index):
        views = list(blocks)
        if views:
            views[-1] = views[-1][:used]
        lengths = [len(view) for view in views]
        starts = np.cumsum([0, *lengths])[:-1].astype(np.int64)
        return cls(tuple(views), starts, ids, sum(lengths), index)

    def gather(self, rows):
        """Return the float32 rows with the given row numbers, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        gathered = _empty_rows(len(rows))
        view_numbers = np.searchsorted(self.starts, rows, side="right") - 1
        for view_number in np.unique(view_numbers):
            chosen = view_numbers == view_number
            start = self.starts[view_number]
            gathered[chosen] = self.views[view_number][rows[chosen] - start]
        return gathered

    def slices(self, begin, end):
        """Yield the parts of the views that hold rows begin to end - 1."""
        for start, view in zip(self.starts, self.views, strict=True):
            low, high = max(begin - start, 0), min(end - start, len(view))
            if low < high:
                yield view[low:high]


class _Scorer:
    """Exact top rows of one query against one snapshot."""

    def __init__(self, snapshot, query):
        self.snapshot, self.query = snapshot, query
        self._similarities = None

    def top_rows(self, depth):
        """Return the row numbers of the `depth` most similar rows and their
        float32 similarities, most similar first, ties by row number."""
        index = self.snapshot.index
        if index is None:
            similarities = self._all_similarities()
            rows = _top_positions(similarities, depth)
            return _ordered(rows, similarities[rows])

        rows, similarities = index.top_rows(self.query, depth, self.snapshot)
        # Rows added since the index was built are scored directly.
        tail = np.arange(index.count, self.snapshot.count)
        if len(tail):
            rows = np.concatenate([rows, tail])
            tail_similarities = self.snapshot.gather(tail) @ self.query
            similarities = np.concatenate([similarities, tail_similarities])
        rows, similarities = _ordered(rows, similarities)
        return rows[:depth], similarities[:depth]

    def _all_similarities(self):
        if self._similarities is None:
            snapshot = self.snapshot
            self._similarities = np.empty(snapshot.count, dtype=np.float32)
            for start, view in zip(snapshot.starts, snapshot.views, strict=True):
                end = start + len(view)
                np.dot(view, self.query, out=self._similarities[start:end])
        return self._similarities


class _Float16Index:
    """A faiss float16 copy of a snapshot's rows, split into shards that faiss
    searches in parallel."""

    def __init__(self, snapshot):
        faiss = _faiss()
        self.count = snapshot.count
        self.nbytes = self.count * VECTOR_SIZE * 2
        self.shards = faiss.IndexShards(VECTOR_SIZE, True, True)
        self.max_norm = 0.0
        self._lock = threading.Lock()
        bounds = np.linspace(0, self.count, _cpu_count() + 1).astype(int)
        for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
            shard = faiss.IndexScalarQuantizer(
                VECTOR_SIZE, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
            for part in snapshot.slices(begin, end):
                shard.add(np.ascontiguousarray(part))
                self.max_norm = max(self.max_norm, float(_row_norms(part).max()))
            self.shards.add_shard(shard)

    def top_rows(self, query, depth, snapshot):
        """Return the indexed rows that can be among the `depth` most similar,
        which include the exact top `depth`, with their float32 similarities.

        Every index score is within `error` of the float32 score. The `depth`
        rows with the best index scores all score at least the depth-th index
        score less `error`, so the exact depth-th best score does too. A row
        whose index score is below `floor`, the depth-th index score less twice
        `error`, therefore scores below it and is skipped. faiss returns rows
        best first, so once the last row returned is below the floor, every
        row not returned is too.
        """
        error = INDEX_ERROR * float(np.linalg.norm(query)) * self.max_norm
        fetch = min(2 * depth + 16, self.count)
        while True:
            with self._lock:
                scores, rows = self.shards.search(query[np.newaxis], fetch)
            scores, rows = scores[0], rows[0]
            floor = scores[depth - 1] - 2 * error
            if scores[-1] < floor or fetch == self.count:
                break
            fetch = min(2 * fetch, self.count)
        rows = rows[scores >= floor]
        return rows, snapshot.gather(rows) @ query


@cache
def _faiss():
    """Return the faiss module, or None when it is not installed."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _cpu_count():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _empty_rows(count):
    return np.empty((count, VECTOR_SIZE), dtype=np.float32)


def _row_norms(rows):
    return np.sqrt(np.einsum("ij,ij->i", rows, rows))


def _top_positions(values, count):
    """Return the positions of the `count` largest values, unordered."""
    if count >= len(values):
        return np.arange(len(values))
    return np.argpartition(values, len(values) - count)[len(values) - count :]


def _ordered(rows, similarities):
    """Sort rows by similarity, most similar first, ties by row number."""
    order = np.lexsort((rows, -similarities))
    return rows[order], similarities[order]


def _distinct_ids(ids, rows, similarities, k):
    """Return the first `k` distinct ids of the ordered rows with their
    similarities."""
    best = {}
    for row, value in zip(rows, similarities, strict=True):
        best.setdefault(ids[row], float(value))
        if len(best) == k:
            break
    return list(best.items())
