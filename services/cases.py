"""Case records: intake, edits that never overwrite each other, the status
workflow, placements, DNA samples and merging two records of one person."""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l

from db.accounts import User
from db.attachments import Attachment
from db.audit import AuditLog
from db.base import database, utcnow
from db.cases import Case, CaseAlias, CaseNumberCounter, Placement, StatusChange
from db.documents import Commendation, Document, IncomingLetter
from db.interviews import Clue, Interview
from db.matching import FaceSearch
from db.photos import GalleryRevision, Photo
from db.tasks import Task
from db.verification import VerificationRequest
from services import rules, search
from services.errors import InputError
from services.masking import mask_id_number
from services.timezone import utc_to_local

logger = logging.getLogger("tuanyuan.cases")

# Fields the edit form changes; each change is audited with old and new value.
EDITABLE_FIELDS = (
    "name",
    "sex",
    "age_min",
    "age_max",
    "dialect",
    "height_cm",
    "build",
    "marks",
    "arrival_way",
    "found_at",
    "found_place",
    "health",
    "disability",
    "medication",
    "belongings",
    "contacts_mentioned",
    "notes",
    "id_number",
    "id_region_code",
    "id_birth_date",
)
SENSITIVE_FIELDS = {"id_number": mask_id_number}
FIELD_LABELS = {
    "name": _l("姓名"),
    "sex": _l("性别"),
    "age_min": _l("估计年龄（最小）"),
    "age_max": _l("估计年龄（最大）"),
    "dialect": _l("方言口音"),
    "height_cm": _l("身高"),
    "build": _l("体型"),
    "marks": _l("体貌特征"),
    "arrival_way": _l("来站方式"),
    "found_at": _l("发现时间"),
    "found_place": _l("发现地点"),
    "health": _l("健康状况"),
    "disability": _l("残疾情况"),
    "medication": _l("用药情况"),
    "belongings": _l("随身物品"),
    "contacts_mentioned": _l("本人提到的联系人"),
    "notes": _l("备注"),
    "id_number": _l("身份证号"),
    "id_region_code": _l("户籍地代码"),
    "id_birth_date": _l("出生日期"),
}

# Allowed moves of the status workflow. Returned, referred, left and deceased
# end a case; a person who comes back is registered again (the repeat-visitor
# check links the records).
TRANSITIONS = {
    Case.IN_STATION: (Case.SEARCHING, Case.REFERRED, Case.LEFT, Case.DECEASED),
    Case.SEARCHING: (Case.IDENTIFIED, Case.REFERRED, Case.LEFT, Case.DECEASED),
    Case.IDENTIFIED: (
        Case.AWAITING_RETURN,
        Case.SEARCHING,
        Case.REFERRED,
        Case.LEFT,
        Case.DECEASED,
    ),
    Case.AWAITING_RETURN: (
        Case.RETURNED,
        Case.IDENTIFIED,
        Case.REFERRED,
        Case.LEFT,
        Case.DECEASED,
    ),
}
# Confirming an identity needs a supervisor.
SUPERVISOR_TARGETS = {Case.IDENTIFIED}
SUPERVISOR_ROLES = (User.SUPERVISOR, User.COORDINATOR)


class WorkflowError(InputError):
    pass


@dataclass
class EditConflict(Exception):
    """Raised when the case changed after the form was opened."""

    current: Case
    changes: list  # audit rows of the edits made since, oldest first


def allowed_targets(case, user):
    targets = TRANSITIONS.get(case.status, ())
    if user.role not in SUPERVISOR_ROLES:
        targets = tuple(t for t in targets if t not in SUPERVISOR_TARGETS)
    return targets


