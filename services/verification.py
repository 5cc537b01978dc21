"""Identity-verification requests between stations: the workflow and its rules.

A request goes draft → sent → received → in progress → answered → closed.
The requesting station (the "from" side) drafts, sends, supplements after a
"needs more information" answer, and closes. The receiving station (the "to"
side) receives, starts and answers. When the receiving station does not use
this deployment, the requesting side records those steps itself, from a
reply file, a phone call or a letter. Every change is a VerificationEvent,
an audit row and a line on the case timeline.
"""

import logging
from datetime import datetime, time

from flask_babel import lazy_gettext as _l

from access import CASE_ROLES, visible_station_ids
from db.audit import AuditLog
from db.base import database, utcnow
from db.cases import Case
from db.photos import Photo
from db.settings import Setting
from db.tasks import Task
from db.verification import (
    ASKS,
    VerificationEvent,
    VerificationFile,
    VerificationRequest,
)
from services import rules
from services.errors import InputError
from services.timezone import local_to_utc, utc_to_local
from services.workdays import add_workdays

logger = logging.getLogger("tuanyuan.verification")

R = VerificationRequest
FROM_SIDE = "from"
TO_SIDE = "to"
SIGNOFF_PENDING = "pending"
SIGNOFF_APPROVED = "approved"
SIGNOFF_REJECTED = "rejected"
SIGNOFF_ROLES = ("supervisor", "coordinator")
REMINDER_RULE = "verification:{id}"
# Case statuses reached only once the person's identity is known.
IDENTIFIED_STATUSES = (Case.IDENTIFIED, Case.AWAITING_RETURN, Case.RETURNED)


class VerificationError(InputError):
    pass


# Side checks


def sides(user, request):
    """Return the sides of `request` that `user` works for: a set of FROM/TO.

    The receiving side does not see a draft. An imported request has only a
    receiving side here: its requesting station is in another installation.
    """
    if user.role not in CASE_ROLES:
        return set()
    ids = visible_station_ids(user)
    found = set()
    if not request.imported and (ids is None or request.from_station_id in ids):
        found.add(FROM_SIDE)
    if request.status != R.DRAFT and (ids is None or request.to_station_id in ids):
        found.add(TO_SIDE)
    return found


def visible_to(user):
    """Requests that `user` may see: sent or received by their stations."""
    if user.role not in CASE_ROLES:
        return R.select().where(R.id == 0)
    ids = visible_station_ids(user)
    query = R.select()
    if ids is None:
        return query
    sent = R.from_station.in_(ids) & (R.imported == False)  # noqa: E712
    received = R.to_station.in_(ids) & (R.status != R.DRAFT)
    return query.where(sent | received)


def inbox(user):
    """Requests addressed to the user's stations, newest first."""
    ids = visible_station_ids(user)
    query = visible_to(user).where(R.status != R.DRAFT)
    if ids is not None:
        query = query.where(R.to_station.in_(ids))
    return query.order_by(R.sent_at.desc(nulls="LAST"), R.id.desc())


def outbox(user):
    ids = visible_station_ids(user)
    query = visible_to(user).where(R.imported == False)  # noqa: E712
    if ids is not None:
        query = query.where(R.from_station.in_(ids))
    return query.order_by(R.created_at.desc(), R.id.desc())


def overdue(user, today):
    """Requests of the user's stations still owed an answer after their due date."""
    return (
        visible_to(user)
        .where(R.status.in_(R.WAITING) & (R.due_date < today))
        .order_by(R.due_date, R.id)
    )


# Drafting


