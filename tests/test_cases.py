import io
import json
from datetime import date, timedelta

import pytest

from db.audit import AuditLog
from db.base import utcnow
from db.cases import Case, CaseAlias, Placement, StatusChange
from db.interviews import Clue, Interview
from db.matching import FaceSearch
from db.photos import Photo
from db.settings import Setting
from db.tasks import Task
from services import cases, rules
from services.timezone import utc_to_local
from tests.conftest import face_bytes

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(body):
    """Complete a 17-digit body with its GB 11643 check character."""
    total = sum(
        int(digit) * weight for digit, weight in zip(body, WEIGHTS, strict=True)
    )
    return body + "10X98765432"[total % 11]


VALID_ID = id_number("44010619800101123")
X_ID = next(
    id_number(f"1101011990030712{n}")
    for n in range(10)
    if id_number(f"1101011990030712{n}").endswith("X")
)


def intake(client, station_id, photo="obama_4.jpg", **fields):
    data = {
        "station": str(station_id),
        "sex": "male",
        "found_at": "2026-12-01T08:30",
        "found_place": "广州火车站",
        "photos": [(io.BytesIO(face_bytes(photo)), photo)],
    }
    data.update(fields)
    return client.post("/cases/new", data=data, content_type="multipart/form-data")


@pytest.fixture
def case(app, staff_client, users):
    response = intake(
        staff_client,
        users["staff"].station_id,
        name="张伟",
        age_min="40",
        age_max="50",
        id_number=VALID_ID,
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        return Case.get()


def test_intake_creates_placement_and_rule_tasks(app, case):
    with app.app_context():
        placement = Placement.get(Placement.case == case.id)
        rules_made = {t.rule: t for t in Task.select().where(Task.case == case.id)}
    assert placement.kind == "station"
    assert placement.end_date is None
    assert set(rules_made) == {
        "search_notice",
        "dna_request",
        "long_stay_review",
        "settlement_review",
    }
    notice = rules_made["search_notice"]
    assert notice.due_at - case.created_at == timedelta(hours=24)
    assert rules_made["long_stay_review"].due_at - case.created_at == timedelta(days=10)


def test_rule_periods_are_settings(app, users, stations):
    with app.app_context():
        Setting.put("search_notice_hours", 12)
        Setting.put("settlement_months", 1)
        due = rules.rule_deadlines(utcnow().replace(month=1, day=31, hour=1))
    assert due["search_notice"].hour == 13
    assert due["settlement_review"].month == 2
    assert due["settlement_review"].day in (28, 29)


def test_dna_deadline_counts_working_days(app):
    # Friday 2026-09-25 at 10:00 in Guangzhou; the National Day holiday runs
    # from 1 to 8 October 2026, so 7 working days end after it.
    with app.app_context():
        due = rules.rule_deadlines(utcnow().replace(2026, 9, 25, 2, 0))["dna_request"]
    assert due.date() > date(2026, 10, 8)


def test_id_number_stored_decoded_and_masked(app, case, staff_client):
    assert case.id_number == VALID_ID
    assert case.id_region_code == "440106"
    assert case.id_birth_date == date(1980, 1, 1)
    page = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert VALID_ID not in page
    assert VALID_ID[:4] + "**********" + VALID_ID[-4:] in page
    listing = staff_client.get("/cases/").get_data(as_text=True)
    assert VALID_ID not in listing


def test_full_id_number_shown_on_request_and_audited(app, case, staff_client):
    response = staff_client.post(
        f"/cases/{case.id}/id-number", headers={"HX-Request": "true"}
    )
    assert VALID_ID in response.get_data(as_text=True)
    with app.app_context():
        entry = AuditLog.get(AuditLog.action == "case_id_viewed")
    assert entry.object_id == str(case.id)
    assert VALID_ID not in entry.detail


@pytest.mark.parametrize(
    "raw, stored",
    [
        (X_ID[:-1] + "x", X_ID),
        (X_ID[:-1] + "Ｘ", X_ID),
        (" " + X_ID[:6] + " " + X_ID[6:] + "\u200b", X_ID),
    ],
)
def test_id_number_forms_normalised(app, staff_client, users, raw, stored):
    response = intake(staff_client, users["staff"].station_id, id_number=raw)
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        assert Case.get().id_number == stored


@pytest.mark.parametrize(
    "raw",
    [
        VALID_ID[:-1] + ("0" if VALID_ID[-1] != "0" else "1"),
        "99" + VALID_ID[2:],
        "12345",
    ],
)
def test_invalid_id_number_rejected(app, staff_client, users, raw):
    response = intake(staff_client, users["staff"].station_id, id_number=raw)
    assert response.status_code == 422
    assert "身份证" in response.get_data(as_text=True)
    with app.app_context():
        assert Case.select().count() == 0


def test_status_workflow_and_timeline(app, case, staff_client):
    response = staff_client.post(
        f"/cases/{case.id}/status", data={"target": "searching", "reason": "开始寻亲"}
    )
    assert response.status_code == 303
    with app.app_context():
        change = StatusChange.get()
        assert Case.get_by_id(case.id).status == "searching"
    assert (change.from_status, change.to_status) == ("in_station", "searching")
    page = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "状态：在站 → 寻亲中" in page
    assert "开始寻亲" in page


@pytest.mark.parametrize(
    "start, target",
    [
        ("in_station", "returned"),
        ("in_station", "identified"),
        ("returned", "searching"),
        ("deceased", "in_station"),
        ("searching", "awaiting_return"),
    ],
)
def test_invalid_transitions_rejected(app, case, users, start, target):
    with app.app_context():
        Case.update(status=start).where(Case.id == case.id).execute()
        fresh = Case.get_by_id(case.id)
        with pytest.raises(cases.WorkflowError):
            cases.change_status(fresh, target, "测试", users["supervisor"])
        assert Case.get_by_id(case.id).status == start
        assert StatusChange.select().count() == 0


def test_identity_confirmation_needs_supervisor(app, case, users, login_as):
    with app.app_context():
        Case.update(status="searching").where(Case.id == case.id).execute()
        fresh = Case.get_by_id(case.id)
        with pytest.raises(cases.WorkflowError):
            cases.change_status(fresh, "identified", "家属确认", users["staff"])
        assert "identified" not in cases.allowed_targets(fresh, users["staff"])
    response = login_as("supervisor").post(
        f"/cases/{case.id}/status", data={"target": "identified", "reason": "家属确认"}
    )
    assert response.status_code == 303
    with app.app_context():
        assert Case.get_by_id(case.id).status == "identified"


def test_status_change_needs_reason(app, case, staff_client):
    response = staff_client.post(
        f"/cases/{case.id}/status", data={"target": "searching", "reason": ""}
    )
    assert response.status_code == 422
    assert "请填写状态变更的原因" in response.get_data(as_text=True)


def edit_form(case, **changes):
    data = {
        "version": str(case.version),
        "name": case.name,
        "sex": case.sex,
        "found_at": "2026-12-01T08:30",
        "found_place": case.found_place,
        "arrival_way": case.arrival_way,
        "id_number": case.id_number or "",
    }
    data.update(changes)
    return data


def test_edit_saves_and_audits_changes(app, case, staff_client):
    response = staff_client.post(
        f"/cases/{case.id}/edit",
        data=edit_form(case, dialect="四川口音", height_cm="170"),
    )
    assert response.status_code == 303
    with app.app_context():
        saved = Case.get_by_id(case.id)
        entry = AuditLog.get(AuditLog.action == "case_updated")
    assert saved.dialect == "四川口音"
    assert saved.height_cm == 170
    assert saved.version == case.version + 1
    assert json.loads(entry.detail)["fields"]["dialect"] == ["", "四川口音"]


def test_second_stale_save_is_refused_with_changes(app, case, staff_client, login_as):
    other = login_as("supervisor")
    first = staff_client.post(
        f"/cases/{case.id}/edit", data=edit_form(case, found_place="越秀公园")
    )
    assert first.status_code == 303
    second = other.post(
        f"/cases/{case.id}/edit", data=edit_form(case, found_place="天河客运站")
    )
    page = second.get_data(as_text=True)
    assert second.status_code == 409
    assert "他人已修改此个案" in page
    assert "广州火车站 → 越秀公园" in page
    assert "天河客运站" in page  # the refused values stay in the form
    with app.app_context():
        assert Case.get_by_id(case.id).found_place == "越秀公园"
    retry = other.post(
        f"/cases/{case.id}/edit",
        data=edit_form(case, found_place="天河客运站", version=str(case.version + 1)),
    )
    assert retry.status_code == 303


def test_placement_history_and_long_stay(app, case, staff_client, login_as):
    with app.app_context():
        today = utc_to_local(utcnow()).date()
    earlier = staff_client.post(
        f"/cases/{case.id}/placements",
        data={
            "kind": "hospital",
            "institution": "市第一人民医院",
            "start_date": str(today - timedelta(days=1)),
        },
    )
    assert earlier.status_code == 422
    assert "不能早于当前安置" in earlier.get_data(as_text=True)
    response = staff_client.post(
        f"/cases/{case.id}/placements",
        data={
            "kind": "hospital",
            "institution": "市第一人民医院",
            "start_date": str(today),
        },
    )
    assert response.status_code == 303
    with app.app_context():
        history = list(Placement.select().order_by(Placement.id))
        assert history[0].end_date == today
        assert history[1].kind == "hospital"
        assert Case.get_by_id(case.id).placement == "hospital"
        Case.update(created_at=utcnow() - timedelta(days=30)).where(
            Case.id == case.id
        ).execute()
    page = login_as("supervisor").get("/supervision/long-stay").get_data(as_text=True)
    assert "市第一人民医院" in page
    assert case.case_number in page
    detail = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "长期滞留" in detail


def test_long_stay_respects_setting(app, case, login_as):
    with app.app_context():
        Case.update(created_at=utcnow() - timedelta(days=5)).where(
            Case.id == case.id
        ).execute()
        Setting.put("long_stay_days", 3)
    page = login_as("supervisor").get("/supervision/long-stay").get_data(as_text=True)
    assert case.case_number in page


def test_interview_clues_and_tasks(app, case, staff_client, users):
    response = staff_client.post(
        f"/cases/{case.id}/interviews",
        data={"held_at": "2026-12-02T10:00", "content": "说家在襄樊，二哥叫王大山"},
    )
    assert response.status_code == 303
    staff_client.post(f"/cases/{case.id}/clues", data={"kind": "place", "text": "襄樊"})
    staff_client.post(
        f"/cases/{case.id}/clues", data={"kind": "accent", "text": "四川口音"}
    )
    with app.app_context():
        place = Clue.get(Clue.kind == "place")
        accent = Clue.get(Clue.kind == "accent")
        assert place.interview_id == Interview.get().id
    assert "襄阳" in place.interpretation
    assert place.division_code.startswith("4206")
    assert "四川" in accent.interpretation
    response = staff_client.post(
        f"/cases/{case.id}/clues/{place.id}/tasks",
        data={
            "kind": "call",
            "title": "联系襄阳市救助站",
            "owner": str(users["staff"].id),
            "due_at": "2026-12-20T17:00",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        task = Task.get(Task.clue == place.id)
        assert Clue.get_by_id(place.id).status == "tried"
    staff_client.post(
        f"/cases/{case.id}/tasks/{task.id}/done", data={"outcome": "对方称无此人"}
    )
    staff_client.post(
        f"/cases/{case.id}/clues/{place.id}/status",
        data={"status": "ruled_out", "note": "已排除"},
    )
    with app.app_context():
        assert Task.get_by_id(task.id).status == "done"
        assert Clue.get_by_id(place.id).status == "ruled_out"
    page = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "已排除" in page
    assert "对方称无此人" in page


def test_overdue_tasks_escalate_to_supervisor(app, case, login_as):
    with app.app_context():
        Task.update(due_at=utcnow() - timedelta(hours=1)).where(
            (Task.case == case.id) & (Task.rule == "search_notice")
        ).execute()
    page = login_as("supervisor").get("/supervision/").get_data(as_text=True)
    assert "发布寻亲公告" in page
    assert case.case_number in page
    with app.app_context():
        task = Task.get((Task.case == case.id) & (Task.rule == "search_notice"))
        assert task.escalated_at is not None
    other = login_as("coordinator").get("/supervision/").get_data(as_text=True)
    assert case.case_number in other


def test_dna_status_completes_rule_task(app, case, staff_client):
    staff_client.post(
        f"/cases/{case.id}/dna",
        data={"dna_status": "requested", "dna_note": "已联系派出所"},
    )
    with app.app_context():
        assert Case.get_by_id(case.id).dna_status == "requested"
        task = Task.get((Task.case == case.id) & (Task.rule == "dna_request"))
    assert task.status == "done"


def test_merge_keeps_everything(app, case, staff_client, users, login_as):
    second = intake(
        staff_client,
        users["staff"].station_id,
        photo="obama_1.jpg",
        name="黄师傅",
        confirm_new="1",
        marks="左手有疤",
    )
    assert second.status_code == 303
    with app.app_context():
        other = Case.select().order_by(Case.id.desc()).get()
        Interview.create(
            case=other,
            held_at=utcnow(),
            interviewer=users["staff"].id,
            content="自述姓黄",
        )
        StatusChange.create(
            case=other,
            from_status="in_station",
            to_status="searching",
            reason="寻亲",
            user=users["staff"].id,
        )
        FaceSearch.create(
            photo=other.photos.get(),
            case=other,
            user=users["staff"].id,
            model_name="Dlib",
            model_version="v1",
            gallery_size=0,
            seconds=0.1,
        )
        before = {
            "photos": Photo.select().where(Photo.case.in_([case.id, other.id])).count(),
            "tasks": Task.select().where(Task.case.in_([case.id, other.id])).count(),
        }
    response = login_as("supervisor").post(
        f"/cases/{case.id}/merge",
        data={"other_number": other.case_number, "reason": "同一人两次登记"},
    )
    assert response.status_code == 303
    with app.app_context():
        merged = Case.get_by_id(case.id)
        assert Case.get_by_id(other.id).merged_into_id == case.id
        assert Photo.select().where(Photo.case == case.id).count() == before["photos"]
        assert Task.select().where(Task.case == case.id).count() == before["tasks"]
        assert Interview.get().case_id == case.id
        assert StatusChange.get().case_id == case.id
        assert FaceSearch.get().case_id == case.id
        assert Placement.select().where(Placement.case == case.id).count() == 2
        assert [a.name for a in CaseAlias.select()] == ["黄师傅"]
        assert merged.marks == "左手有疤"
    listing = staff_client.get("/cases/").get_data(as_text=True)
    assert f">{other.case_number}</a>" not in listing
    assert f">{case.case_number}</a>" in listing
    followed = staff_client.get(f"/cases/{other.id}")
    assert followed.status_code == 303


def test_merge_needs_supervisor(app, case, staff_client):
    response = staff_client.post(
        f"/cases/{case.id}/merge", data={"other_number": "x", "reason": "y"}
    )
    assert response.status_code == 403


def pending_token(page):
    return page.split('name="pending" type="hidden" value="')[1].split('"')[0]


def confirm_pending(client, station_id, token, **fields):
    """Confirm a new person, reusing the photos kept under `token`."""
    data = {
        "station": str(station_id),
        "sex": "male",
        "found_at": "2026-12-01T08:30",
        "found_place": "广州火车站",
        "pending": token,
        "confirm_new": "1",
    }
    data.update(fields)
    return client.post("/cases/new", data=data)


def test_repeat_visitor_same_id_shown_before_saving(app, case, staff_client, users):
    response = intake(
        staff_client,
        users["staff"].station_id,
        photo="biden_2.jpg",
        id_number=VALID_ID,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "可能已有此人的记录" in page
    assert case.case_number in page
    assert "身份证号相同" in page
    with app.app_context():
        assert Case.select().count() == 1
    confirmed = confirm_pending(
        staff_client, users["staff"].station_id, pending_token(page), id_number=VALID_ID
    )
    assert confirmed.status_code == 303
    with app.app_context():
        newest = Case.select().order_by(Case.id.desc()).get()
        assert newest.photos.count() == 1


def test_repeat_visitor_found_by_face(app, case, staff_client, users):
    response = intake(staff_client, users["staff"].station_id, photo="obama_1.jpg")
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "照片人脸相似" in page
    assert case.case_number in page


def test_repeat_visitor_found_by_similar_name(app, case, staff_client, users):
    response = intake(
        staff_client,
        users["staff"].station_id,
        photo="rose_leslie_2.jpg",
        name="章玮",
        age_min="45",
        age_max="55",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "姓名读音相近" in page


def test_pending_photos_of_other_session_refused(
    app, case, staff_client, users, login_as
):
    page = intake(staff_client, users["staff"].station_id, photo="obama_1.jpg")
    token = pending_token(page.get_data(as_text=True))
    response = confirm_pending(login_as("supervisor"), users["staff"].station_id, token)
    assert response.status_code == 422
    assert "照片已失效" in response.get_data(as_text=True)


def test_settings_page_for_admin(app, login_as):
    admin = login_as("admin")
    response = admin.post(
        "/supervision/settings",
        data={
            "search_notice_hours": "48",
            "dna_request_workdays": "5",
            "long_stay_days": "15",
            "settlement_months": "6",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        assert Setting.get_value("search_notice_hours") == 48
    bad = admin.post("/supervision/settings", data={"search_notice_hours": "-1"})
    assert bad.status_code == 422
    assert login_as("staff").get("/supervision/settings").status_code == 403


def test_attachments_checked_by_content(app, case, staff_client, login_as):
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    response = staff_client.post(
        f"/cases/{case.id}/attachments",
        data={"file": (io.BytesIO(pdf), "医院证明.pdf"), "description": "出院小结"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    bad = staff_client.post(
        f"/cases/{case.id}/attachments",
        data={"file": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "证明.pdf")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    assert "不是 PDF" in bad.get_data(as_text=True)
    with app.app_context():
        from db.attachments import Attachment

        item = Attachment.get()
        assert Attachment.select().count() == 1
    download = staff_client.get(f"/cases/{case.id}/attachments/{item.id}")
    assert download.data == pdf
    assert "attachment" in download.headers["Content-Disposition"]
    other = login_as("other_staff")
    assert other.get(f"/cases/{case.id}/attachments/{item.id}").status_code == 404
    page = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "医院证明.pdf" in page


def test_interview_suggests_place_and_accent_clues(app, case, staff_client):
    staff_client.post(
        f"/cases/{case.id}/interviews",
        data={
            "held_at": "2026-12-02T10:00",
            "content": "他说老家在襄樊，说话带四川口音",
        },
    )
    page = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "从最近一次问询中识别出的线索" in page
    assert "湖北省襄阳市（旧称）" in page
    assert "口音可能来自：四川省" in page
    staff_client.post(f"/cases/{case.id}/clues", data={"kind": "place", "text": "襄樊"})
    page = staff_client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'name="text" value="襄樊"' not in page