def create(station, fields, prepared, files, user):
    """Register a case with its photos and rule tasks; call inside a transaction.

    `fields` maps EDITABLE_FIELDS names to values; `prepared` are checked photos.
    """
    from services import photo_store

    now = utcnow()
    case = Case.create(
        case_number=CaseNumberCounter.next_number(station, utc_to_local(now).year),
        station=station,
        created_by=user,
        created_at=now,
        updated_at=now,
        placement="station",
        placement_since=utc_to_local(now).date(),
        **fields,
    )
    Placement.create(
        case=case,
        kind="station",
        institution=station.name,
        start_date=case.placement_since,
        created_by=user,
    )
    photo_store.store(prepared, files, user=user, case=case)
    rules.schedule(case, user)
    search.reindex_case(case)
    return case


def save_edit(case, expected_version, values, user):
    """Save `values` unless someone saved the case since `expected_version`.

    Returns the list of changed field names; raises EditConflict.
    """
    with database.atomic():
        current = Case.get_by_id(case.id)
        changed = {
            name: value
            for name, value in values.items()
            if getattr(current, name) != value
        }
        rows = (
            Case.update(**changed, version=Case.version + 1, updated_at=utcnow())
            .where((Case.id == case.id) & (Case.version == expected_version))
            .execute()
        )
        if rows == 0:
            raise EditConflict(current, changes_since(case, expected_version))
        updated = Case.get_by_id(case.id)
        search.reindex_case(updated)
        AuditLog.append(
            "case_updated",
            user=user,
            obj=updated,
            detail={
                "version": updated.version,
                "fields": {
                    name: [
                        _audit_value(name, getattr(current, name)),
                        _audit_value(name, value),
                    ]
                    for name, value in changed.items()
                },
            },
        )
    return list(changed)


def _audit_value(name, value):
    if value is None:
        return None
    mask = SENSITIVE_FIELDS.get(name)
    return mask(str(value)) if mask else str(value)


def changes_since(case, version):
    """Audit rows of the edits that raised the case above `version`."""
    rows = (
        AuditLog.select()
        .where(
            (AuditLog.action == "case_updated")
            & (AuditLog.object_type == "Case")
            & (AuditLog.object_id == str(case.id))
        )
        .order_by(AuditLog.id)
    )
    return [row for row in rows if json.loads(row.detail).get("version", 0) > version]


