import io
from datetime import date, datetime

import pytest

from db.audit import AuditLog
from db.cases import Case
from db.matching import MatchCandidate, MatchDecision
from db.reports import MissingReport
from services import facts
from tests.conftest import PASSWORD, face_bytes


def files(*names):
    return [(io.BytesIO(face_bytes(n)), n) for n in names]


def add_report(client, name, photo, **fields):
    data = {
        "sought_name": name,
        "sex": "male",
        "reporter_name": "家属",
        "reporter_phone": "13800000000",
        "photos": files(photo),
    }
    data.update(fields)
    response = client.post(
        "/reports/new", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def add_case(app, client, station_id, photo, **fields):
    data = {
        "station": str(station_id),
        "sex": "male",
        "found_at": "2026-12-01T08:30",
        "found_place": "广州火车站",
        "confirm_new": "1",
        "photos": files(photo),
    }
    data.update(fields)
    response = client.post("/cases/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        return Case.select().order_by(Case.id.desc()).get()


@pytest.fixture
def searched(app, staff_client, users):
    add_report(staff_client, "黄建国", "obama_1.jpg")
    add_report(staff_client, "王德顺", "biden_1.jpg")
    case = add_case(app, staff_client, users["staff"].station_id, "obama_4.jpg")
    with app.app_context():
        photo = case.photos.get()
        target = MissingReport.get(MissingReport.sought_name == "黄建国")
    staff_client.post(f"/cases/{case.id}/photos/{photo.id}/search")
    return case, photo, target


def review_url(case, report):
    return f"/cases/{case.id}/reports/{report.id}/review"


def test_review_page_shows_pair_and_facts(app, searched, staff_client):
    case, _, report = searched
    page = staff_client.get(review_url(case, report)).get_data(as_text=True)
    assert "比对审查" in page
    assert "黄建国" in page
    assert "人脸相似度" in page
    assert "相符" in page or "无法比较" in page
    with app.app_context():
        decision = MatchDecision.get()
    assert decision.status == "pending"
    assert decision.face_score > 0.9


def test_review_needs_reason(app, searched, staff_client):
    case, _, report = searched
    response = staff_client.post(review_url(case, report), data={"status": "same"})
    assert response.status_code == 422
    assert "请填写审查理由" in response.get_data(as_text=True)


def test_sign_off_confirms_identity(app, searched, staff_client, login_as, users):
    case, _, report = searched
    staff_client.post(
        review_url(case, report),
        data={"status": "same", "reason": "五官一致，口音相符"},
    )
    with app.app_context():
        decision = MatchDecision.get()
    supervisor = login_as("supervisor")
    assert "待签批的身份确认" in supervisor.get("/inbox").get_data(as_text=True)
    wrong = supervisor.post(
        f"/decisions/{decision.id}/sign-off", data={"password": "wrong"}
    )
    assert wrong.status_code == 422
    assert "密码不正确" in wrong.get_data(as_text=True)
    with app.app_context():
        assert Case.get_by_id(case.id).status == "in_station"
        assert AuditLog.select().where(AuditLog.action == "signoff_failed").count() == 1
    right = supervisor.post(
        f"/decisions/{decision.id}/sign-off", data={"password": PASSWORD}
    )
    assert right.status_code == 303
    with app.app_context():
        assert Case.get_by_id(case.id).status == "identified"
        assert MissingReport.get_by_id(report.id).status == "closed"
        signed = MatchDecision.get_by_id(decision.id)
        entry = AuditLog.get(AuditLog.action == "identity_confirmed")
    assert signed.signed_off_by_id == users["supervisor"].id
    assert entry.user_id == users["supervisor"].id


def test_staff_cannot_sign_off(app, searched, staff_client):
    case, _, report = searched
    staff_client.post(review_url(case, report), data={"status": "same", "reason": "像"})
    with app.app_context():
        decision = MatchDecision.get()
    response = staff_client.post(
        f"/decisions/{decision.id}/sign-off", data={"password": PASSWORD}
    )
    assert response.status_code == 403


def test_reviewer_cannot_sign_own_review(app, searched, login_as):
    case, _, report = searched
    supervisor = login_as("supervisor")
    supervisor.post(review_url(case, report), data={"status": "same", "reason": "像"})
    with app.app_context():
        decision = MatchDecision.get()
    response = supervisor.post(
        f"/decisions/{decision.id}/sign-off", data={"password": PASSWORD}
    )
    assert response.status_code == 422
    assert "不能签批自己审查" in response.get_data(as_text=True)


def test_ruled_out_pair_stays_out_until_reopened(app, searched, staff_client):
    case, photo, report = searched
    staff_client.post(
        review_url(case, report), data={"status": "not_same", "reason": "身高不符"}
    )
    staff_client.post(f"/cases/{case.id}/photos/{photo.id}/search")
    with app.app_context():
        latest = MatchCandidate.select().order_by(MatchCandidate.id.desc())
        latest_search = latest.first().search_id
        names = [
            c.report.sought_name
            for c in MatchCandidate.select().where(
                MatchCandidate.search == latest_search
            )
        ]
    assert "黄建国" not in names
    refused = staff_client.post(f"/cases/{case.id}/reports/{report.id}/reopen")
    assert refused.status_code == 303
    with app.app_context():
        assert MatchDecision.get().status == "not_same"
    staff_client.post(
        f"/cases/{case.id}/photos",
        data={"photos": files("obama_3.jpg")},
        content_type="multipart/form-data",
    )
    reopened = staff_client.post(f"/cases/{case.id}/reports/{report.id}/reopen")
    assert reopened.status_code == 303
    with app.app_context():
        assert MatchDecision.get().status == "pending"
    staff_client.post(f"/cases/{case.id}/photos/{photo.id}/search")
    with app.app_context():
        newest = MatchCandidate.select().order_by(MatchCandidate.id.desc()).first()
        names = [
            c.report.sought_name
            for c in MatchCandidate.select().where(
                MatchCandidate.search == newest.search_id
            )
        ]
    assert "黄建国" in names


def test_new_report_reaches_case_station_inbox(app, staff_client, users, login_as):
    case = add_case(app, staff_client, users["staff"].station_id, "rose_leslie_2.jpg")
    add_report(staff_client, "林雪梅", "rose_leslie_1.jpg", sex="female")
    with app.app_context():
        decision = MatchDecision.get()
    assert decision.case_id == case.id
    assert decision.kind == "new_report"
    assert decision.band == "likely"
    inbox = staff_client.get("/inbox").get_data(as_text=True)
    assert "林雪梅" in inbox
    assert "新寻亲登记自动比对" in inbox
    assert "林雪梅" not in login_as("other_staff").get("/inbox").get_data(as_text=True)


def test_search_log_for_supervisors(app, searched, login_as):
    case, _, _ = searched
    supervisor = login_as("supervisor")
    page = supervisor.get("/searches/log").get_data(as_text=True)
    assert case.case_number in page
    assert "黄建国" in page
    filtered = supervisor.get("/searches/log?q=nobody").get_data(as_text=True)
    assert case.case_number not in filtered
    assert login_as("staff").get("/searches/log").status_code == 403


def make_case(**fields):
    values = {
        "sex": "male",
        "age_min": 48,
        "age_max": 55,
        "found_at": datetime(2026, 12, 1, 2, 0),
        "dialect": "陕西口音",
        "height_cm": 172,
        "marks": "左手背有烫伤疤痕",
    }
    values.update(fields)
    return Case(**values)


def make_report(**fields):
    values = {
        "sex": "male",
        "age_at_missing": 45,
        "last_seen_on": date(2020, 1, 12),
        "last_seen_place": "陕西省汉中市城固县",
        "height_cm": 170,
        "marks": "左手背有疤痕",
    }
    values.update(fields)
    return MissingReport(**values)


def verdicts(rows):
    return {row["field"]: row["verdict"] for row in rows}


def test_facts_agree_when_consistent(app):
    with app.app_context():
        rows = facts.compare(make_case(), make_report())
    assert verdicts(rows) == {
        "sex": "agree",
        "age": "agree",
        "dates": "agree",
        "place": "agree",
        "height": "agree",
        "marks": "agree",
    }


@pytest.mark.parametrize(
    "case_fields, report_fields, field, verdict",
    [
        ({}, {"sex": "female"}, "sex", "differ"),
        ({"sex": "unknown"}, {}, "sex", "unknown"),
        ({}, {"age_at_missing": 20}, "age", "differ"),
        ({}, {"last_seen_on": date(2026, 12, 3)}, "dates", "differ"),
        ({"dialect": "粤语"}, {}, "place", "differ"),
        ({}, {"height_cm": 150}, "height", "differ"),
        ({"age_min": None, "age_max": None}, {}, "age", "unknown"),
    ],
)
def test_facts_differ_or_unknown(app, case_fields, report_fields, field, verdict):
    with app.app_context():
        rows = facts.compare(make_case(**case_fields), make_report(**report_fields))
    assert verdicts(rows)[field] == verdict


def test_age_counts_years_since_missing(app):
    # 45 when last seen in 2010 is about 62 in late 2026.
    report = make_report(last_seen_on=date(2010, 1, 1))
    with app.app_context():
        young = verdicts(facts.compare(make_case(), report))["age"]
        old = verdicts(facts.compare(make_case(age_min=58, age_max=65), report))["age"]
    assert young == "differ"
    assert old == "agree"


def test_score_adds_and_subtracts_weights(app):
    rows = [
        {"field": "sex", "verdict": "agree"},
        {"field": "age", "verdict": "differ"},
        {"field": "height", "verdict": "unknown"},
    ]
    assert facts.score(0.9, rows, {"sex": 6, "age": 4, "height": 3}) == 92.0