def default_known_facts(case):
    """Return the request form's summary of what the station has recorded.

    The ID number is left out: it travels in its own field, which staff
    include on purpose.
    """
    lines = [
        str(_l("个案编号：%(number)s", number=case.case_number)),
        str(_l("姓名（自述）：%(name)s", name=case.name or _l("不详"))),
        str(_l("性别：%(sex)s", sex=case.sex_label)),
    ]
    if case.age_min or case.age_max:
        lines.append(
            str(
                _l(
                    "估计年龄：%(low)s–%(high)s 岁",
                    low=case.age_min or "?",
                    high=case.age_max or "?",
                )
            )
        )
    optional = (
        (_l("方言口音"), case.dialect),
        (_l("体貌特征"), case.marks),
        (_l("发现地点"), case.found_place),
        (_l("本人提到的联系人"), case.contacts_mentioned),
        (_l("备注"), case.notes),
    )
    for label, value in optional:
        if value:
            lines.append(f"{label}：{value}")
    if case.found_at:
        lines.append(
            str(
                _l(
                    "发现时间：%(when)s",
                    when=utc_to_local(case.found_at).strftime("%Y-%m-%d %H:%M"),
                )
            )
        )
    return "\n".join(lines)


def create_draft(case, to_station, values, photo_ids, user):
    """Create a draft request about `case`; raises VerificationError.

    `values` contains asks (list of ASKS keys), question, known_facts,
    include_id_number, contact_name and contact_phone.
    """
    if to_station.id == case.station_id:
        raise VerificationError(
            "same_station", _l("不能向本个案的登记站点自己发起核实请求。")
        )
    asks = [code for code in values["asks"] if code in ASKS]
    if not asks:
        raise VerificationError("asks", _l("请至少选择一项请求核实的事项。"))
    wanted = set(photo_ids or [])
    photos = list(case.photos.where(Photo.id.in_(list(wanted) or [0])))
    if len(photos) != len(wanted):
        raise VerificationError("photos", _l("所选照片不属于本个案。"))
    with database.atomic():
        request = R.create(
            case=case,
            case_number=case.case_number,
            from_station=case.station_id,
            to_station=to_station,
            known_facts=values["known_facts"].strip(),
            id_number=case.id_number if values.get("include_id_number") else None,
            asks=",".join(asks),
            question=values["question"].strip(),
            contact_name=values["contact_name"].strip(),
            contact_phone=values["contact_phone"].strip(),
            created_by=user,
        )
        for photo in photos:
            VerificationFile.create(
                request=request,
                role=VerificationFile.PHOTO,
                photo=photo,
                original_name=photo.original_name,
                sha256=photo.sha256,
                uploaded_by=user,
            )
        _record(request, "", R.DRAFT, user, user.station_id, "created")
    logger.info("verification request %s drafted for case %s", request.id, case.id)
    return request


# State changes


def _require_side(user, request, side):
    if side not in sides(user, request):
        raise VerificationError("side", _l("您所在站点不能对此请求执行该操作。"))


def _require_status(request, *allowed):
    if request.status not in allowed:
        raise VerificationError(
            "status",
            _l(
                "请求当前为“%(status)s”，不能执行该操作。",
                status=request.status_label,
            ),
        )


def _acting_station(user, request, side):
    return request.from_station_id if side == FROM_SIDE else request.to_station_id


def _record(request, from_status, to_status, user, station_id, action, note=""):
    VerificationEvent.create(
        request=request,
        from_status=from_status,
        to_status=to_status,
        user=user,
        station=station_id,
        note=note,
    )
    AuditLog.append(
        f"verification_{action}",
        user=user,
        obj=request,
        detail={
            "case": request.case_id,
            "from": from_status,
            "to": to_status,
            "outcome": request.outcome or "",
        },
    )


def _move(request, target, user, side, action, note="", **fields):
    """Change the status unless the request changed since it was loaded."""
    previous = request.status
    with database.atomic():
        rows = (
            R.update(status=target, version=R.version + 1, **fields)
            .where(
                (R.id == request.id)
                & (R.status == previous)
                & (R.version == request.version)
            )
            .execute()
        )
        if rows == 0:
            raise VerificationError(
                "stale", _l("该请求已被他人处理，请刷新页面后重试。")
            )
        fresh = R.get_by_id(request.id)
        _record(
            fresh,
            previous,
            target,
            user,
            _acting_station(user, request, side),
            action,
            note,
        )
    logger.info(
        "verification request %s: %s -> %s by user %s",
        request.id,
        previous,
        target,
        user.id if user else "-",
    )
    return fresh


