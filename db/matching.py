"""Face searches, the candidates each one found, and the decision on each
pair of records."""

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import User
from db.base import BaseModel, ChoiceLabels, utcnow
from db.cases import Case
from db.photos import Photo
from db.reports import MissingReport


class FaceSearch(BaseModel):
    photo = peewee.ForeignKeyField(Photo, backref="searches")
    case = peewee.ForeignKeyField(Case, backref="searches")
    user = peewee.ForeignKeyField(User, backref="+")
    model_name = peewee.CharField(max_length=40)
    model_version = peewee.CharField(max_length=80)
    gallery_size = peewee.IntegerField()
    seconds = peewee.FloatField()
    created_at = peewee.DateTimeField(default=utcnow, index=True)


class MatchCandidate(BaseModel):
    search = peewee.ForeignKeyField(
        FaceSearch, backref="candidates", on_delete="CASCADE"
    )
    report = peewee.ForeignKeyField(MissingReport, backref="candidates")
    report_photo = peewee.ForeignKeyField(Photo, backref="+")
    rank = peewee.SmallIntegerField()
    similarity = peewee.FloatField()
    band = peewee.CharField(max_length=10)
    # The face similarity adjusted by the facts of both records, in points.
    combined_score = peewee.FloatField(default=0)
    facts = peewee.TextField(default="[]")

    class Meta:
        indexes = ((("search", "rank"), True),)


class MatchDecision(ChoiceLabels, BaseModel):
    """The one decision on a pair of records: is this case the reported person?

    A pair ruled out stays out of later searches until a new photo is added
    to either record and a reviewer reopens it.
    """

    PENDING = "pending"
    SAME = "same"
    NOT_SAME = "not_same"
    UNSURE = "unsure"
    STATUSES = {
        PENDING: _l("待审查"),
        SAME: _l("同一人，待签批"),
        NOT_SAME: _l("不是同一人"),
        UNSURE: _l("无法确定"),
    }
    KINDS = {"search": _l("一照寻亲"), "new_report": _l("新寻亲登记自动比对")}

    case = peewee.ForeignKeyField(Case, backref="decisions")
    report = peewee.ForeignKeyField(MissingReport, backref="decisions")
    kind = peewee.CharField(max_length=20, default="search")
    status = peewee.CharField(max_length=20, default=PENDING, index=True)
    face_score = peewee.FloatField()
    combined_score = peewee.FloatField(default=0)
    band = peewee.CharField(max_length=10)
    facts = peewee.TextField(default="[]")
    reason = peewee.TextField(default="")
    reviewer = peewee.ForeignKeyField(User, null=True, backref="+")
    reviewed_at = peewee.DateTimeField(null=True)
    signed_off_by = peewee.ForeignKeyField(User, null=True, backref="+")
    signed_off_at = peewee.DateTimeField(null=True)
    reopened_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("case", "report"), True),)

    @property
    def confirmed(self):
        return self.signed_off_at is not None
