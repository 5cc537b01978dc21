"""Measure face search accuracy on a folder of labelled photos.

evaluate() embeds every photo listed in the folder's labels.csv, with this
project's pipeline (services.photos.normalise, then services.faces.embed) and,
for reference, with plain deepface (DeepFace.represent with the Dlib model and
the OpenCV detector on the full-size file). It returns the same figures for
both: photos without a usable face, leave-one-out rank-1 identification, the
true accept rate at fixed false accept rates, the accuracy at the stored
threshold and the time per photo.

labels.csv has the columns file and identity, and optionally source. Photos
with the same source are copies of one original, as write_degraded_copies
makes them. They are never paired with each other, and they are left out of
each other's leave-one-out gallery, because a copy finds its own original far
more easily than a different photo of the same person.

write_degraded_copies() makes such a set from a folder of clean photos, with
blur, darkening, downscaling, noise and JPEG compression drawn at random.
"""

import csv
import io
import itertools
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from services import faces, photos
from services.errors import InputError

logger = logging.getLogger("tuanyuan.faces")

FAR_TARGETS = (0.01, 0.001)
# deepface 0.0.103's cosine distance threshold for its Dlib model
# (deepface/config/threshold.py), as a similarity.
REFERENCE_THRESHOLD = round(1 - 0.07, 4)
REFERENCE_PIPELINE = (
    'DeepFace.represent(model_name="Dlib", detector_backend="opencv", '
    "max_faces=1) on the full-size file, cosine similarity"
)
OUR_PIPELINE = (
    f"photos.normalise, faces.embed ({faces.DETECTOR}, 5-point chip, "
    f"{faces.MODEL_VERSION}), cosine similarity"
)


@dataclass(frozen=True)
class Photo:
    file: str
    identity: str
    source: str


@dataclass
class Embedded:
    """The vectors of one pipeline, None where it found no usable face."""

    vectors: list
    failures: dict
    seconds_per_photo: float


def evaluate(folder: Path, reference: bool = True) -> dict:
    """Embed the photos of `folder` and return the figures described in the
    module docstring, as a dict ready for JSON.

    The reference imports deepface.DeepFace, which loads TensorFlow (about 5 s
    and 550 MB). Raises FileNotFoundError without labels.csv, ValueError when
    it lists no photo, and RuntimeError when the model files are missing
    (call faces.ensure_weights first).
    """
    folder = Path(folder)
    listed = read_labels(folder)
    identities = [photo.identity for photo in listed]
    genuine, impostor = pair_indices(listed)

    result = {
        "photos": len(listed),
        "identities": len(set(identities)),
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "far_method": far_method(len(impostor)),
        "ours": summarise(
            embed_ours(folder, listed), listed, genuine, impostor, faces.LIKELY_MIN
        ),
    }
    result["ours"]["pipeline"] = OUR_PIPELINE
    if reference:
        embedded = embed_reference(folder, listed)
        result["reference"] = summarise(
            embedded, listed, genuine, impostor, REFERENCE_THRESHOLD
        )
        result["reference"]["pipeline"] = REFERENCE_PIPELINE
    return result


