import json
from pathlib import Path

import numpy as np
import pytest

from db.accounts import User
from db.audit import AuditLog
from db.documents import Commendation
from db.reports import MissingReport
from services import demo
from tests.conftest import face_path


@pytest.fixture
def demo_app(app):
    with app.app_context():
        demo.load(app)
    return app


def test_demo_load_creates_each_role_once(demo_app):
    with demo_app.app_context():
        roles = sorted(u.role for u in User.select())
        again = demo.load(demo_app)
        assert User.select().count() == 5
        assert MissingReport.select().count() == len(demo.REPORTS)
        assert Commendation.select().count() == 1
    assert roles == sorted(User.ROLES)
    saved = json.loads(demo.logins_file(demo_app).read_text())
    assert [item["username"] for item in again] == [item["username"] for item in saved]
    assert oct(demo.logins_file(demo_app).stat().st_mode & 0o777) == "0o600"


def test_demo_logins_work(demo_app):
    logins = demo.saved_logins(demo_app)
    client = demo_app.test_client()
    staff = next(item for item in logins if item["username"] == "staff")
    response = client.post(
        "/login", data={"username": "staff", "password": staff["password"]}
    )
    assert response.status_code == 302


def test_faces_search_prints_ranked_candidates(demo_app):
    runner = demo_app.test_cli_runner()
    result = runner.invoke(
        args=["faces", "search", str(face_path("rose_leslie_2.jpg")), "--limit", "3"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()[:2] == "1."]
    assert "林雪梅" in lines[0]
    assert "很可能是同一人" in lines[0]
    assert "比对库共 10 个人脸特征" in result.output


def test_faces_search_rejects_non_photo(demo_app, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("plain text")
    result = demo_app.test_cli_runner().invoke(args=["faces", "search", str(text)])
    assert result.exit_code == 2
    assert "无法比对" in result.output


def test_audit_verify_command(demo_app):
    runner = demo_app.test_cli_runner()
    assert "未发现篡改" in runner.invoke(args=["audit", "verify"]).output
    with demo_app.app_context():
        AuditLog.update(username="someone else").execute()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1


def create_user(app, username, password):
    return app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            username,
            "--name",
            "新同事",
            "--role",
            "staff",
            "--station",
            "海珠区救助管理分站",
            "--password",
            password,
        ]
    )


def test_users_create_command(demo_app):
    result = create_user(demo_app, "newstaff", "A-long-password-1")
    assert result.exit_code == 0, result.output
    with demo_app.app_context():
        user = User.get(User.username == "newstaff")
        assert user.check_password("A-long-password-1")
        assert user.station.short_name == "海珠"


def test_install_weights_links_model_files(app):
    result = app.test_cli_runner().invoke(args=["faces", "install-weights"])
    assert result.exit_code == 0
    weights = Path(app.config["FACES_HOME"]) / ".deepface" / "weights"
    assert (weights / "dlib_face_recognition_resnet_model_v1.dat").exists()


@pytest.mark.parametrize(
    "username, password, message",
    [
        ("staff", "A-long-password-1", "已存在"),
        ("bad name", "A-long-password-1", "用户名须为"),
        ("<script>", "A-long-password-1", "用户名须为"),
        ("shortpass", "abc", "密码至少"),
    ],
)
def test_users_create_rejects_bad_input(demo_app, username, password, message):
    result = create_user(demo_app, username, password)
    assert result.exit_code != 0
    assert message in result.output


def test_reembed_replaces_old_model_vectors(demo_app):
    from db.photos import FaceVector, Photo
    from services import faces, gallery

    with demo_app.app_context():
        FaceVector.update(model_version="an-older-model").execute()
        hits, size = gallery.search(np.ones(128, dtype=np.float32) / np.sqrt(128))
        assert size == 0
        photos = Photo.select().count()
    result = demo_app.test_cli_runner().invoke(args=["faces", "reembed"])
    assert result.exit_code == 0, result.output
    assert f"已重新提取 {photos} 张" in result.output
    with demo_app.app_context():
        current = FaceVector.select().where(
            FaceVector.model_version == faces.MODEL_VERSION
        )
        assert current.count() == photos
        assert FaceVector.select().count() == 2 * photos
        _, size = gallery.search(np.ones(128, dtype=np.float32) / np.sqrt(128))
        assert size == 10


def test_faces_evaluate_prints_json(app):
    result = app.test_cli_runner().invoke(
        args=["faces", "evaluate", str(Path("demo/faces").resolve()), "--no-reference"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{") :])
    assert figures["photos"] == 15
    assert figures["ours"]["rank1"] == 1.0
    assert figures["ours"]["at_threshold"]["far"] == 0.0


def test_faces_evaluate_needs_labels(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["faces", "evaluate", str(tmp_path)])
    assert result.exit_code != 0
    assert "无法评估" in result.output
