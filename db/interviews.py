"""Interviews with the person and the clues drawn from them."""

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import User
from db.base import BaseModel, ChoiceLabels, utcnow
from db.cases import Case


class Interview(BaseModel):
    case = peewee.ForeignKeyField(Case, backref="interviews", on_delete="CASCADE")
    held_at = peewee.DateTimeField()
    interviewer = peewee.ForeignKeyField(User, backref="+")
    dialect_helper = peewee.CharField(max_length=100, default="")
    content = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)


class Clue(ChoiceLabels, BaseModel):
    KINDS = {
        "place": _l("地名"),
        "person": _l("亲属/熟人"),
        "accent": _l("口音"),
        "school": _l("学校"),
        "landmark": _l("地标"),
        "other": _l("其他"),
    }
    STATUSES = {
        "open": _l("待核查"),
        "tried": _l("已核查"),
        "ruled_out": _l("已排除"),
        "confirmed": _l("已证实"),
    }

    case = peewee.ForeignKeyField(Case, backref="clues", on_delete="CASCADE")
    interview = peewee.ForeignKeyField(
        Interview, null=True, backref="clues", on_delete="SET NULL"
    )
    kind = peewee.CharField(max_length=20)
    text = peewee.CharField(max_length=200)
    # For a place: the division it was matched to; for an accent: the likely
    # provinces, comma separated.
    division_code = peewee.CharField(max_length=12, default="")
    interpretation = peewee.CharField(max_length=300, default="")
    status = peewee.CharField(max_length=20, default="open")
    note = peewee.TextField(default="")
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
