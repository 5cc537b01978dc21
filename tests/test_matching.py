import io

import pytest

from db.audit import AuditLog
from db.cases import Case
from db.matching import FaceSearch, MatchCandidate
from db.photos import Photo
from db.reports import MissingReport
from services import faces, gallery
from tests.conftest import face_bytes

GALLERY = {
    "黄建国": ["obama_1.jpg", "obama_2.jpg"],
    "王德顺": ["biden_1.jpg"],
    "刘晓峰": ["kit_harington_1.jpg", "kit_harington_2.jpg"],
    "林雪梅": ["rose_leslie_1.jpg"],
    "陈志远": ["alex_lacamoire_1.png"],
}


def files(*names):
    return [(io.BytesIO(face_bytes(n)), n) for n in names]


@pytest.fixture
def gallery_reports(app, staff_client):
    for name, photos in GALLERY.items():
        response = staff_client.post(
            "/reports/new",
            data={
                "sought_name": name,
                "sex": "male",
                "reporter_name": "家属",
                "reporter_phone": "13800000000",
                "photos": files(*photos),
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 303


def register_case(app, client, photo, station_id):
    response = client.post(
        "/cases/new",
        data={
            "station": str(station_id),
            "sex": "male",
            "found_at": "2026-12-01T08:30",
            "found_place": "广州火车站",
            "confirm_new": "1",
            "photos": files(photo),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    with app.app_context():
        case = Case.select().order_by(Case.id.desc()).get()
        return case, case.photos.get()


@pytest.mark.parametrize(
    "photo, expected",
    [
        ("obama_4.jpg", "黄建国"),
        ("kit_harington_3.jpg", "刘晓峰"),
        ("rose_leslie_2.jpg", "林雪梅"),
        ("alex_lacamoire_3.jpg", "陈志远"),
        ("biden_2.jpg", "王德顺"),
    ],
)
def test_search_ranks_right_report_first(
    app, staff_client, users, gallery_reports, photo, expected
):
    case, photo_row = register_case(app, staff_client, photo, users["staff"].station_id)
    response = staff_client.post(
        f"/cases/{case.id}/photos/{photo_row.id}/search",
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<html" not in page
    with app.app_context():
        candidates = list(MatchCandidate.select().order_by(MatchCandidate.rank))
        assert candidates[0].report.sought_name == expected
        assert candidates[0].band == "likely"
        assert [c.rank for c in candidates] == list(range(1, len(GALLERY) + 1))
        assert len({c.report_id for c in candidates}) == len(GALLERY)
        assert all(c.band != "likely" for c in candidates[1:])
    assert "很可能是同一人" in page
    assert page.index(expected) < min(
        page.index(other) for other in GALLERY if other != expected
    )


def test_search_is_logged_and_viewable(app, staff_client, users, gallery_reports):
    case, photo = register_case(
        app, staff_client, "obama_4.jpg", users["staff"].station_id
    )
    staff_client.post(f"/cases/{case.id}/photos/{photo.id}/search")
    with app.app_context():
        search = FaceSearch.get()
        entry = AuditLog.get(AuditLog.action == "face_search")
        assert search.gallery_size == 7
        assert f'"search_id": {search.id}' in entry.detail
    page = staff_client.get(f"/searches/{search.id}").get_data(as_text=True)
    assert "一照寻亲结果" in page
    assert "黄建国" in page


def test_other_station_cannot_search_or_view(
    app, staff_client, users, gallery_reports, login_as
):
    case, photo = register_case(
        app, staff_client, "obama_4.jpg", users["staff"].station_id
    )
    staff_client.post(f"/cases/{case.id}/photos/{photo.id}/search")
    other = login_as("other_staff")
    assert other.post(f"/cases/{case.id}/photos/{photo.id}/search").status_code == 404
    with app.app_context():
        search_id = FaceSearch.get().id
    assert other.get(f"/searches/{search_id}").status_code == 404


def test_search_with_empty_gallery(app, staff_client, users):
    case, photo = register_case(
        app, staff_client, "obama_4.jpg", users["staff"].station_id
    )
    page = staff_client.post(f"/cases/{case.id}/photos/{photo.id}/search")
    assert "比对库中暂无寻亲登记照片" in page.get_data(as_text=True)


def test_search_photo_of_another_case_is_404(app, staff_client, users, gallery_reports):
    first, photo = register_case(
        app, staff_client, "obama_4.jpg", users["staff"].station_id
    )
    second, _ = register_case(
        app, staff_client, "rose_leslie_2.jpg", users["staff"].station_id
    )
    response = staff_client.post(f"/cases/{second.id}/photos/{photo.id}/search")
    assert response.status_code == 404


def test_gallery_reloads_after_new_report(app, staff_client, users, gallery_reports):
    case, photo = register_case(
        app, staff_client, "lin_manuel_miranda_1.png", users["staff"].station_id
    )
    with app.app_context():
        vector = faces.vector_from_bytes(photo.faces.get().vector)
        before, size_before = gallery.search(vector, 3)
    staff_client.post(
        "/reports/new",
        data={
            "sought_name": "赵明轩",
            "reporter_name": "家属",
            "reporter_phone": "13800000000",
            "photos": files("lin_manuel_miranda_1.png"),
        },
        content_type="multipart/form-data",
    )
    with app.app_context():
        after, size_after = gallery.search(vector, 3)
        new_report = MissingReport.get(MissingReport.sought_name == "赵明轩")
    assert size_after == size_before + 1
    assert after[0].report_id == new_report.id
    assert after[0].similarity > 0.99
    assert before[0].report_id != new_report.id


def test_closed_reports_leave_gallery(app, staff_client, users, gallery_reports):
    case, photo = register_case(
        app, staff_client, "obama_4.jpg", users["staff"].station_id
    )
    with app.app_context():
        vector = faces.vector_from_bytes(photo.faces.get().vector)
        target = MissingReport.get(MissingReport.sought_name == "黄建国")
        target.status = MissingReport.CLOSED
        target.save()
        from db.photos import GalleryRevision

        GalleryRevision.bump()
        hits, size = gallery.search(vector, 10)
        assert target.id not in [h.report_id for h in hits]
        assert size == 5
        assert Photo.select().count() == 8