def due_date_for(sent_at):
    """Return the due date: the local day the answer period (in working
    days) ends."""
    workdays = Setting.get_value("verification_answer_workdays")
    return add_workdays(utc_to_local(sent_at).date(), workdays)


def send(request, user):
    """Send a draft; the receiving station's inbox, or a letter and a file."""
    _require_side(user, request, FROM_SIDE)
    _require_status(request, R.DRAFT)
    now = utcnow()
    return _move(
        request,
        R.SENT,
        user,
        FROM_SIDE,
        "sent",
        sent_at=now,
        due_date=due_date_for(now),
    )


def supplement(request, text, user):
    """Add what the receiving station asked for and send the request again."""
    _require_side(user, request, FROM_SIDE)
    _require_status(request, R.ANSWERED)
    if request.outcome != R.NEEDS_MORE:
        raise VerificationError(
            "outcome", _l("只有答复为“需补充信息”的请求才能补充后重新发送。")
        )
    text = (text or "").strip()
    if not text:
        raise VerificationError("supplement", _l("请填写补充的信息。"))
    now = utcnow()
    stamp = utc_to_local(now).strftime("%Y-%m-%d")
    facts = f"{request.known_facts}\n{_l('【%(day)s 补充】', day=stamp)}{text}"
    return _move(
        request,
        R.SENT,
        user,
        FROM_SIDE,
        "supplemented",
        note=text,
        known_facts=facts.strip(),
        sent_at=now,
        due_date=due_date_for(now),
        outcome=None,
        received_at=None,
        answered_at=None,
    )


def _receiving_side(user, request):
    """Return the side that records the receiving station's steps for `user`.

    The receiving station itself when it uses this deployment or imported
    the request; otherwise the requesting station, from what it heard.
    """
    found = sides(user, request)
    online = request.to_station.receives_online or request.imported
    if online and TO_SIDE in found:
        return TO_SIDE
    if not online and FROM_SIDE in found:
        return FROM_SIDE
    raise VerificationError("side", _l("您所在站点不能对此请求执行该操作。"))


def receive(request, user):
    side = _receiving_side(user, request)
    _require_status(request, R.SENT)
    return _move(request, R.RECEIVED, user, side, "received", received_at=utcnow())


def start(request, user):
    side = _receiving_side(user, request)
    _require_status(request, R.RECEIVED)
    return _move(request, R.IN_PROGRESS, user, side, "started")


def answer(request, values, user, channel=None, files=None, stored=None):
    """Record the answer: confirmed, not found or needs more information.

    The receiving station answers on the platform. The requesting station
    records an answer that came by phone or letter (`channel`). `files` are
    (name, bytes, mime type) already checked by content; `stored` is the
    caller's photo_store.StoredFiles, which removes them if the answer fails.
    """
    outcome = values.get("outcome")
    if outcome not in R.OUTCOMES:
        raise VerificationError("outcome", _l("请选择核实结果。"))
    text = (values.get("answer_text") or "").strip()
    if not text:
        raise VerificationError("answer_text", _l("请填写核实情况。"))
    if outcome == R.CONFIRMED and not (values.get("answer_name") or "").strip():
        raise VerificationError("answer_name", _l("身份已核实时请填写核实的姓名。"))
    if channel in ("phone", "letter"):
        _require_side(user, request, FROM_SIDE)
        side = FROM_SIDE
    else:
        side = _receiving_side(user, request)
        if side == FROM_SIDE:
            channel = channel or "phone"
        else:
            channel = "exchange" if request.imported else "platform"
    _require_status(request, *R.WAITING)
    now = utcnow()
    with database.atomic():
        fresh = _move(
            request,
            R.ANSWERED,
            user,
            side,
            "answered",
            note=f"{R.OUTCOMES[outcome]}：{text}",
            outcome=outcome,
            answer_text=text,
            answer_name=(values.get("answer_name") or "").strip(),
            answer_address=(values.get("answer_address") or "").strip(),
            answer_contact=(values.get("answer_contact") or "").strip(),
            answer_channel=channel,
            answered_by_name=user.full_name,
            answered_at=now,
            received_at=request.received_at or now,
        )
        if files:
            store_answer_files(fresh, files, user, stored)
        _finish_reminder(fresh, now)
    return fresh


