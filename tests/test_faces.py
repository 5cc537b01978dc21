import csv
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services import faces, photos

DEMO_FACES = Path(__file__).resolve().parents[1] / "demo" / "faces"
GREY = (200, 200, 200)


@pytest.fixture(scope="module")
def weights_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("deepface")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPFACE_HOME", str(home))
        faces.ensure_weights(home)
        yield home


@pytest.fixture(scope="module")
def demo(weights_home):
    """Labels, normalised images, detected faces and vectors of the demo set."""
    with open(DEMO_FACES / "labels.csv", newline="") as labels_file:
        rows = list(csv.DictReader(labels_file))
    images = [
        photos.normalise((DEMO_FACES / row["file"]).read_bytes()).image for row in rows
    ]
    found = [faces.detect(image) for image in images]
    return {
        "files": [row["file"] for row in rows],
        "labels": [row["identity"] for row in rows],
        "images": images,
        "faces": found,
        "vectors": [
            faces.embed(image, face_list[0]).vector
            for image, face_list in zip(images, found, strict=True)
        ],
    }


def demo_image(demo, file_name):
    return demo["images"][demo["files"].index(file_name)]


def face_crop(demo, file_name, side):
    """Return the face of a demo photo with a margin, scaled to `side` pixels."""
    index = demo["files"].index(file_name)
    face = demo["faces"][index][0]
    margin = face.width // 2
    box = (
        face.left - margin,
        face.top - margin,
        face.right + margin,
        face.bottom + margin,
    )
    return demo["images"][index].crop(box).resize((side, side))


def random_unit_vectors(count, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, faces.VECTOR_SIZE)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_ensure_weights_links_model_files(weights_home):
    folder = faces.ensure_weights(weights_home)

    assert folder == weights_home / ".deepface" / "weights"
    assert os.environ["DEEPFACE_HOME"] == str(weights_home)
    for source in map(Path, faces.WEIGHT_FILES):
        linked = folder / source.name
        assert linked.exists()
        assert linked.stat().st_size == source.stat().st_size


def test_detect_one_face_per_demo_photo(demo):
    for file_name, found in zip(demo["files"], demo["faces"], strict=True):
        assert len(found) == 1, file_name


def test_embed_returns_unit_float32_vector(demo):
    result = faces.embed(demo_image(demo, "obama_1.jpg"))

    assert result.vector.dtype == np.float32
    assert result.vector.shape == (faces.VECTOR_SIZE,)
    assert np.linalg.norm(result.vector) == pytest.approx(1.0, abs=1e-5)
    assert result.model == faces.MODEL_VERSION
    assert result.face == demo["faces"][demo["files"].index("obama_1.jpg")][0]


def test_no_face_raises():
    blank = Image.new("RGB", (800, 600), (90, 120, 150))

    with pytest.raises(faces.FaceError) as caught:
        faces.embed(blank)

    assert caught.value.code == "no_face"
    assert "未检测到人脸" in str(caught.value)


def test_tiny_face_raises(demo):
    photo = demo_image(demo, "obama_1.jpg")
    tiny = photo.resize((120, round(photo.height * 120 / photo.width)))
    canvas = Image.new("RGB", (1000, 800), GREY)
    canvas.paste(tiny, (400, 300))

    with pytest.raises(faces.FaceError) as caught:
        faces.embed(canvas)

    assert caught.value.code == "face_too_small"
    assert str(faces.MIN_FACE_PX) in str(caught.value)


def test_given_small_box_raises(demo):
    small_box = faces.Face(left=10, top=10, right=50, bottom=50)

    with pytest.raises(faces.FaceError) as caught:
        faces.embed(demo_image(demo, "obama_1.jpg"), small_box)

    assert caught.value.code == "face_too_small"


def test_two_similar_faces_raise(demo):
    canvas = Image.new("RGB", (700, 400), GREY)
    canvas.paste(face_crop(demo, "obama_1.jpg", 300), (30, 50))
    canvas.paste(face_crop(demo, "biden_2.jpg", 300), (370, 50))

    with pytest.raises(faces.FaceError) as caught:
        faces.embed(canvas)

    assert caught.value.code == "several_faces"
    assert "只含一人" in str(caught.value)


def test_dominant_face_chosen(demo):
    canvas = Image.new("RGB", (700, 400), GREY)
    canvas.paste(face_crop(demo, "obama_1.jpg", 300), (30, 50))
    canvas.paste(face_crop(demo, "biden_2.jpg", 150), (450, 150))
    obama = demo["vectors"][demo["files"].index("obama_1.jpg")]

    result = faces.embed(canvas)

    assert len(faces.detect(canvas)) == 2
    assert result.face.right < 350
    assert faces.similarity(result.vector, obama) >= faces.LIKELY_MIN


def test_12mp_photo_finds_face_once(demo):
    photo = demo_image(demo, "biden_2.jpg")
    canvas = Image.new("RGB", (4000, 3000), GREY)
    canvas.paste(photo.resize((2400, 2400)), (800, 300))
    biden = demo["vectors"][demo["files"].index("biden_2.jpg")]

    found = faces.detect(canvas)
    result = faces.embed(canvas)

    assert len(found) == 1
    assert found[0].left > 800
    assert found[0].right < 3200
    assert faces.similarity(result.vector, biden) >= faces.LIKELY_MIN


