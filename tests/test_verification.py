"""Verification requests: every state change, who may make it, deadlines,
reminders and the supervisor's sign-off."""

import json
from datetime import date, timedelta

import pytest

from db.accounts import Station, User
from db.audit import AuditLog
from db.base import database, utcnow
from db.cases import Case
from db.settings import Setting
from db.tasks import Task
from db.verification import VerificationEvent, VerificationRequest
from services import cases, photo_store, rules, timeline, verification
from services.timezone import local_today, utc_to_local
from services.workdays import add_workdays
from tests.conftest import PASSWORD

R = VerificationRequest

VALUES = {
    "asks": ["confirm_identity", "find_family"],
    "question": "请核实此人是否为贵县村民，并联系家属。",
    "known_facts": "自述姓黄，口音似陕南。",
    "include_id_number": False,
    "contact_name": "周敏",
    "contact_phone": "02081234567",
}
CONFIRMED = {
    "outcome": R.CONFIRMED,
    "answer_text": "经村委会辨认，系本村村民黄建国。",
    "answer_name": "黄建国",
    "answer_address": "陕西省汉中市城固县某村",
    "answer_contact": "黄丽娟 13900000000",
}


def make_case(station, user, **fields):
    values = {"name": "老黄", "sex": "male", "found_place": "广州火车站"}
    values.update(fields)
    with photo_store.StoredFiles() as files, database.atomic():
        case = cases.create(station, values, [], files, user)
    return case


@pytest.fixture
def db(app):
    with app.test_request_context():
        database.connect(reuse_if_open=True)
        yield
        database.close()


@pytest.fixture
def people(db, users):
    return {key: User.get_by_id(user.id) for key, user in users.items()}


@pytest.fixture
def case(people):
    return make_case(people["staff"].station, people["staff"])


@pytest.fixture
def external(db):
    return Station.create(
        name="城固县救助管理站",
        short_name="城固",
        kind=Station.OTHER,
        directory_group=Station.OTHER_STATION,
        division_code="610722",
    )


def draft(case, to_station, user, **overrides):
    values = dict(VALUES, **overrides)
    return verification.create_draft(case, to_station, values, [], user)


def actions(request):
    rows = AuditLog.select().where(
        (AuditLog.object_type == "VerificationRequest")
        & (AuditLog.object_id == str(request.id))
    )
    return [row.action for row in rows.order_by(AuditLog.id)]


