"""Stored photos of cases and reports, and the face vectors made from them."""

import uuid

import peewee

from db.accounts import User
from db.base import BaseModel, utcnow
from db.cases import Case
from db.reports import MissingReport


class Photo(BaseModel):
    """A normalised JPEG in the upload folder; belongs to a case or a report."""

    case = peewee.ForeignKeyField(Case, null=True, backref="photos")
    report = peewee.ForeignKeyField(MissingReport, null=True, backref="photos")
    stored_name = peewee.CharField(max_length=80, unique=True)
    original_name = peewee.CharField(max_length=255, default="")
    sha256 = peewee.CharField(max_length=64, index=True)
    width = peewee.IntegerField()
    height = peewee.IntegerField()
    uploaded_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        constraints = [
            peewee.Check("(case_id IS NULL) <> (report_id IS NULL)"),
        ]


class FaceVector(BaseModel):
    """One face embedding with the model that made it, so vectors of different
    models are never compared."""

    photo = peewee.ForeignKeyField(Photo, backref="faces", on_delete="CASCADE")
    model_name = peewee.CharField(max_length=40)
    model_version = peewee.CharField(max_length=80)
    detector = peewee.CharField(max_length=40)
    vector = peewee.BlobField()
    box_left = peewee.IntegerField()
    box_top = peewee.IntegerField()
    box_width = peewee.IntegerField()
    box_height = peewee.IntegerField()
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("model_name", "model_version"), False),)


class GalleryRevision(BaseModel):
    """A random token replaced whenever gallery vectors change.

    Every process keeps the gallery in memory and reloads it when the token
    differs from the one it loaded, so several gunicorn workers stay in step.
    A random token, unlike a counter, also differs after a database is
    restored from a backup or swapped for another.
    """

    # One row per gallery: the open reports, and the cases (for repeat visitors).
    ROW_IDS = {"report": 1, "case": 2}

    token = peewee.CharField(max_length=32)

    @classmethod
    def current(cls, kind="report"):
        row_id = cls.ROW_IDS[kind]
        return cls.select(cls.token).where(cls.id == row_id).scalar() or ""

    @classmethod
    def bump(cls, kind="report"):
        token = uuid.uuid4().hex
        cls.insert(id=cls.ROW_IDS[kind], token=token).on_conflict(
            conflict_target=[cls.id], update={cls.token: token}
        ).execute()
