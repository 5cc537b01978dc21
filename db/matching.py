"""Face searches and the candidates each one found."""

import peewee

from db.accounts import User
from db.base import BaseModel, utcnow
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

    class Meta:
        indexes = ((("search", "rank"), True),)
