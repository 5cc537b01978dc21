import io
from pathlib import Path

import pytest
from PIL import Image

from db.audit import AuditLog
from db.cases import Case, CaseNumberCounter
from db.photos import FaceVector, Photo
from tests.conftest import face_bytes, image_bytes


def case_form(**overrides):
    data = {
        "station": "",
        "name": "张𠮷",
        "sex": "male",
        "age_min": "40",
        "age_max": "50",
        "found_at": "2026-12-01T08:30",
        "found_place": "广州火车站",
        "notes": "自述来自湖南",
        # Tests here register the same photo again on purpose; the check for
        # earlier records has its own tests.
        "confirm_new": "1",
    }
    data.update(overrides)
    return data


def upload(data, name):
    return (io.BytesIO(data), name)


@pytest.fixture
def post_case(app, staff_client, users):
    def post(files, client=staff_client, **overrides):
        form = case_form(station=str(users["staff"].station_id), **overrides)
        form["photos"] = files
        return client.post("/cases/new", data=form, content_type="multipart/form-data")

    return post


def count_rows(app):
    with app.app_context():
        return (
            Case.select().count(),
            Photo.select().count(),
            FaceVector.select().count(),
        )


def stored_files(app):
    return [p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file()]


def test_register_case_with_photo(app, post_case):
    response = post_case([upload(face_bytes("obama_4.jpg"), "正面照.jpg")])
    assert response.status_code == 303
    with app.app_context():
        case = Case.get()
        assert case.case_number.startswith("越秀-")
        assert case.name == "张𠮷"
        assert case.age_min == 40
        photo = case.photos.get()
        assert photo.original_name == "正面照.jpg"
        assert photo.faces.count() == 1
        actions = [r.action for r in AuditLog.select().order_by(AuditLog.id)]
    assert actions[-1] == "case_created"
    assert len(stored_files(app)) == 2


def test_found_time_stored_as_utc(app, post_case):
    post_case([upload(face_bytes("obama_4.jpg"), "a.jpg")])
    with app.app_context():
        assert Case.get().found_at.isoformat() == "2026-12-01T00:30:00"


def test_case_numbers_count_up_per_station(app, post_case):
    for _ in range(2):
        post_case([upload(face_bytes("obama_4.jpg"), "a.jpg")])
    with app.app_context():
        numbers = [c.case_number for c in Case.select().order_by(Case.id)]
        assert numbers[0].endswith("-0001")
        assert numbers[1].endswith("-0002")
        assert CaseNumberCounter.get().last_value == 2