def change_status(case, target, reason, user):
    """Move `case` to `target` with a reason; raises WorkflowError."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("reason", _l("请填写状态变更的原因。"))
    if target not in TRANSITIONS.get(case.status, ()):
        raise WorkflowError(
            "transition",
            _l(
                "不能从“%(old)s”变为“%(new)s”。",
                old=case.status_label,
                new=Case.STATUSES.get(target, target),
            ),
        )
    if target in SUPERVISOR_TARGETS and user.role not in SUPERVISOR_ROLES:
        raise WorkflowError("role", _l("确认身份须由审核人操作。"))
    with database.atomic():
        previous = case.status
        rows = (
            Case.update(status=target, version=Case.version + 1, updated_at=utcnow())
            .where((Case.id == case.id) & (Case.status == previous))
            .execute()
        )
        if rows == 0:
            raise WorkflowError("stale", _l("个案状态已被他人修改，请刷新页面后重试。"))
        StatusChange.create(
            case=case, from_status=previous, to_status=target, reason=reason, user=user
        )
        AuditLog.append(
            "case_status_changed",
            user=user,
            obj=case,
            detail={"from": previous, "to": target, "reason": reason},
        )
    case.status = target
    return case


def record_placement(case, kind, institution, start_date, notes, user):
    """Close the current placement and open a new one from `start_date`."""
    current = (
        Placement.select()
        .where((Placement.case == case) & Placement.end_date.is_null())
        .order_by(Placement.start_date.desc())
        .first()
    )
    if current and start_date < current.start_date:
        raise InputError(
            "placement_date", _l("新安置的开始日期不能早于当前安置的开始日期。")
        )
    with database.atomic():
        if current:
            current.end_date = start_date
            current.save()
        Placement.create(
            case=case,
            kind=kind,
            institution=institution,
            start_date=start_date,
            notes=notes,
            created_by=user,
        )
        Case.update(placement=kind, placement_since=start_date).where(
            Case.id == case.id
        ).execute()
        AuditLog.append(
            "case_placement_changed",
            user=user,
            obj=case,
            detail={"kind": kind, "institution": institution, "start": str(start_date)},
        )


def long_stay_placements(station_ids, days, now):
    """Current placements of open cases taken in `days` or more days before `now`.

    Ordered by kind of placement and institution, so the list reads per
    institution. `station_ids` None means all stations.
    """
    cutoff = now - timedelta(days=days)
    query = (
        Placement.select(Placement, Case)
        .join(Case)
        .where(
            Placement.end_date.is_null()
            & Case.status.in_(Case.OPEN_STATUSES)
            & Case.merged_into.is_null()
            & (Case.created_at <= cutoff)
        )
        .order_by(Placement.kind, Placement.institution, Case.created_at)
    )
    if station_ids is not None:
        query = query.where(Case.station.in_(station_ids))
    return query


def is_long_stay(case, days, now):
    return case.is_open and case.created_at <= now - timedelta(days=days)


def set_dna_status(case, status, note, user):
    now = utcnow()
    with database.atomic():
        Case.update(dna_status=status, dna_note=note, updated_at=now).where(
            Case.id == case.id
        ).execute()
        if status != "none":
            rules.complete_rule(case, "dna_request", str(_l("已申请DNA采样")), now)
        AuditLog.append(
            "case_dna_changed", user=user, obj=case, detail={"status": status}
        )


# Tables whose rows follow their case when two records are merged.
_CASE_CHILDREN = (
    Photo,
    CaseAlias,
    StatusChange,
    Placement,
    Interview,
    Clue,
    Task,
    Attachment,
    FaceSearch,
    Document,
    IncomingLetter,
    Commendation,
    VerificationRequest,
)


def merge(target, source, user):
    """Move everything of `source` to `target` and mark `source` merged.

    Empty fields of `target` take the values of `source`; the notes of both
    are kept. Raises InputError for a case merged before or a self-merge.
    """
    if target.id == source.id:
        raise InputError("merge_self", _l("不能把个案与自己合并。"))
    if source.merged_into_id or target.merged_into_id:
        raise InputError("merge_twice", _l("该个案已被合并，请在合并后的个案上操作。"))
    with database.atomic():
        # Both records have rule tasks; the target's stay in charge, and the
        # source's move over detached from their rule, open ones cancelled.
        Task.update(
            status=Task.CANCELLED,
            outcome=str(
                _l("个案合并后由 %(number)s 的同类任务代替", number=target.case_number)
            ),
        ).where(
            (Task.case == source)
            & Task.rule.is_null(False)
            & (Task.status == Task.OPEN)
        ).execute()
        Task.update(rule=None).where(Task.case == source).execute()
        for model in _CASE_CHILDREN:
            model.update(case=target).where(model.case == source).execute()
        if source.name and source.name != target.name:
            CaseAlias.create(case=target, name=source.name, kind="alias")
        fills = {
            name: getattr(source, name)
            for name in EDITABLE_FIELDS
            if getattr(target, name) in (None, "", "unknown", "other")
            and getattr(source, name) not in (None, "", "unknown", "other")
        }
        if source.notes:
            fills["notes"] = "\n".join(
                part
                for part in (
                    target.notes,
                    str(_l("【合并自 %(number)s】", number=source.case_number)),
                    source.notes,
                )
                if part
            )
        Case.update(**fills, version=Case.version + 1, updated_at=utcnow()).where(
            Case.id == target.id
        ).execute()
        Case.update(merged_into=target, version=Case.version + 1).where(
            Case.id == source.id
        ).execute()
        search.remove("case", source.id)
        search.reindex_case(Case.get_by_id(target.id))
        GalleryRevision.bump("case")
        AuditLog.append(
            "case_merged",
            user=user,
            obj=target,
            detail={"source": source.case_number, "target": target.case_number},
        )
    logger.info("case %s merged into %s", source.id, target.id)
    return Case.get_by_id(target.id)
