"""The timeline of a case: every step, newest first, from the tables that
record it."""

import json
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from db.audit import AuditLog
from db.cases import Case
from db.tasks import Task


@dataclass
class Event:
    at: datetime
    kind: str
    title: str
    detail: str = ""
    who: str = ""


def build(case):
    events = []
    events.append(
        Event(
            case.created_at,
            "created",
            str(_l("登记入站")),
            case.case_number,
            case.created_by.full_name,
        )
    )
    for change in case.status_changes:
        events.append(
            Event(
                change.created_at,
                "status",
                str(
                    _l(
                        "状态：%(old)s → %(new)s",
                        old=Case.STATUSES.get(change.from_status, change.from_status),
                        new=Case.STATUSES.get(change.to_status, change.to_status),
                    )
                ),
                change.reason,
                change.user.full_name,
            )
        )
    for photo in case.photos:
        events.append(
            Event(
                photo.created_at,
                "photo",
                str(_l("上传照片")),
                photo.original_name,
                photo.uploaded_by.full_name,
            )
        )
    for search in case.searches:
        events.append(
            Event(
                search.created_at,
                "search",
                str(_l("一照寻亲")),
                str(_l("比对库 %(size)s 个人脸特征", size=search.gallery_size)),
                search.user.full_name,
            )
        )
    for placement in case.placements:
        events.append(
            Event(
                placement.created_at,
                "placement",
                str(_l("安置：%(kind)s", kind=placement.kind_label)),
                placement.institution,
                placement.created_by.full_name,
            )
        )
    for interview in case.interviews:
        events.append(
            Event(
                interview.created_at,
                "interview",
                str(_l("问询记录")),
                interview.content[:80],
                interview.interviewer.full_name,
            )
        )
    for task in case.tasks.where(Task.status == Task.DONE):
        events.append(
            Event(
                task.completed_at or task.created_at,
                "task",
                str(_l("完成任务：%(title)s", title=task.title)),
                task.outcome,
                task.owner.full_name if task.owner else "",
            )
        )
    for attachment in case.attachments:
        events.append(
            Event(
                attachment.created_at,
                "attachment",
                str(_l("上传附件")),
                attachment.original_name,
                attachment.uploaded_by.full_name,
            )
        )
    for document in case.documents:
        events.append(
            Event(
                document.created_at,
                "document",
                str(_l("生成%(kind)s", kind=document.kind_label)),
                " ".join(filter(None, (document.serial, _version_text(document)))),
                document.created_by.full_name,
            )
        )
    events.extend(_verification_events(case))
    for row in _audit_rows(case):
        events.append(_audit_event(row))
    return sorted(events, key=lambda event: event.at, reverse=True)


def _version_text(document):
    if document.version == 1:
        return ""
    return str(
        _l(
            "第 %(version)d 版：%(reason)s",
            version=document.version,
            reason=document.correction_reason,
        )
    )


_AUDITED = {
    "case_updated": _l("修改登记信息"),
    "case_merged": _l("合并个案"),
    "case_dna_changed": _l("DNA 采样状态"),
    "case_id_viewed": _l("查看完整身份证号"),
}


def _audit_rows(case):
    return AuditLog.select().where(
        (AuditLog.object_type == "Case")
        & (AuditLog.object_id == str(case.id))
        & AuditLog.action.in_(list(_AUDITED))
    )


def _audit_event(row):
    detail = json.loads(row.detail)
    if row.action == "case_updated":
        from services.cases import FIELD_LABELS

        text = "、".join(
            str(FIELD_LABELS.get(name, name)) for name in detail.get("fields", {})
        )
    elif row.action == "case_merged":
        text = str(_l("并入 %(source)s", source=detail.get("source", "")))
    else:
        text = detail.get("status", "")
    return Event(
        row.created_at, row.action, str(_AUDITED[row.action]), text, row.username
    )


def _verification_events(case):
    from services.verification import events_for_case

    return [Event(*row) for row in events_for_case(case)]
