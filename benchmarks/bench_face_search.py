"""Time a face search from the bytes of a 12 MP photo, or calibrate thresholds.

    .venv/bin/python benchmarks/bench_face_search.py              # timing
    .venv/bin/python benchmarks/bench_face_search.py --stages     # plus stages
    .venv/bin/python benchmarks/bench_face_search.py --calibrate  # demo pairs
    .venv/bin/python benchmarks/bench_face_search.py --calibrate-quality
    .venv/bin/python benchmarks/bench_face_search.py --compare    # choices

The timed search is services.photos.normalise, services.faces.embed (detect,
align, embed) and Gallery.search against 10,000 random unit vectors. The
reference is deepface's own DeepFace.represent with the Dlib model and the
OpenCV detector on the same bytes. Both are timed after one warm-up run, so
model loading is not counted. Peak memory is the peak resident size of a new
process (Linux only) that imports this project's modules, makes the photo,
then loads one pipeline's models and searches once. MB is 10**6 bytes.
Each figure is printed as one line:
"bench: NAME VALUE UNIT reference: REFNAME VALUE UNIT".
"""

import argparse
import csv
import io
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from services import faces, photos  # noqa: E402

FACES_DIR = ROOT / "demo" / "faces"
BENCH_FACE = "obama_1.jpg"
PHOTO_SIZE = (4000, 3000)
GALLERY_SIZE = 10_000
RUNS = 5
REFERENCE_RUNS = 3
MB = 1_000_000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stages", action="store_true", help="also time each step of the search"
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="print similarity distributions of the labelled demo photos instead",
    )
    parser.add_argument(
        "--calibrate-quality",
        action="store_true",
        help="print quality measures of demo photos degraded in steps instead",
    )
    parser.add_argument(
        "--peak-memory",
        choices=["ours", "reference"],
        help="search once and print the process's peak resident bytes instead",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="compare detection sizes, chip padding and embedding calls instead",
    )
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        faces.ensure_weights(Path(home))
        if arguments.peak_memory:
            print_peak_memory(arguments.peak_memory)
        elif arguments.calibrate:
            calibrate()
        elif arguments.calibrate_quality:
            calibrate_quality()
        elif arguments.compare:
            compare()
        else:
            bench(arguments.stages)


def bench(stages):
    data = make_12mp_jpeg(FACES_DIR / BENCH_FACE)
    gallery = make_gallery(GALLERY_SIZE)
    true_vector = faces.embed(photos.normalise(data).image).vector
    gallery.add("bench-face", true_vector)

    ours, results = time_runs(lambda: search_from_bytes(data, gallery), RUNS)
    if results[0][0] != "bench-face":
        sys.exit(f"the bench face ranked below {results[0][0]!r}")
    # Time the stages before deepface loads TensorFlow, whose threads stay
    # alive after the reference run.
    stage_lines = time_stages(data, gallery) if stages else []
    reference, _ = time_runs(lambda: deepface_represent(data), REFERENCE_RUNS)

    print(
        f"bench: face_search_12mp {ours:.2f} s "
        f"reference: deepface_represent_12mp {reference:.2f} s"
    )
    ours_peak = peak_memory_in_new_process("ours")
    reference_peak = peak_memory_in_new_process("reference")
    print(
        f"bench: face_search_12mp_peak_memory {ours_peak / MB:.0f} MB "
        f"reference: deepface_represent_12mp_peak_memory {reference_peak / MB:.0f} MB"
    )
    for line in stage_lines:
        print(line)