def read_labels(folder: Path) -> list[Photo]:
    """Read labels.csv. A row without a source is its own source."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as labels_file:
        rows = list(csv.DictReader(labels_file))
    listed = [
        Photo(row["file"], row["identity"], row.get("source") or row["file"])
        for row in rows
    ]
    if not listed:
        raise ValueError("labels.csv lists no photo")
    return listed


def pair_indices(listed):
    """Return the (first, second) index pairs of the same person from
    different sources, and of different people."""
    genuine, impostor = [], []
    for first, second in itertools.combinations(range(len(listed)), 2):
        one, other = listed[first], listed[second]
        if one.identity != other.identity:
            impostor.append((first, second))
        elif one.source != other.source:
            genuine.append((first, second))
    return genuine, impostor


def embed_ours(folder, listed) -> Embedded:
    def embed_file(path):
        photo = photos.normalise(path.read_bytes())
        return faces.embed(photo.image).vector

    return _embed_all(folder, listed, embed_file)


def embed_reference(folder, listed) -> Embedded:
    weights = faces._deepface_weights_folder() / Path(faces.WEIGHT_FILES[0]).name
    if not weights.exists():
        # deepface would download the file instead.
        raise RuntimeError(f"{weights} not found: call faces.ensure_weights first")
    from deepface import DeepFace

    def embed_file(path):
        found = DeepFace.represent(
            str(path), model_name="Dlib", detector_backend="opencv", max_faces=1
        )
        return faces.normalise_vector(found[0]["embedding"])

    return _embed_all(folder, listed, embed_file)


def _embed_all(folder, listed, embed_file):
    """Embed every photo after one untimed call that loads the models."""
    try:
        embed_file(folder / listed[0].file)
    except (InputError, ValueError):
        pass
    vectors, failures = [], {}
    start = time.perf_counter()
    for photo in listed:
        path = folder / photo.file
        try:
            vectors.append(embed_file(path))
            continue
        except InputError as error:
            code = error.code
        except ValueError:
            # DeepFace.represent raises ValueError when it finds no face.
            code = "no_face"
        vectors.append(None)
        failures[code] = failures.get(code, 0) + 1
        logger.info("no vector for %s: %s", photos.mask_path(path), code)
    seconds = (time.perf_counter() - start) / len(listed)
    return Embedded(vectors, failures, seconds)


def summarise(embedded, listed, genuine, impostor, threshold) -> dict:
    """Return the figures of one pipeline.

    A genuine pair with a photo that failed counts as rejected. An impostor
    pair with such a photo is left out, so that failures never lower the FAR.
    """
    vectors = embedded.vectors
    genuine_scores = np.array([_score(vectors, pair) for pair in genuine])
    impostor_scores = np.array(
        [
            score
            for score in (_score(vectors, pair) for pair in impostor)
            if not math.isnan(score)
        ]
    )
    hits, probes, embedded_probes = rank_one(vectors, listed)
    return {
        "failed": sum(embedded.failures.values()),
        "failures": dict(sorted(embedded.failures.items())),
        "rank1": _ratio(hits, probes),
        "rank1_of_embedded": _ratio(hits, embedded_probes),
        "rank1_probes": probes,
        "tar_at_far": {
            f"{target:g}": tar_at_far(genuine_scores, impostor_scores, target)
            for target in FAR_TARGETS
        },
        "at_threshold": at_threshold(genuine_scores, impostor_scores, threshold),
        "genuine_min": _rounded(np.nanmin(genuine_scores, initial=np.inf)),
        "impostor_max": _rounded(np.max(impostor_scores, initial=-np.inf)),
        "seconds_per_photo": round(embedded.seconds_per_photo, 3),
    }


def rank_one(vectors, listed):
    """Return (hits, probes, probes with a vector) for leave-one-out rank-1.

    A probe is a photo whose person has a photo of another source in the set.
    A probe without a vector counts as a miss. The gallery of each probe is
    every other photo with a vector, except those of the probe's own source.
    """
    hits = probes = embedded_probes = 0
    for index, photo in enumerate(listed):
        others = [
            position
            for position, other in enumerate(listed)
            if other.source != photo.source
        ]
        if not any(listed[position].identity == photo.identity for position in others):
            continue
        probes += 1
        if vectors[index] is None:
            continue
        embedded_probes += 1
        scored = [
            (float(vectors[index] @ vectors[position]), position)
            for position in others
            if vectors[position] is not None
        ]
        if scored and listed[max(scored)[1]].identity == photo.identity:
            hits += 1
    return hits, probes, embedded_probes


def far_method(impostor_pairs: int) -> str:
    """Describe how tar_at_far picks its threshold for this many pairs."""
    smallest = FAR_TARGETS[-1]
    if impostor_pairs * smallest >= 1:
        return (
            f"{impostor_pairs} impostor pairs: for each FAR the threshold lets "
            "through at most that share of the impostor pairs"
        )
    return (
        f"only {impostor_pairs} impostor pairs, so the smallest measurable FAR "
        f"is 1/{impostor_pairs}: where FAR x {impostor_pairs} < 1 the threshold "
        "is the highest impostor score (no impostor accepted). That threshold "
        "lies below the true one for that FAR, so such a TAR is optimistic"
    )


def tar_at_far(genuine_scores, impostor_scores, far) -> dict:
    """Return the TAR, the threshold and the measured FAR when a pair is
    accepted with a score above the threshold.

    The threshold is the (n + 1)-th highest impostor score, n being the
    number of impostor pairs the FAR allows, rounded down. NaN genuine scores
    (failed photos) count as rejected.
    """
    if len(impostor_scores) == 0 or len(genuine_scores) == 0:
        return {"tar": None, "threshold": None, "far": None}
    allowed = math.floor(far * len(impostor_scores))
    ordered = np.sort(impostor_scores)[::-1]
    threshold = float(ordered[min(allowed, len(ordered) - 1)])
    accepted = np.nan_to_num(genuine_scores, nan=-np.inf) > threshold
    return {
        "tar": _rounded(accepted.mean()),
        "threshold": _rounded(threshold),
        "far": _rounded((impostor_scores > threshold).mean()),
    }


def at_threshold(genuine_scores, impostor_scores, threshold) -> dict:
    """Return accuracy, TAR and FAR when pairs at or above `threshold` match."""
    genuine_accepted = np.nan_to_num(genuine_scores, nan=-np.inf) >= threshold
    impostor_accepted = impostor_scores >= threshold
    correct = genuine_accepted.sum() + (~impostor_accepted).sum()
    total = len(genuine_scores) + len(impostor_scores)
    return {
        "threshold": threshold,
        "accuracy": _ratio(int(correct), total),
        "tar": _ratio(int(genuine_accepted.sum()), len(genuine_scores)),
        "far": _ratio(int(impostor_accepted.sum()), len(impostor_scores)),
    }


def _score(vectors, pair):
    first, second = vectors[pair[0]], vectors[pair[1]]
    if first is None or second is None:
        return math.nan
    return float(first @ second)


def _ratio(part, whole):
    return round(part / whole, 4) if whole else None


def _rounded(value):
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


# Degraded copies -----------------------------------------------------------


def blur(image: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur with standard deviation `sigma` in pixels."""
    return image.filter(ImageFilter.GaussianBlur(sigma))