def test_same_person_ranks_first(demo):
    labels = demo["labels"]
    for index, vector in enumerate(demo["vectors"]):
        if labels.count(labels[index]) < 2:
            continue
        others = [position for position in range(len(labels)) if position != index]
        gallery = faces.Gallery(
            [labels[position] for position in others],
            [demo["vectors"][position] for position in others],
        )

        best_id, best_similarity = gallery.search(vector, k=3)[0]

        assert best_id == labels[index], demo["files"][index]
        assert faces.band(best_similarity) == "likely", demo["files"][index]


def test_different_people_never_likely(demo):
    labels, vectors = demo["labels"], demo["vectors"]
    for first in range(len(vectors)):
        for second in range(first + 1, len(vectors)):
            if labels[first] == labels[second]:
                continue
            value = faces.similarity(vectors[first], vectors[second])
            assert faces.band(value) != "likely", (first, second, value)


@pytest.mark.parametrize(
    ("similarity", "expected"),
    [
        (faces.LIKELY_MIN, "likely"),
        (0.99, "likely"),
        (faces.REVIEW_MIN, "review"),
        ((faces.LIKELY_MIN + faces.REVIEW_MIN) / 2, "review"),
        (faces.REVIEW_MIN - 0.001, "unlikely"),
        (-0.2, "unlikely"),
    ],
)
def test_band_thresholds(similarity, expected):
    assert faces.band(similarity) == expected


def test_band_labels_in_chinese():
    assert str(faces.BAND_LABELS["likely"]) == "很可能是同一人"
    assert str(faces.BAND_LABELS["review"]) == "需人工核对"
    assert str(faces.BAND_LABELS["unlikely"]) == "可能性低"


def test_vector_bytes_round_trip():
    vector = random_unit_vectors(1)[0]

    data = faces.vector_to_bytes(vector)

    assert len(data) == faces.VECTOR_SIZE * 4
    assert np.array_equal(faces.vector_from_bytes(data), vector)
    assert faces.vector_from_bytes(data).flags.writeable


@pytest.mark.parametrize("size", [0, 4, faces.VECTOR_SIZE * 4 - 1, 1024])
def test_vector_from_bytes_rejects_length(size):
    with pytest.raises(ValueError):
        faces.vector_from_bytes(b"\0" * size)


def test_gallery_search_order_and_k():
    vectors = random_unit_vectors(50)
    gallery = faces.Gallery([f"id-{index}" for index in range(50)], vectors)

    results = gallery.search(vectors[7], k=5)
    similarities = [value for _, value in results]

    assert len(results) == 5
    assert results[0][0] == "id-7"
    assert results[0][1] == pytest.approx(1.0, abs=1e-5)
    assert similarities == sorted(similarities, reverse=True)
    assert len(gallery.search(vectors[7], k=100)) == 50


def test_gallery_returns_each_id_once():
    vectors = random_unit_vectors(30)
    # Ten ids with three vectors each.
    gallery = faces.Gallery([index // 3 for index in range(30)], vectors)

    results = gallery.search(vectors[4], k=10)
    ids = [result_id for result_id, _ in results]

    assert len(ids) == 10
    assert len(set(ids)) == 10
    assert results[0] == (1, pytest.approx(1.0, abs=1e-5))
    best_of_id_2 = float(max(vectors[6:9] @ vectors[4]))
    assert dict(results)[2] == pytest.approx(best_of_id_2, abs=1e-6)


def test_gallery_add_remove_replace():
    vectors = random_unit_vectors(200)
    gallery = faces.Gallery()
    assert gallery.search(vectors[0]) == []

    for index in range(100):
        gallery.add(index, vectors[index])
    gallery.add(5, vectors[150])

    assert len(gallery) == 101
    assert gallery.search(vectors[150], k=1)[0][0] == 5
    assert gallery.remove(5) == 2
    assert gallery.remove(5) == 0
    assert len(gallery) == 99
    assert gallery.search(vectors[5], k=1)[0][0] != 5

    gallery.replace(["a", "b"], vectors[:2])

    assert len(gallery) == 2
    assert [result_id for result_id, _ in gallery.search(vectors[1])] == ["b", "a"]


def test_gallery_rejects_wrong_shapes():
    gallery = faces.Gallery()

    with pytest.raises(ValueError):
        gallery.add(1, np.zeros(64, dtype=np.float32))
    with pytest.raises(ValueError):
        gallery.replace([1, 2], random_unit_vectors(3))
    with pytest.raises(ValueError):
        gallery.search(np.zeros(64, dtype=np.float32))


def test_gallery_search_during_replace():
    old = faces.Gallery(
        [f"old-{index}" for index in range(500)], random_unit_vectors(500)
    )
    new_ids = [f"new-{index}" for index in range(500)]
    new_vectors = random_unit_vectors(500, seed=1)
    query = random_unit_vectors(1, seed=2)[0]
    stop = threading.Event()
    mixed = []

    def keep_changing():
        while not stop.is_set():
            old.replace(new_ids, new_vectors)
            old.add("new-extra", query)
            old.remove("new-extra")

    writer = threading.Thread(target=keep_changing)
    writer.start()
    try:
        for _ in range(2000):
            prefixes = {result_id[:3] for result_id, _ in old.search(query, k=10)}
            if len(prefixes) != 1:
                mixed.append(prefixes)
    finally:
        stop.set()
        writer.join()

    assert mixed == []
