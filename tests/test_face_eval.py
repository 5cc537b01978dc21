import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from services import face_eval, faces

DEMO_FACES = Path(__file__).resolve().parents[1] / "demo" / "faces"
PIPELINE_KEYS = {
    "failed",
    "failures",
    "rank1",
    "rank1_of_embedded",
    "rank1_probes",
    "tar_at_far",
    "at_threshold",
    "genuine_min",
    "impostor_max",
    "seconds_per_photo",
    "pipeline",
}


@pytest.fixture(scope="module")
def weights_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("deepface")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPFACE_HOME", str(home))
        faces.ensure_weights(home)
        yield home


@pytest.fixture(scope="module")
def demo_result(weights_home):
    return face_eval.evaluate(DEMO_FACES, reference=True)


def test_evaluate_counts_demo_set(demo_result):
    assert demo_result["photos"] == 15
    assert demo_result["identities"] == 6
    assert demo_result["genuine_pairs"] == 14
    assert demo_result["impostor_pairs"] == 91
    assert "1/91" in demo_result["far_method"]


def test_evaluate_structure(demo_result):
    for name in ("ours", "reference"):
        figures = demo_result[name]

        assert set(figures) == PIPELINE_KEYS, name
        assert set(figures["tar_at_far"]) == {"0.01", "0.001"}, name
        assert figures["rank1_probes"] == 14, name
        assert figures["seconds_per_photo"] > 0, name
    json.dumps(demo_result)


def test_evaluate_ours_on_demo(demo_result):
    ours = demo_result["ours"]

    assert ours["failed"] == 0
    assert ours["rank1"] == 1.0
    assert ours["at_threshold"]["threshold"] == faces.LIKELY_MIN
    assert ours["at_threshold"]["far"] == 0.0
    assert ours["tar_at_far"]["0.001"]["tar"] == 1.0


def test_evaluate_ours_beats_reference(demo_result):
    ours, reference = demo_result["ours"], demo_result["reference"]

    assert ours["tar_at_far"]["0.001"]["tar"] >= reference["tar_at_far"]["0.001"]["tar"]
    assert ours["at_threshold"]["accuracy"] >= reference["at_threshold"]["accuracy"]
    assert ours["genuine_min"] > reference["genuine_min"]


def test_evaluate_skips_reference(weights_home, tmp_path):
    folder = copy_demo(tmp_path, ["obama_1.jpg", "obama_2.jpg", "biden_1.jpg"])

    result = face_eval.evaluate(folder, reference=False)

    assert "reference" not in result
    assert result["genuine_pairs"] == 1
    assert result["impostor_pairs"] == 2
    assert result["ours"]["rank1"] == 1.0


def test_degraded_copies_never_paired_with_own_source(weights_home, tmp_path):
    source = copy_demo(tmp_path / "clean", ["obama_1.jpg", "obama_2.jpg"])

    folder = face_eval.write_degraded_copies(source, tmp_path / "copies", copies=2)
    listed = face_eval.read_labels(folder)
    genuine, impostor = face_eval.pair_indices(listed)

    assert len(listed) == 4
    assert {photo.source for photo in listed} == {"obama_1.jpg", "obama_2.jpg"}
    assert len(genuine) == 4
    assert impostor == []


def test_tar_at_far_with_few_impostor_pairs():
    genuine = np.array([0.95, 0.90, 0.85, math.nan])
    impostor = np.array([0.70, 0.80, 0.88])

    result = face_eval.tar_at_far(genuine, impostor, 0.001)

    assert result["threshold"] == 0.88
    assert result["tar"] == 0.5
    assert result["far"] == 0.0


def test_tar_at_far_allows_share_of_impostors():
    impostor = np.linspace(0.0, 0.999, 1000)
    genuine = np.array([0.9995, 0.9985, 0.5])

    result = face_eval.tar_at_far(genuine, impostor, 0.001)

    assert result["threshold"] == pytest.approx(0.998)
    assert result["far"] == 0.001
    assert result["tar"] == pytest.approx(2 / 3, abs=1e-4)


def test_far_method_says_how_threshold_chosen():
    assert "highest impostor score" in face_eval.far_method(91)
    assert "at most that share" in face_eval.far_method(5000)


def test_evaluate_without_labels_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        face_eval.evaluate(tmp_path, reference=False)


def copy_demo(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    with open(DEMO_FACES / "labels.csv", newline="") as labels_file:
        rows = [row for row in csv.DictReader(labels_file) if row["file"] in names]
    with open(folder / "labels.csv", "w", newline="") as labels_file:
        writer = csv.DictWriter(labels_file, fieldnames=["file", "identity"])
        writer.writeheader()
        writer.writerows(rows)
    for name in names:
        shutil.copy(DEMO_FACES / name, folder / name)
    return folder