def peak_memory_in_new_process(pipeline):
    """Return the peak resident size, in bytes, of a new Python process that
    loads one pipeline and searches with the 12 MP photo once."""
    output = subprocess.run(
        [sys.executable, __file__, "--peak-memory", pipeline],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(output.split()[-1])


def print_peak_memory(pipeline):
    data = make_12mp_jpeg(FACES_DIR / BENCH_FACE)
    # Writing 5 to clear_refs resets the peak to the current resident size,
    # so making the test photo, which briefly takes 400 MB, is not counted.
    Path("/proc/self/clear_refs").write_text("5")
    if pipeline == "ours":
        search_from_bytes(data, make_gallery(GALLERY_SIZE))
    else:
        deepface_represent(data)
    print(proc_status("VmHWM"))


def proc_status(field):
    """Return a size field of /proc/self/status, such as VmRSS, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def make_12mp_jpeg(face_file):
    """Return a 4000x3000 JPEG with the face photo upscaled in its middle.

    Noise over the whole frame makes the file about as large as a phone's
    photo, since a smooth upscale compresses to a fraction of that and decodes
    faster than a real photo would.
    """
    face = Image.open(face_file).convert("RGB")
    height = PHOTO_SIZE[1] * 2 // 3
    face = face.resize((face.width * height // face.height, height))
    canvas = Image.new("RGB", PHOTO_SIZE, (118, 124, 130))
    canvas.paste(face, ((PHOTO_SIZE[0] - face.width) // 2, PHOTO_SIZE[1] // 6))

    rng = np.random.default_rng(12)
    pixels = np.asarray(canvas, dtype=np.int16)
    pixels = pixels + rng.normal(0, 6, pixels.shape).astype(np.int16)
    noisy = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def make_gallery(size):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(size, faces.VECTOR_SIZE)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return faces.Gallery([f"random-{index}" for index in range(size)], vectors)


def search_from_bytes(data, gallery):
    photo = photos.normalise(data)
    face_vector = faces.embed(photo.image)
    return gallery.search(face_vector.vector, k=10)


def deepface_represent(data):
    from deepface import DeepFace

    return DeepFace.represent(
        io.BytesIO(data), model_name="Dlib", detector_backend="opencv"
    )


def time_runs(function, runs):
    """Return the median seconds of `runs` calls after one warm-up call, and
    the warm-up call's result."""
    result = function()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def time_stages(data, gallery):
    photo = photos.normalise(data)
    face = faces.choose_face(faces.detect(photo.image))
    vector = faces.embed(photo.image, face).vector
    steps = {
        "normalise_12mp": lambda: photos.normalise(data),
        "detect_12mp": lambda: faces.detect(photo.image),
        "align_embed": lambda: faces.embed(photo.image, face),
        "gallery_search_10k": lambda: gallery.search(vector, k=10),
    }
    lines = []
    for name, step in steps.items():
        seconds, _ = time_runs(step, RUNS)
        lines.append(f"stage: {name} {seconds * 1000:.1f} ms")
    return lines


def load_demo_faces():
    """Return the identities and normalised images of the labelled demo photos."""
    with open(FACES_DIR / "labels.csv", newline="") as labels_file:
        rows = list(csv.DictReader(labels_file))
    labels = [row["identity"] for row in rows]
    images = [
        photos.normalise((FACES_DIR / row["file"]).read_bytes()).image for row in rows
    ]
    print(f"{len(images)} photos of {len(set(labels))} people in demo/faces")
    return labels, images


def calibrate():
    """Print same- and different-person similarities of the demo photos, for
    services.faces and for plain deepface."""
    labels, images = load_demo_faces()

    pipelines = {
        "tuanyuan (dlib HOG, 5-point chip, deepface Dlib)": embed_ours,
        "plain deepface (Dlib, opencv detector, full size)": embed_deepface,
    }
    for name, embed_one in pipelines.items():
        embed_one(images[0])
        start = time.perf_counter()
        vectors = [embed_one(image) for image in images]
        seconds = (time.perf_counter() - start) / len(images)
        print(f"\n{name}: {seconds:.2f} s per photo")
        print_pairs(labels, vectors)


# Degradation steps for --calibrate-quality. Blur is a Gaussian whose
# standard deviation is a share of the face width. Darkening scales every
# channel. "small" scales the photo so that the face is that many pixels wide,
# then back to its size, which loses detail as a distant face does.
QUALITY_STEPS = {
    "clean": [None],
    "blur": [0.005, 0.01, 0.015, 0.02, 0.03, 0.04],
    "dark": [0.3, 0.2, 0.12, 0.08, 0.06],
    "small": [45, 35, 25, 18],
}


def calibrate_quality():
    """Print, for each degradation step, the quality measures of the demo
    photos and how far their vectors moved from the undegraded ones."""
    from services import face_eval

    labels, images = load_demo_faces()
    clean = [faces.embed(image) for image in images]
    limits = faces.CALIBRATION.quality
    print(f"limits: {limits}")
    print(
        "step: photos with a face; brightness, sharpness and |turn| as "
        "min/median/max; similarity to the undegraded photo min/median; "
        "lowest same-person similarity; rejections by the limits"
    )
    for kind, levels in QUALITY_STEPS.items():
        for level in levels:
            measured, own, same_person, rejected = [], [], [], {}
            for index, image in enumerate(images):
                width = clean[index].face.width
                degraded = degrade_step(face_eval, image, kind, level, width)
                try:
                    result = faces.embed(degraded, check_quality=False)
                except faces.FaceError as error:
                    rejected[error.code] = rejected.get(error.code, 0) + 1
                    continue
                measured.append(result.quality)
                own.append(faces.similarity(result.vector, clean[index].vector))
                same_person += [
                    faces.similarity(result.vector, clean[other].vector)
                    for other in range(len(images))
                    if other != index and labels[other] == labels[index]
                ]
                try:
                    faces.assess(degraded, result.face)
                except faces.FaceError as error:
                    rejected[error.code] = rejected.get(error.code, 0) + 1
            print_quality_step(kind, level, measured, own, same_person, rejected)


def degrade_step(face_eval, image, kind, level, face_width):
    if kind == "blur":
        return face_eval.blur(image, level * face_width)
    if kind == "dark":
        return face_eval.darken(image, level)
    if kind == "small":
        small = face_eval.rescale(image, level / face_width)
        return small.resize(image.size, Image.Resampling.BICUBIC)
    return image


def print_quality_step(kind, level, measured, own, same_person, rejected):
    def spread(values):
        values = np.asarray(values)
        return f"{values.min():.1f}/{np.median(values):.1f}/{values.max():.1f}"

    if not measured:
        print(f"  {kind} {level}: no face found; {rejected}")
        return
    print(
        f"  {kind} {level}: {len(measured)} faces; "
        f"brightness {spread([q.brightness for q in measured])}, "
        f"sharpness {spread([q.sharpness for q in measured])}, "
        f"|turn| {spread([abs(q.turn) for q in measured])}; "
        f"own {min(own):.3f}/{np.median(own):.3f}; "
        f"same person {min(same_person):.3f}; rejected {rejected}"
    )


def compare():
    """Print the measurements behind DETECT_SIDE, the detector's upsampling,
    CHIP_PADDING and the embedding call."""
    labels, images = load_demo_faces()
    large = photos.normalise(make_12mp_jpeg(FACES_DIR / BENCH_FACE)).image

    print("\ndetection: median ms per demo photo, ms on the 12 MP photo, faces found")
    for side in (640, 800, 1024, 1280):
        for upsample in (0, 1, None):
            demo_ms = statistics.median(
                time_detection(image, side, upsample, 1) for image in images
            )
            large_ms = time_detection(large, side, upsample, 3)
            found = [len(faces.detect(image, side, upsample)) for image in images]
            mode = "auto" if upsample is None else upsample
            print(
                f"  side {side} upsample {mode}: {demo_ms * 1000:.0f} ms, "
                f"{large_ms * 1000:.0f} ms, faces per photo {found}"
            )

    print("\nchip padding: lowest same-person, highest different-person pair")
    chosen = [faces.choose_face(faces.detect(image)) for image in images]
    for padding in (0.1, 0.25, 0.4):
        vectors = [
            faces.embed_chip(faces.face_chip(image, face, padding=padding))
            for image, face in zip(images, chosen, strict=True)
        ]
        same, different = pair_similarities(labels, vectors)
        print(
            f"  padding {padding}: {min(same):.3f}, {max(different):.3f}, "
            f"rank-1 {rank_one(labels, vectors)}"
        )

    chip = faces.face_chip(images[0], chosen[0])
    client_ms, client_vector = time_runs(lambda: faces.embed_chip(chip), RUNS)
    represent_ms, represent_vector = time_runs(lambda: represent_chip(chip), RUNS)
    difference = np.abs(client_vector - represent_vector).max()
    print(
        f"\nembedding one chip: DlibClient.forward {client_ms * 1000:.0f} ms, "
        f"DeepFace.represent with detection skipped {represent_ms * 1000:.0f} ms, "
        f"largest difference between the vectors {difference:.1e}"
    )


def time_detection(image, side, upsample, runs):
    seconds, _ = time_runs(lambda: faces.detect(image, side, upsample), runs)
    return seconds


def represent_chip(chip):
    from deepface import DeepFace

    bgr = np.ascontiguousarray(chip[:, :, ::-1])
    found = DeepFace.represent(bgr, model_name="Dlib", detector_backend="skip")
    return faces.normalise_vector(found[0]["embedding"])


def embed_ours(image):
    return faces.embed(image).vector


def embed_deepface(image):
    """Return the unit vector of deepface's largest face, or None when its
    detector finds none."""
    from deepface import DeepFace

    bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    try:
        found = DeepFace.represent(
            bgr, model_name="Dlib", detector_backend="opencv", max_faces=1
        )
    except ValueError:
        return None
    return faces.normalise_vector(found[0]["embedding"])


def print_pairs(labels, vectors):
    missing = [index for index, vector in enumerate(vectors) if vector is None]
    if missing:
        print(f"  no face found in {len(missing)} photos; their pairs are left out")
    same, different = pair_similarities(labels, vectors)

    for name, values in (("same person", same), ("different people", different)):
        values = np.sort(values)
        print(
            f"  {name}: {len(values)} pairs, min {values.min():.3f}, "
            f"median {np.median(values):.3f}, max {values.max():.3f}"
        )
        print("    " + " ".join(f"{value:.3f}" for value in values))
    for threshold in (faces.LIKELY_MIN, faces.REVIEW_MIN):
        print(
            f"  at {threshold:.2f}: same-person pairs below "
            f"{sum(value < threshold for value in same)}/{len(same)}, "
            f"different-person pairs at or above "
            f"{sum(value >= threshold for value in different)}/{len(different)}"
        )
    print(f"  leave-one-out rank-1: {rank_one(labels, vectors)}")


def pair_similarities(labels, vectors):
    """Return the similarities of same-person and of different-person pairs,
    leaving out photos whose vector is None."""
    same, different = [], []
    for first, second in itertools.combinations(range(len(vectors)), 2):
        if vectors[first] is None or vectors[second] is None:
            continue
        value = faces.similarity(vectors[first], vectors[second])
        (same if labels[first] == labels[second] else different).append(value)
    return same, different


def rank_one(labels, vectors):
    """Return "hits/total" for leave-one-out rank-1 identification.

    A hit is a photo whose most similar other photo shows the same person.
    Only photos whose person has another photo in the set are counted.
    """
    hits, total = 0, 0
    for index, vector in enumerate(vectors):
        if vector is None or labels.count(labels[index]) < 2:
            continue
        others = [
            (faces.similarity(vector, other), labels[position])
            for position, other in enumerate(vectors)
            if position != index and other is not None
        ]
        total += 1
        hits += max(others)[1] == labels[index]
    return f"{hits}/{total}"


if __name__ == "__main__":
    main()
