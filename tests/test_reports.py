import io

import pytest

from db.audit import AuditLog
from db.photos import GalleryRevision, Photo
from db.reports import MissingReport
from tests.conftest import face_bytes


def report_form(**overrides):
    data = {
        "sought_name": "王德顺",
        "sex": "male",
        "age_at_missing": "71",
        "last_seen_place": "河南省周口市郸城县",
        "last_seen_on": "2022-10-18",
        "reporter_name": "王海涛",
        "reporter_relation": "儿子",
        "reporter_phone": "13912345678",
        "notes": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def post_report(staff_client):
    def post(photo="biden_1.jpg", name="照片.jpg", **overrides):
        data = report_form(**overrides)
        data["photos"] = [(io.BytesIO(face_bytes(photo)), name)]
        return staff_client.post(
            "/reports/new", data=data, content_type="multipart/form-data"
        )

    return post


def test_report_joins_gallery(app, post_report):
    response = post_report()
    assert response.status_code == 303
    with app.app_context():
        report = MissingReport.get()
        assert report.sought_name == "王德顺"
        assert Photo.get().report_id == report.id
        assert len(GalleryRevision.current()) == 32


def test_report_required_fields(app, staff_client):
    response = staff_client.post("/reports/new", data={})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in (
        "请填写被寻人姓名",
        "请填写登记人姓名",
        "请填写联系电话",
        "请至少上传",
    ):
        assert message in page
    with app.app_context():
        assert MissingReport.select().count() == 0


def test_report_phone_format_checked(post_report):
    response = post_report(reporter_phone="call me")
    assert "电话号码格式不正确" in response.get_data(as_text=True)


def test_report_list_masks_phone(app, post_report, staff_client):
    post_report()
    page = staff_client.get("/reports/").get_data(as_text=True)
    assert "139****5678" in page
    assert "13912345678" not in page


def test_full_phone_shown_on_request_and_audited(app, post_report, staff_client):
    post_report()
    with app.app_context():
        report = MissingReport.get()
    detail = staff_client.get(f"/reports/{report.id}").get_data(as_text=True)
    assert "13912345678" not in detail
    response = staff_client.post(
        f"/reports/{report.id}/phone", headers={"HX-Request": "true"}
    )
    assert "13912345678" in response.get_data(as_text=True)
    with app.app_context():
        assert AuditLog.select().where(AuditLog.action == "report_phone_viewed").count()


def test_report_with_no_face_rejected(app, staff_client):
    data = report_form()
    blank = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (500, 500), "white").save(blank, "PNG")
    data["photos"] = [(io.BytesIO(blank.getvalue()), "空白.png")]
    response = staff_client.post(
        "/reports/new", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "未检测到人脸" in response.get_data(as_text=True)
    with app.app_context():
        assert MissingReport.select().count() == 0
        assert GalleryRevision.current() == ""


def test_volunteer_cannot_see_reports(login_as):
    assert login_as("volunteer").get("/reports/").status_code == 403