def darken(image: Image.Image, factor: float) -> Image.Image:
    """Scale every channel by `factor` (below 1 darkens)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) * factor
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def add_noise(image: Image.Image, sigma: float, rng) -> Image.Image:
    """Add Gaussian noise of standard deviation `sigma` grey levels."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    pixels = pixels + rng.normal(0, sigma, pixels.shape)
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def rescale(image: Image.Image, factor: float) -> Image.Image:
    """Resize by `factor` with Lanczos filtering."""
    size = (max(round(image.width * factor), 1), max(round(image.height * factor), 1))
    return image.resize(size, Image.Resampling.LANCZOS)


def recompress(image: Image.Image, quality: int) -> Image.Image:
    """Encode as JPEG at `quality` and decode again."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def degrade_randomly(image: Image.Image, face_width: int, rng) -> Image.Image:
    """Apply a random mix of the degradations above, each scaled to the face.

    Each is applied with probability one half: blur of 0.2% to 1.5% of the
    face width, darkening to 15-60%, downscaling so the face is 70-160 px
    wide, noise of 2-8 grey levels, JPEG quality 25-75.
    """
    if rng.random() < 0.5:
        image = rescale(image, rng.uniform(70, 160) / max(face_width, 1))
        face_width = 115
    if rng.random() < 0.5:
        image = blur(image, rng.uniform(0.002, 0.015) * face_width)
    if rng.random() < 0.5:
        image = darken(image, rng.uniform(0.15, 0.6))
    if rng.random() < 0.5:
        image = add_noise(image, rng.uniform(2, 8), rng)
    if rng.random() < 0.5:
        image = recompress(image, int(rng.integers(25, 76)))
    return image


def write_degraded_copies(
    source: Path, target: Path, copies: int = 4, seed: int = 0
) -> Path:
    """Write `copies` randomly degraded copies of each photo listed in
    `source`/labels.csv into `target`, with a labels.csv that names each
    copy's source photo. Returns `target`.

    The copies are for measuring only: tune nothing on a set that is also
    used to report accuracy.
    """
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for photo in read_labels(source):
        image = photos.normalise((source / photo.file).read_bytes()).image
        found = faces.detect(image)
        width = found[0].width if found else min(image.size) // 3
        stem = Path(photo.file).stem
        for number in range(copies):
            name = f"{stem}_d{number}.jpg"
            degrade_randomly(image, width, rng).save(target / name, quality=95)
            rows.append((name, photo.identity, photo.source))
    with open(target / "labels.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("file", "identity", "source"))
        writer.writerows(rows)
    return target