def test_platform_flow_every_state(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = draft(case, other.station, staff)
    assert request.status == R.DRAFT

    request = verification.send(request, staff)
    assert request.status == R.SENT
    assert request.due_date == add_workdays(utc_to_local(request.sent_at).date(), 10)
    request = verification.receive(request, other)
    assert request.status == R.RECEIVED
    assert request.received_at is not None
    request = verification.start(request, other)
    assert request.status == R.IN_PROGRESS
    request = verification.answer(request, CONFIRMED, other)
    assert request.status == R.ANSWERED
    assert request.outcome == R.CONFIRMED
    assert request.answer_channel == "platform"
    request = verification.close(request, "", staff)
    assert request.status == R.CLOSED
    assert request.signoff_status == verification.SIGNOFF_PENDING

    events = list(request.events.order_by(VerificationEvent.id))
    assert [e.to_status for e in events] == [
        R.DRAFT,
        R.SENT,
        R.RECEIVED,
        R.IN_PROGRESS,
        R.ANSWERED,
        R.CLOSED,
    ]
    assert [e.user_id for e in events] == [staff.id, staff.id] + [other.id] * 3 + [
        staff.id
    ]
    assert events[2].station_id == other.station_id
    assert actions(request) == [
        "verification_created",
        "verification_sent",
        "verification_received",
        "verification_started",
        "verification_answered",
        "verification_closed",
    ]


def test_feedback_on_case_timeline(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    verification.answer(request, CONFIRMED, other)

    rows = [e for e in timeline.build(case) if e.kind == "verification"]
    titles = [e.title for e in rows]
    assert "海珠区救助管理分站 答复身份核实" in titles
    answered = next(e for e in rows if e.title.endswith("答复身份核实"))
    assert "身份已核实" in answered.detail
    assert "黄建国" in answered.detail
    assert answered.who == other.full_name


def test_signoff_marks_case_identified(people, case):
    staff, other = people["staff"], people["other_staff"]
    supervisor = people["supervisor"]
    request = verification.send(draft(case, other.station, staff), staff)
    request = verification.answer(request, CONFIRMED, other)
    request = verification.close(request, "", staff)
    assert Case.get_by_id(case.id).status == Case.IN_STATION

    with pytest.raises(verification.VerificationError) as error:
        verification.sign_off(request, PASSWORD, True, "", staff)
    assert error.value.code == "role"
    with pytest.raises(verification.VerificationError) as error:
        verification.sign_off(request, "wrong", True, "", supervisor)
    assert error.value.code == "password"

    request = verification.sign_off(request, PASSWORD, True, "", supervisor)
    assert request.signoff_status == verification.SIGNOFF_APPROVED
    assert request.signed_off_by_id == supervisor.id
    assert Case.get_by_id(case.id).status == Case.IDENTIFIED
    assert AuditLog.select().where(AuditLog.action == "identity_confirmed").exists()

    with pytest.raises(verification.VerificationError) as error:
        verification.sign_off(request, PASSWORD, True, "", supervisor)
    assert error.value.code == "signoff"


def test_closer_cannot_sign_own_close(people, case):
    supervisor, other = people["supervisor"], people["other_staff"]
    request = verification.send(draft(case, other.station, supervisor), supervisor)
    request = verification.answer(request, CONFIRMED, other)
    request = verification.close(request, "", supervisor)
    with pytest.raises(verification.VerificationError) as error:
        verification.sign_off(request, PASSWORD, True, "", supervisor)
    assert error.value.code == "own_close"


def test_rejected_signoff_keeps_case_open(people, case):
    staff, other = people["staff"], people["other_staff"]
    coordinator = people["coordinator"]
    request = verification.send(draft(case, other.station, staff), staff)
    request = verification.answer(request, CONFIRMED, other)
    request = verification.close(request, "", staff)
    with pytest.raises(verification.VerificationError) as error:
        verification.sign_off(request, PASSWORD, False, "", coordinator)
    assert error.value.code == "reason"
    request = verification.sign_off(request, PASSWORD, False, "照片不符", coordinator)
    assert request.signoff_status == verification.SIGNOFF_REJECTED
    assert Case.get_by_id(case.id).status == Case.IN_STATION


@pytest.mark.parametrize(
    "step, actor",
    [
        ("send", "other_staff"),
        ("receive", "staff"),
        ("start", "staff"),
        ("answer", "staff"),
        ("close", "other_staff"),
    ],
)
def test_wrong_side_rejected(people, case, step, actor):
    staff, other = people["staff"], people["other_staff"]
    request = draft(case, other.station, staff)
    if step != "send":
        request = verification.send(request, staff)
    if step in ("start",):
        request = verification.receive(request, other)
    if step == "close":
        request = verification.answer(request, CONFIRMED, other)
    before = (request.status, request.version)

    with pytest.raises(verification.VerificationError) as error:
        if step == "answer":
            verification.answer(request, CONFIRMED, people[actor])
        elif step == "close":
            verification.close(request, "", people[actor])
        else:
            getattr(verification, step)(request, people[actor])
    assert error.value.code == "side"
    fresh = R.get_by_id(request.id)
    assert (fresh.status, fresh.version) == before


def test_draft_hidden_from_receiver(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = draft(case, other.station, staff)
    assert verification.sides(other, request) == set()
    assert request not in list(verification.visible_to(other))
    verification.send(request, staff)
    assert request in list(verification.inbox(other))
    assert request not in list(verification.inbox(staff))
    assert request in list(verification.outbox(staff))

    tianhe = Station.create(name="天河区救助管理分站", short_name="天河")
    outsider = User.create(
        username="tianhe",
        full_name="天河职员",
        station=tianhe,
        password_hash=staff.password_hash,
    )
    assert list(verification.visible_to(outsider)) == []
    assert list(verification.visible_to(people["volunteer"])) == []
    assert request in list(verification.visible_to(people["coordinator"]))


def test_wrong_state_rejected(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    with pytest.raises(verification.VerificationError) as error:
        verification.send(request, staff)
    assert error.value.code == "status"
    with pytest.raises(verification.VerificationError) as error:
        verification.start(request, other)
    assert error.value.code == "status"


def test_stale_request_rejected(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    loaded_twice = R.get_by_id(request.id)
    verification.receive(request, other)
    with pytest.raises(verification.VerificationError) as error:
        verification.receive(loaded_twice, other)
    assert error.value.code in ("status", "stale")
    with pytest.raises(verification.VerificationError) as error:
        stale = R.get_by_id(request.id)
        R.update(version=R.version + 1).where(R.id == request.id).execute()
        verification.start(stale, other)
    assert error.value.code == "stale"


def test_needs_more_then_supplement(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    request = verification.answer(
        request,
        {"outcome": R.NEEDS_MORE, "answer_text": "请提供正面照片和口音描述。"},
        other,
    )
    with pytest.raises(verification.VerificationError):
        verification.supplement(request, "", staff)
    request = verification.supplement(request, "补充：左手有烫伤疤痕。", staff)
    assert request.status == R.SENT
    assert request.outcome is None
    assert "左手有烫伤疤痕" in request.known_facts
    assert "verification_supplemented" in actions(request)


def test_supplement_only_after_needs_more(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    request = verification.answer(request, CONFIRMED, other)
    with pytest.raises(verification.VerificationError) as error:
        verification.supplement(request, "补充", staff)
    assert error.value.code == "outcome"


def test_withdraw_needs_reason(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    with pytest.raises(verification.VerificationError) as error:
        verification.close(request, "", staff)
    assert error.value.code == "reason"
    request = verification.close(request, "家属已自行来站认领", staff)
    assert request.status == R.CLOSED
    assert request.signoff_status == ""
    assert request.close_reason == "家属已自行来站认领"


def test_answer_checks(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    for values, code in [
        ({"outcome": "maybe", "answer_text": "x"}, "outcome"),
        ({"outcome": R.NOT_FOUND, "answer_text": " "}, "answer_text"),
        ({"outcome": R.CONFIRMED, "answer_text": "是"}, "answer_name"),
    ]:
        with pytest.raises(verification.VerificationError) as error:
            verification.answer(request, values, other)
        assert error.value.code == code
    assert R.get_by_id(request.id).status == R.SENT


def test_draft_checks(people, case):
    staff = people["staff"]
    with pytest.raises(verification.VerificationError) as error:
        draft(case, staff.station, staff)
    assert error.value.code == "same_station"
    with pytest.raises(verification.VerificationError) as error:
        draft(case, people["other_staff"].station, staff, asks=[])
    assert error.value.code == "asks"
    with pytest.raises(verification.VerificationError) as error:
        verification.create_draft(
            case, people["other_staff"].station, VALUES, [999], staff
        )
    assert error.value.code == "photos"
    assert R.select().count() == 0


def test_sender_records_external_steps(people, case, external):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, external, staff), staff)
    with pytest.raises(verification.VerificationError):
        verification.receive(request, other)
    request = verification.receive(request, staff)
    request = verification.start(request, staff)
    request = verification.answer(
        request,
        {"outcome": R.NOT_FOUND, "answer_text": "户籍系统中查无此人。"},
        staff,
        channel="phone",
    )
    assert request.status == R.ANSWERED
    assert request.answer_channel == "phone"
    request = verification.close(request, "", staff)
    assert request.signoff_status == ""


@pytest.mark.parametrize(
    "status, due_offset, overdue",
    [
        (R.SENT, -1, True),
        (R.RECEIVED, -1, True),
        (R.IN_PROGRESS, -30, True),
        (R.SENT, 0, False),
        (R.SENT, 1, False),
        (R.ANSWERED, -1, False),
        (R.CLOSED, -1, False),
        (R.DRAFT, -1, False),
    ],
)
def test_overdue_computation(status, due_offset, overdue):
    today = date(2026, 10, 9)
    request = R(status=status, due_date=today + timedelta(days=due_offset))
    assert request.is_overdue(today) is overdue


def test_due_date_skips_holidays(app, db):
    # Sent on Monday 28 September 2026: 29 and 30 September count, the
    # National Day holiday runs from 1 to 7 October, then 8, 9 and the
    # adjusted working Saturday 10 October.
    Setting.put("verification_answer_workdays", 5)
    sent_at = utcnow().replace(year=2026, month=9, day=28, hour=2)
    assert verification.due_date_for(sent_at) == date(2026, 10, 10)
    assert verification.due_date_for(sent_at) == add_workdays(date(2026, 9, 28), 5)


def test_overdue_list_and_reminder_task(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    today = local_today()
    assert list(verification.overdue(staff, today)) == []
    R.update(due_date=today - timedelta(days=2)).where(R.id == request.id).execute()
    assert [r.id for r in verification.overdue(staff, today)] == [request.id]
    assert [r.id for r in verification.overdue(other, today)] == [request.id]

    now = utcnow()
    flagged = rules.escalate_overdue(now)
    task = Task.get(Task.rule == f"verification:{request.id}")
    assert task.kind == "verification"
    assert task.owner_id == staff.id
    assert task.id in [t.id for t in flagged]
    assert "海珠区救助管理分站" in task.title
    assert R.get_by_id(request.id).reminder_count == 1

    rules.escalate_overdue(now)
    assert Task.select().where(Task.rule == f"verification:{request.id}").count() == 1
    assert R.get_by_id(request.id).reminder_count == 1

    verification.answer(R.get_by_id(request.id), CONFIRMED, other)
    assert Task.get_by_id(task.id).status == Task.DONE
    assert list(verification.overdue(staff, today)) == []


def test_audit_detail_has_no_id_number(people):
    staff, other = people["staff"], people["other_staff"]
    case = make_case(staff.station, staff, id_number="440106198001011238")
    request = draft(case, other.station, staff, include_id_number=True)
    assert request.id_number == "440106198001011238"
    verification.send(request, staff)
    for row in AuditLog.select():
        assert "440106198001011238" not in row.detail
    assert json.loads(AuditLog.select().order_by(AuditLog.id.desc()).get().detail)


def confirm_and_close(case, to_station, staff, answerer, values=CONFIRMED):
    request = verification.send(draft(case, to_station, staff), staff)
    request = verification.answer(request, values, answerer)
    return verification.close(request, "", staff)


def test_answer_recorder_cannot_sign(people, case, external):
    staff, supervisor = people["staff"], people["supervisor"]
    request = verification.send(draft(case, external, staff), staff)
    request = verification.answer(request, CONFIRMED, supervisor, channel="phone")
    request = verification.close(request, "", staff)
    with pytest.raises(verification.VerificationError) as error:
        verification.sign_off(request, PASSWORD, True, "", supervisor)
    assert error.value.code == "own_answer"
    assert R.get_by_id(request.id).signoff_status == verification.SIGNOFF_PENDING

    request = verification.sign_off(request, PASSWORD, True, "", people["coordinator"])
    assert request.signoff_status == verification.SIGNOFF_APPROVED


def test_second_confirmation_not_repeated(people, case):
    from services import verification_stats

    staff, other = people["staff"], people["other_staff"]
    supervisor = people["supervisor"]
    first = confirm_and_close(case, other.station, staff, other)
    verification.sign_off(first, PASSWORD, True, "", supervisor)
    assert Case.get_by_id(case.id).status == Case.IDENTIFIED
    status_changes = case.status_changes.count()

    renamed = dict(CONFIRMED, answer_name="黄建军")
    second = confirm_and_close(case, other.station, staff, other, renamed)
    assert [r.id for r in verification.earlier_confirmations(second)] == [first.id]
    with pytest.raises(verification.VerificationError) as error:
        verification.sign_off(second, PASSWORD, True, "", supervisor)
    assert error.value.code == "name_conflict"
    assert "黄建国" in str(error.value)

    second = verification.sign_off(
        second, PASSWORD, True, "户籍姓名为黄建军，黄建国为曾用名", supervisor
    )
    assert second.signoff_status == verification.SIGNOFF_APPROVED
    assert Case.get_by_id(case.id).status == Case.IDENTIFIED
    assert case.status_changes.count() == status_changes
    note = second.events.order_by(VerificationEvent.id.desc()).first().note
    assert "此前已确认身份" in note
    assert "曾用名" in note
    assert AuditLog.select().where(AuditLog.action == "identity_confirmed").count() == 1
    assert (
        AuditLog.select().where(AuditLog.action == "identity_reconfirmed").count() == 1
    )

    details = [e.detail for e in timeline.build(case) if e.kind == "verification"]
    assert sum("个案身份已确认" in (detail or "") for detail in details) == 1
    year = utc_to_local(utcnow()).year
    assert verification_stats.confirmed_count(staff, year) == 1
    months = verification_stats.monthly(staff, year)
    assert sum(row.confirmed for row in months) == 1


def test_same_name_reconfirmed_without_reason(people, case):
    staff, other = people["staff"], people["other_staff"]
    supervisor = people["supervisor"]
    first = confirm_and_close(case, other.station, staff, other)
    verification.sign_off(first, PASSWORD, True, "", supervisor)
    second = confirm_and_close(case, other.station, staff, other)
    second = verification.sign_off(second, PASSWORD, True, "", supervisor)
    assert second.signoff_status == verification.SIGNOFF_APPROVED


def test_reminder_closed_with_answerer(people, case):
    staff, other = people["staff"], people["other_staff"]
    request = verification.send(draft(case, other.station, staff), staff)
    today = local_today()
    R.update(due_date=today - timedelta(days=2)).where(R.id == request.id).execute()
    rules.escalate_overdue(utcnow())
    verification.answer(R.get_by_id(request.id), CONFIRMED, other)
    task = Task.get(Task.rule == f"verification:{request.id}")
    assert task.status == Task.DONE
    assert task.outcome == f"海珠区救助管理分站 {other.full_name} 已答复核实请求"
    assert "已已" not in task.outcome