def close(request, reason, user):
    """Accept the answer, or withdraw an unanswered request, with a reason.

    Closing a confirmed answer waits for a supervisor's sign-off before the
    case counts as identified.
    """
    reason = (reason or "").strip()
    found = sides(user, request)
    side = FROM_SIDE if FROM_SIDE in found else TO_SIDE
    if request.imported:
        # The receiving installation closes its copy once the reply is out.
        _require_side(user, request, TO_SIDE)
        _require_status(request, R.ANSWERED)
    else:
        _require_side(user, request, FROM_SIDE)
        _require_status(request, R.DRAFT, R.ANSWERED, *R.WAITING)
        side = FROM_SIDE
    if request.status != R.ANSWERED and not reason:
        raise VerificationError("reason", _l("撤回未答复的请求时请填写原因。"))
    fields = {"closed_at": utcnow(), "close_reason": reason}
    if not request.imported and request.outcome == R.CONFIRMED:
        fields["signoff_status"] = SIGNOFF_PENDING
    with database.atomic():
        fresh = _move(request, R.CLOSED, user, side, "closed", note=reason, **fields)
        _finish_reminder(fresh, fresh.closed_at)
    return fresh


def pending_signoffs(user):
    """Confirmed identities from requests that wait for a supervisor."""
    ids = visible_station_ids(user)
    query = R.select().where(R.signoff_status == SIGNOFF_PENDING)
    if ids is not None:
        query = query.where(R.from_station.in_(ids))
    return query.order_by(R.closed_at)


def _last_actor(request, status):
    event = (
        request.events.where(VerificationEvent.to_status == status)
        .order_by(VerificationEvent.id.desc())
        .first()
    )
    return event.user_id if event else None


def earlier_confirmations(request):
    """Other requests about the same case whose confirmed identity was approved."""
    if request.case_id is None:
        return []
    return list(
        R.select()
        .where(
            (R.case == request.case_id)
            & (R.id != request.id)
            & (R.signoff_status == SIGNOFF_APPROVED)
        )
        .order_by(R.signed_off_at)
    )


def _same_name(first, second):
    return "".join(first.split()) == "".join(second.split())