def test_empty_form_shows_messages_and_saves_nothing(app, staff_client, users):
    response = staff_client.post(
        "/cases/new", data={"station": str(users["staff"].station_id)}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请填写发现时间" in page
    assert "请填写发现地点" in page
    assert "请至少上传一张照片" in page
    assert count_rows(app) == (0, 0, 0)


@pytest.mark.parametrize(
    "data, name, message",
    [
        (b"just some text, not a picture", "photo.jpg", "格式"),
        (image_bytes((600, 600)), "blank.jpg", "未检测到人脸"),
        (face_bytes("obama_4.jpg")[:4000], "cut.jpg", "损坏"),
    ],
)
def test_bad_photo_rejected_and_nothing_saved(app, post_case, data, name, message):
    response = post_case([upload(data, name)])
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert name in page
    assert count_rows(app) == (0, 0, 0)
    assert stored_files(app) == []


def test_one_bad_photo_among_good_ones_saves_nothing(app, post_case):
    files = [
        upload(face_bytes("obama_4.jpg"), "good.jpg"),
        upload(b"%PDF-1.4 not an image", "bad.jpg"),
    ]
    assert post_case(files).status_code == 422
    assert count_rows(app) == (0, 0, 0)


def test_oversized_photo_rejected(app_factory, users, password_hash):
    app = app_factory(PHOTO_MAX_BYTES=100_000)
    client = app.test_client()
    client.post("/login", data={"username": "staff", "password": "Correct-Horse-42"})
    response = client.post(
        "/cases/new",
        data={
            **case_form(station=str(users["staff"].station_id)),
            "photos": [upload(face_bytes("obama_4.jpg") + b"\0" * 200_000, "big.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "超过" in response.get_data(as_text=True)


def test_request_over_limit_gets_chinese_413(app_factory, users):
    app = app_factory(MAX_CONTENT_LENGTH=50_000)
    client = app.test_client()
    client.post("/login", data={"username": "staff", "password": "Correct-Horse-42"})
    response = client.post(
        "/cases/new",
        data={"photos": [upload(b"\0" * 60_000, "huge.jpg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "内容过大" in response.get_data(as_text=True)


def test_rotated_transparent_and_gray_photos_accepted(app, post_case):
    face = Image.open(io.BytesIO(face_bytes("biden_2.jpg"))).convert("RGB")
    rotated = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90° clockwise
    face.rotate(90, expand=True).save(rotated, "JPEG", exif=exif)
    transparent = io.BytesIO()
    face.convert("RGBA").save(transparent, "PNG")
    gray = io.BytesIO()
    face.convert("L").save(gray, "JPEG")
    files = [
        upload(rotated.getvalue(), "手机照片.jpg"),
        upload(transparent.getvalue(), "透明.png"),
        upload(gray.getvalue(), "黑白.jpg"),
    ]
    response = post_case(files)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert count_rows(app) == (1, 3, 3)
    stored = sorted(stored_files(app))
    for path in stored:
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert not image.getexif()


def test_htmx_form_errors_swap_the_form_only(app, post_case, staff_client):
    response = staff_client.post(
        "/cases/new", data={"station": "1"}, headers={"HX-Request": "true"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert page.lstrip().startswith("<form")
    assert "<html" not in page


def test_htmx_success_redirects(app, post_case, staff_client, users):
    form = case_form(station=str(users["staff"].station_id))
    form["photos"] = [upload(face_bytes("obama_4.jpg"), "a.jpg")]
    response = staff_client.post(
        "/cases/new",
        data=form,
        content_type="multipart/form-data",
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/cases/")


def test_future_found_time_rejected(post_case):
    response = post_case(
        [upload(face_bytes("obama_4.jpg"), "a.jpg")], found_at="2099-01-01T00:00"
    )
    assert "不能晚于现在" in response.get_data(as_text=True)


def test_age_range_checked(post_case):
    response = post_case(
        [upload(face_bytes("obama_4.jpg"), "a.jpg")], age_min="60", age_max="20"
    )
    assert "最大年龄不能小于最小年龄" in response.get_data(as_text=True)


def test_staff_cannot_register_for_other_station(app, post_case, users, stations):
    response = post_case(
        [upload(face_bytes("obama_4.jpg"), "a.jpg")],
    )
    assert response.status_code == 303
    form = case_form(station=str(stations["haizhu"].id))
    form["photos"] = [upload(face_bytes("obama_4.jpg"), "a.jpg")]
    client = app.test_client()
    client.post("/login", data={"username": "staff", "password": "Correct-Horse-42"})
    response = client.post("/cases/new", data=form, content_type="multipart/form-data")
    assert response.status_code == 422
    assert count_rows(app)[0] == 1


def test_case_pages_hidden_from_other_stations(app, post_case, login_as):
    post_case([upload(face_bytes("obama_4.jpg"), "a.jpg")])
    with app.app_context():
        case = Case.get()
        photo = case.photos.get()
    other = login_as("other_staff")
    assert other.get(f"/cases/{case.id}").status_code == 404
    assert other.get(f"/photos/{photo.id}").status_code == 404
    assert case.case_number not in other.get("/cases/").get_data(as_text=True)
    coordinator = login_as("coordinator")
    assert coordinator.get(f"/cases/{case.id}").status_code == 200
    assert login_as("volunteer").get(f"/cases/{case.id}").status_code == 403


def test_photo_served_only_when_logged_in(app, post_case, staff_client):
    post_case([upload(face_bytes("obama_4.jpg"), "a.jpg")])
    with app.app_context():
        photo = Photo.get()
    response = staff_client.get(f"/photos/{photo.id}")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    preview = staff_client.get(f"/photos/{photo.id}/preview")
    assert Image.open(io.BytesIO(preview.data)).size[0] <= 480
    assert app.test_client().get(f"/photos/{photo.id}").status_code == 302


def test_case_list_and_detail_show_chinese_dates(app, post_case, staff_client):
    post_case([upload(face_bytes("obama_4.jpg"), "a.jpg")])
    listing = staff_client.get("/cases/").get_data(as_text=True)
    assert "2026年12月1日 08:30" in listing
    assert "张𠮷" in listing
    fragment = staff_client.get("/cases/?page=1", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)
    restore = staff_client.get(
        "/cases/",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.get_data(as_text=True)


def test_add_photos_to_case(app, post_case, staff_client):
    post_case([upload(face_bytes("obama_4.jpg"), "a.jpg")])
    with app.app_context():
        case = Case.get()
    response = staff_client.post(
        f"/cases/{case.id}/photos",
        data={"photos": [upload(face_bytes("obama_1.jpg"), "b.jpg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    bad = staff_client.post(
        f"/cases/{case.id}/photos",
        data={"photos": [upload(b"GIF89a....", "c.gif")]},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert count_rows(app) == (1, 2, 2)


def test_face_crop_served_around_face(app, post_case, staff_client):
    post_case([upload(face_bytes("obama_1.jpg"), "a.jpg")])
    with app.app_context():
        photo = Photo.get()
        box = photo.faces.get()
    response = staff_client.get(f"/photos/{photo.id}/face")
    crop = Image.open(io.BytesIO(response.data))
    assert response.status_code == 200
    assert max(crop.size) <= 240
    assert max(crop.size) < max(photo.width, photo.height)
    assert box.box_width > 0


def test_fifty_megabyte_upload_rejected(app, post_case):
    response = post_case(
        [upload(b"\xff\xd8\xff" + b"\0" * (50 * 1024 * 1024), "大.jpg")]
    )
    assert response.status_code == 422
    assert "超过上限 20 MB" in response.get_data(as_text=True)
    assert count_rows(app) == (0, 0, 0)


def test_group_photo_asks_for_one_person(app, post_case):
    left = Image.open(io.BytesIO(face_bytes("biden_1.jpg"))).convert("RGB")
    right = Image.open(io.BytesIO(face_bytes("obama_1.jpg"))).convert("RGB")
    height = 600
    left = left.resize((round(left.width * height / left.height), height))
    right = right.resize((round(right.width * height / right.height), height))
    group = Image.new("RGB", (left.width + right.width, height), "white")
    group.paste(left, (0, 0))
    group.paste(right, (left.width, 0))
    buffer = io.BytesIO()
    group.save(buffer, "JPEG")
    response = post_case([upload(buffer.getvalue(), "合影.jpg")])
    assert response.status_code == 422
    assert "多张人脸" in response.get_data(as_text=True)
    assert count_rows(app) == (0, 0, 0)


def test_control_characters_rejected(app, post_case):
    response = post_case([upload(face_bytes("obama_4.jpg"), "a.jpg")], name="王\x00五")
    assert response.status_code == 422
    assert "控制字符" in response.get_data(as_text=True)
    assert count_rows(app) == (0, 0, 0)
