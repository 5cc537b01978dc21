"""Reviewing face candidates and the supervisor's sign-off of an identity."""

import json

from flask_babel import lazy_gettext as _l

from db.audit import AuditLog
from db.base import database, utcnow
from db.cases import Case
from db.matching import FaceSearch, MatchCandidate, MatchDecision
from db.photos import GalleryRevision, Photo
from db.reports import MissingReport
from services import cases, facts
from services.errors import InputError


class ReviewError(InputError):
    pass


def decision_for(case, report):
    """Return the pair's decision, made from its latest search if there is none."""
    decision = MatchDecision.get_or_none(
        (MatchDecision.case == case) & (MatchDecision.report == report)
    )
    if decision is not None:
        return decision
    latest = (
        MatchCandidate.select()
        .join(FaceSearch)
        .where((MatchCandidate.report == report) & (FaceSearch.case == case))
        .order_by(MatchCandidate.id.desc())
        .first()
    )
    if latest is None:
        return None
    rows = facts.compare(case, report)
    return MatchDecision.create(
        case=case,
        report=report,
        face_score=latest.similarity,
        band=latest.band,
        combined_score=facts.score(latest.similarity, rows),
        facts=json.dumps(rows, ensure_ascii=False),
    )


def review(decision, status, reason, user):
    reason = (reason or "").strip()
    if status not in (MatchDecision.SAME, MatchDecision.NOT_SAME, MatchDecision.UNSURE):
        raise ReviewError("status", _l("请选择审查结论。"))
    if not reason:
        raise ReviewError("reason", _l("请填写审查理由。"))
    if decision.confirmed:
        raise ReviewError("signed", _l("该比对已由审核人签批，不能再修改。"))
    with database.atomic():
        rows = facts.compare(decision.case, decision.report)
        decision.facts = json.dumps(rows, ensure_ascii=False)
        decision.combined_score = facts.score(decision.face_score, rows)
        decision.status = status
        decision.reason = reason
        decision.reviewer = user
        decision.reviewed_at = utcnow()
        decision.save()
        AuditLog.append(
            "match_reviewed",
            user=user,
            obj=decision.case,
            detail={"report": decision.report_id, "status": status},
        )
    return decision


def new_photos_since(decision):
    """True if either record got a photo after the decision was made."""
    if decision.reviewed_at is None:
        return False
    return (
        Photo.select()
        .where(
            ((Photo.case == decision.case) | (Photo.report == decision.report))
            & (Photo.created_at > decision.reviewed_at)
        )
        .exists()
    )


def reopen(decision, user):
    if decision.status != MatchDecision.NOT_SAME:
        raise ReviewError("not_ruled_out", _l("只有已排除的比对才能重新审查。"))
    if not new_photos_since(decision):
        raise ReviewError("no_new_photo", _l("排除后双方都没有新照片，不能重新审查。"))
    with database.atomic():
        decision.status = MatchDecision.PENDING
        decision.reopened_at = utcnow()
        decision.save()
        AuditLog.append(
            "match_reopened",
            user=user,
            obj=decision.case,
            detail={"report": decision.report_id},
        )


def sign_off(decision, password, user):
    """Confirm the identity: the supervisor signs with their password again.

    Moves the case to 身份已确认 and closes the report. Raises ReviewError.
    """
    if decision.status != MatchDecision.SAME or decision.confirmed:
        raise ReviewError("state", _l("该比对不在待签批状态。"))
    if decision.reviewer_id == user.id:
        raise ReviewError(
            "own_review", _l("审查人不能签批自己审查的比对，请由另一位审核人签批。")
        )
    if not user.check_password(password or ""):
        AuditLog.append(
            "signoff_failed",
            user=user,
            obj=decision.case,
            detail={"report": decision.report_id},
        )
        raise ReviewError("password", _l("密码不正确，签批未完成。"))
    with database.atomic():
        case = Case.get_by_id(decision.case_id)
        reason = str(
            _l("一照寻亲比中寻亲登记 #%(id)s，经审核签批", id=decision.report_id)
        )
        if case.status == Case.IN_STATION:
            case = cases.change_status(case, Case.SEARCHING, reason, user)
        cases.change_status(case, Case.IDENTIFIED, reason, user)
        decision.signed_off_by = user
        decision.signed_off_at = utcnow()
        decision.save()
        MissingReport.update(status=MissingReport.CLOSED).where(
            MissingReport.id == decision.report_id
        ).execute()
        GalleryRevision.bump("report")
        AuditLog.append(
            "identity_confirmed",
            user=user,
            obj=case,
            detail={
                "report": decision.report_id,
                "face_score": round(decision.face_score, 4),
                "reviewer": decision.reviewer_id,
            },
        )
    return decision


def pending_signoffs(station_ids):
    query = (
        MatchDecision.select(MatchDecision, Case)
        .join(Case)
        .where(
            (MatchDecision.status == MatchDecision.SAME)
            & MatchDecision.signed_off_at.is_null()
        )
        .order_by(MatchDecision.reviewed_at)
    )
    if station_ids is not None:
        query = query.where(Case.station.in_(station_ids))
    return query


def inbox(station_ids):
    """Pairs waiting for review on the given stations' open cases."""
    query = (
        MatchDecision.select(MatchDecision, Case)
        .join(Case)
        .where(
            (MatchDecision.status == MatchDecision.PENDING)
            & Case.status.in_(Case.OPEN_STATUSES)
            & Case.merged_into.is_null()
        )
        .order_by(MatchDecision.created_at.desc())
    )
    if station_ids is not None:
        query = query.where(Case.station.in_(station_ids))
    return query