def sign_off(request, password, approve, reason, user):
    """Approve or reject a confirmed identity; approval marks the case identified.

    The supervisor signs with their password, as for a face match. Neither
    the person who recorded the answer nor the one who accepted it may sign
    it. Approving a name that differs from an identity already approved for
    the same case needs a reason. Raises VerificationError.
    """
    if user.role not in SIGNOFF_ROLES:
        raise VerificationError("role", _l("确认身份须由审核人签批。"))
    _require_side(user, request, FROM_SIDE)
    if request.signoff_status != SIGNOFF_PENDING:
        raise VerificationError("signoff", _l("该核实结果不在待签批状态。"))
    if _last_actor(request, R.ANSWERED) == user.id:
        raise VerificationError(
            "own_answer", _l("登记该答复的人不能自己签批，请由另一位审核人签批。")
        )
    if _last_actor(request, R.CLOSED) == user.id:
        raise VerificationError(
            "own_close", _l("采纳答复的人不能自己签批，请由另一位审核人签批。")
        )
    if not user.check_password(password or ""):
        AuditLog.append("signoff_failed", user=user, obj=request, detail={})
        raise VerificationError("password", _l("密码不正确，签批未完成。"))
    reason = (reason or "").strip()
    if not approve and not reason:
        raise VerificationError("reason", _l("退回时请填写原因。"))
    conflicting = [
        earlier
        for earlier in earlier_confirmations(request)
        if not _same_name(earlier.answer_name, request.answer_name)
    ]
    if approve and conflicting and not reason:
        raise VerificationError(
            "name_conflict",
            _l(
                "本个案已经核实为“%(name)s”，与本次的“%(new)s”不同。"
                "如仍要批准，请在意见说明中写明理由。",
                name=conflicting[0].answer_name,
                new=request.answer_name,
            ),
        )
    with database.atomic():
        status = SIGNOFF_APPROVED if approve else SIGNOFF_REJECTED
        rows = (
            R.update(signoff_status=status, signed_off_by=user, signed_off_at=utcnow())
            .where((R.id == request.id) & (R.signoff_status == SIGNOFF_PENDING))
            .execute()
        )
        if rows == 0:
            raise VerificationError("stale", _l("该核实结果已被他人签批。"))
        note = _l("审核人退回：%(reason)s", reason=reason)
        if approve:
            note = _confirm_case(request, reason, user)
        fresh = R.get_by_id(request.id)
        _record(
            fresh,
            R.CLOSED,
            R.CLOSED,
            user,
            request.from_station_id,
            "signed_off" if approve else "signoff_rejected",
            str(note),
        )
    return fresh


def _confirm_case(request, reason, user):
    """Mark the case identified unless it already is; return the event note."""
    from services import cases

    case = Case.get_by_id(request.case_id)
    change_reason = str(
        _l(
            "%(station)s 核实身份为 %(name)s，经审核签批",
            station=request.to_station.name,
            name=request.answer_name,
        )
    )
    already = case.status in IDENTIFIED_STATUSES or earlier_confirmations(request)
    if case.status == Case.IN_STATION:
        case = cases.change_status(case, Case.SEARCHING, change_reason, user)
    if case.status == Case.SEARCHING:
        case = cases.change_status(case, Case.IDENTIFIED, change_reason, user)
    AuditLog.append(
        "identity_reconfirmed" if already else "identity_confirmed",
        user=user,
        obj=case,
        detail={"verification_request": request.id},
    )
    if already:
        note = _l(
            "审核人批准；个案此前已确认身份，状态仍为“%(status)s”",
            status=case.status_label,
        )
    elif case.status == Case.IDENTIFIED:
        note = _l("审核人批准，个案身份已确认")
    else:
        note = _l(
            "审核人批准；个案状态为“%(status)s”，未变更", status=case.status_label
        )
    if reason:
        note = f"{note}。{reason}"
    return note


# Files


def store_answer_files(request, files, user, stored=None):
    """Write answer attachments; call inside the transaction of the answer."""
    from services import exchange

    for name, data, mime_type in files:
        exchange.store_file(
            request, VerificationFile.ANSWER, name, data, mime_type, user, stored
        )


# Reminders


def remind_overdue(now):
    """Give each overdue request a reminder task on its case; return them.

    Called by rules.escalate_overdue, so `flask tasks escalate` and the
    supervisors' page both raise reminders. One task per request: it stays
    open until the request is answered or closed, then it is completed.
    """
    today = utc_to_local(now).date()
    due = list(
        R.select().where(
            R.status.in_(R.WAITING)
            & (R.due_date < today)
            & R.case.is_null(False)
            & (R.imported == False)  # noqa: E712
        )
    )
    reminded = []
    for request in due:
        rule = REMINDER_RULE.format(id=request.id)
        exists = (
            Task.select()
            .where((Task.case == request.case_id) & (Task.rule == rule))
            .exists()
        )
        if exists:
            continue
        with database.atomic():
            Task.create(
                case=request.case_id,
                kind="verification",
                rule=rule,
                title=str(
                    _l(
                        "催办身份核实请求：%(station)s 逾期未答复",
                        station=request.to_station.name,
                    )
                ),
                owner=request.created_by_id,
                due_at=local_to_utc(datetime.combine(request.due_date, time(23, 59))),
                created_at=now,
            )
            R.update(reminded_at=now, reminder_count=R.reminder_count + 1).where(
                R.id == request.id
            ).execute()
            AuditLog.append(
                "verification_reminded",
                obj=request,
                detail={"case": request.case_id, "due": str(request.due_date)},
            )
        reminded.append(request)
    if reminded:
        logger.info("reminders for %d overdue verification request(s)", len(reminded))
    return reminded


