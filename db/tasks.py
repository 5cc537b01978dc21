"""Tasks with an owner and a due time: from clues, or from the station's rules."""

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import User
from db.base import BaseModel, ChoiceLabels, utcnow
from db.cases import Case
from db.interviews import Clue


class Task(ChoiceLabels, BaseModel):
    KINDS = {
        "call": _l("电话联系"),
        "verification": _l("身份核实请求"),
        "field_visit": _l("实地走访"),
        "police_check": _l("公安核查"),
        "search_notice": _l("发布寻亲公告"),
        "dna_request": _l("申请DNA采样"),
        "long_stay_review": _l("长期滞留评估"),
        "settlement_review": _l("落户安置评估"),
        "other": _l("其他"),
    }
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"
    STATUSES = {OPEN: _l("待办"), DONE: _l("已完成"), CANCELLED: _l("已取消")}

    case = peewee.ForeignKeyField(Case, backref="tasks", on_delete="CASCADE")
    clue = peewee.ForeignKeyField(
        Clue, null=True, backref="tasks", on_delete="SET NULL"
    )
    kind = peewee.CharField(max_length=30)
    # Set for tasks made by a station rule, so each rule makes one task a case.
    rule = peewee.CharField(max_length=30, null=True)
    title = peewee.CharField(max_length=200)
    owner = peewee.ForeignKeyField(User, null=True, backref="tasks")
    due_at = peewee.DateTimeField(null=True, index=True)
    status = peewee.CharField(max_length=20, default=OPEN, index=True)
    outcome = peewee.TextField(default="")
    escalated_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    completed_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("case", "rule"), True),)

    def is_overdue(self, now):
        if self.status != self.OPEN or self.due_at is None:
            return False
        return self.due_at < now