def _finish_reminder(request, now):
    # NOTE: the case timeline credits a done task to its owner because Task
    # stores no completer, so the outcome text names who answered.
    if request.case_id is None:
        return
    rules.complete_rule(
        Case(id=request.case_id),
        REMINDER_RULE.format(id=request.id),
        _reminder_outcome(request),
        now,
    )


def _reminder_outcome(request):
    """Return who answered or that the request closed, for the reminder task."""
    if request.status != R.ANSWERED:
        return str(_l("核实请求%(status)s", status=request.status_label))
    if request.answer_channel == "platform":
        return str(
            _l(
                "%(station)s %(name)s 已答复核实请求",
                station=request.to_station.name,
                name=request.answered_by_name,
            )
        )
    return str(
        _l(
            "%(station)s 已答复核实请求（%(channel)s，由 %(name)s 登记）",
            station=request.to_station.name,
            channel=request.channel_label,
            name=request.answered_by_name,
        )
    )


# Case timeline

_ACTION_TITLES = {
    R.DRAFT: _l("起草身份核实请求（致 %(station)s）"),
    R.SENT: _l("发出身份核实请求（致 %(station)s）"),
    R.RECEIVED: _l("%(station)s 已接收身份核实请求"),
    R.IN_PROGRESS: _l("%(station)s 开始办理身份核实"),
    R.ANSWERED: _l("%(station)s 答复身份核实"),
    R.CLOSED: _l("身份核实请求结束（%(station)s）"),
}


def events_for_case(case):
    """Timeline rows (time, kind, title, detail, who) of the case's requests."""
    rows = (
        VerificationEvent.select(VerificationEvent, R)
        .join(R)
        .where(R.case == case)
        .order_by(VerificationEvent.id)
    )
    result = []
    for event in rows:
        request = event.request
        title = _ACTION_TITLES[event.to_status]
        if event.from_status == R.CLOSED:
            title = _l("身份核实结果签批")
        text = str(title % {"station": request.to_station.name})
        result.append((event.created_at, "verification", text, event.note, event.who))
    return result


# Printed letter (协查函)


def letter_content(request):
    """Return the content of the printed assistance letter (协查函) as a dict.

    The document service lays it out; this function only collects the
    content: recipient, sender, case summary, what is asked, due date,
    contact, and the request id and photos that let the recipient match the
    letter with the exchange file.
    """
    photos = list(request.files.where(VerificationFile.role == VerificationFile.PHOTO))
    return {
        "request_id": request.public_id,
        "recipient": {
            "name": request.to_station.name,
            "address": request.to_station.address,
            "division_code": request.to_station.division_code,
        },
        "sender": {
            "name": request.from_station.name,
            "address": request.from_station.address,
            "phone": request.from_station.phone,
        },
        "case_number": request.case_number,
        "case_summary": request.known_facts,
        "id_number": request.id_number or "",
        "asks": request.ask_labels,
        "question": request.question,
        "due_date": request.due_date,
        "sent_at": utc_to_local(request.sent_at) if request.sent_at else None,
        "contact_name": request.contact_name,
        "contact_phone": request.contact_phone,
        "photo_file_ids": [item.id for item in photos],
    }
