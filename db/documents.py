"""Generated documents (PDF letters and forms), their numbering, the letters a
station receives, batches, and thank-you banners and letters."""

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import Station, User
from db.base import BaseModel, ChoiceLabels, utcnow
from db.cases import Case
from db.matching import MatchDecision

# Each kind of document: label and the default suffix of its number prefix
# (越秀 + 救 + 协 = 越秀救协〔2026〕15号).
KINDS = {
    "search_notice": (_l("寻亲公告"), "告"),
    "assist_letter": (_l("协查函"), "协"),
    "escort_letter": (_l("护送函"), "送"),
    "official_letter": (_l("公函"), "函"),
    "handover": (_l("交接单"), "交"),
    "discharge": (_l("离站手续单"), "离"),
    "signoff_sheet": (_l("身份确认签批单"), "审"),
    "commendation": (_l("表扬记录"), "表"),
}
# Letters between offices, laid out as official documents and kept in the
# register of letters sent.
LETTER_KINDS = ("assist_letter", "escort_letter", "official_letter")
# Kinds made from a case page. The sign-off sheet starts from a review
# decision, the commendation record from a commendation, and a 公函 from the
# documents page, with or without a case.
CASE_DOCUMENT_KINDS = (
    "search_notice",
    "assist_letter",
    "escort_letter",
    "official_letter",
    "handover",
    "discharge",
)


class DocumentPrefix(BaseModel):
    """A station's own number prefix for one kind, e.g. 穗救协."""

    station = peewee.ForeignKeyField(Station, backref="+")
    kind = peewee.CharField(max_length=20)
    prefix = peewee.CharField(max_length=20)

    class Meta:
        indexes = ((("station", "kind"), True),)


class DocumentCounter(BaseModel):
    """Last number handed out per station, kind and year; never reused."""

    station = peewee.ForeignKeyField(Station, backref="+")
    kind = peewee.CharField(max_length=20)
    year = peewee.SmallIntegerField()
    last_value = peewee.IntegerField(default=0)

    class Meta:
        indexes = ((("station", "kind", "year"), True),)

    @classmethod
    def next_value(cls, station, kind, year):
        """Reserve the next number; call inside a transaction, as for case
        numbers (CaseNumberCounter)."""
        cls.insert(station=station, kind=kind, year=year).on_conflict_ignore().execute()
        where = (cls.station == station) & (cls.kind == kind) & (cls.year == year)
        cls.update(last_value=cls.last_value + 1).where(where).execute()
        return cls.select(cls.last_value).where(where).scalar()


class DocumentSetting(BaseModel):
    """Text settings of the document service, such as font families."""

    key = peewee.CharField(max_length=50, unique=True)
    value = peewee.CharField(max_length=200)
    updated_at = peewee.DateTimeField(default=utcnow)


class IncomingLetter(BaseModel):
    """A letter received from another office, entered in the register."""

    station = peewee.ForeignKeyField(Station, backref="+")
    serial = peewee.CharField(max_length=60)
    sender = peewee.CharField(max_length=200)
    subject = peewee.CharField(max_length=200)
    received_on = peewee.DateField(index=True)
    case = peewee.ForeignKeyField(Case, null=True, backref="incoming_letters")
    note = peewee.TextField(default="")
    # An optional scan, stored like case attachments.
    stored_name = peewee.CharField(max_length=80, null=True)
    mime_type = peewee.CharField(max_length=80, default="")
    sha256 = peewee.CharField(max_length=64, default="")
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("station", "sender", "serial"), True),)


class DocumentBatch(ChoiceLabels, BaseModel):
    """Many documents of one kind rendered by a background task."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STATUSES = {
        QUEUED: _l("排队中"),
        RUNNING: _l("生成中"),
        DONE: _l("已完成"),
        FAILED: _l("失败"),
    }

    station = peewee.ForeignKeyField(Station, backref="+")
    kind = peewee.CharField(max_length=20)
    # JSON: the case ids and the link base for QR codes.
    params = peewee.TextField(default="{}")
    status = peewee.CharField(max_length=20, default=QUEUED)
    total = peewee.IntegerField(default=0)
    done = peewee.IntegerField(default=0)
    failed = peewee.IntegerField(default=0)
    problems = peewee.TextField(default="[]")
    zip_name = peewee.CharField(max_length=80, null=True)
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
    finished_at = peewee.DateTimeField(null=True)

    @property
    def kind_label(self):
        return KINDS[self.kind][0] if self.kind in KINDS else self.kind

    @property
    def percent(self):
        return 100 if not self.total else round(100 * self.done / self.total)


class Commendation(ChoiceLabels, BaseModel):
    """A thank-you banner (锦旗) or letter received from a family or others."""

    KINDS = {
        "banner": _l("锦旗"),
        "letter": _l("感谢信"),
        "both": _l("锦旗和感谢信"),
        "other": _l("其他"),
    }

    station = peewee.ForeignKeyField(Station, backref="+")
    case = peewee.ForeignKeyField(Case, null=True, backref="commendations")
    kind = peewee.CharField(max_length=20, default="banner")
    giver = peewee.CharField(max_length=100)
    giver_relation = peewee.CharField(max_length=50, default="")
    place = peewee.CharField(max_length=200, default="")
    received_on = peewee.DateField(index=True)
    banner_text = peewee.CharField(max_length=200, default="")
    letter_text = peewee.TextField(default="")
    note = peewee.TextField(default="")
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)

    def staff_members(self):
        """Return the staff commended, in the order they were entered."""
        links = self.staff_links.order_by(CommendationStaff.id)
        return [link.user for link in links]


class CommendationStaff(BaseModel):
    commendation = peewee.ForeignKeyField(
        Commendation, backref="staff_links", on_delete="CASCADE"
    )
    user = peewee.ForeignKeyField(User, backref="+")

    class Meta:
        indexes = ((("commendation", "user"), True),)


class CommendationPhoto(BaseModel):
    commendation = peewee.ForeignKeyField(
        Commendation, backref="photos", on_delete="CASCADE"
    )
    stored_name = peewee.CharField(max_length=80, unique=True)
    original_name = peewee.CharField(max_length=255)
    created_at = peewee.DateTimeField(default=utcnow)


class Document(ChoiceLabels, BaseModel):
    """One version of a generated PDF, archived with the SHA-256 of its bytes.

    A correction is a new row with the same serial and the next version; the
    earlier rows stay, marked superseded.
    """

    KINDS = {kind: label for kind, (label, _suffix) in KINDS.items()}

    serial = peewee.CharField(max_length=60, index=True)
    version = peewee.SmallIntegerField(default=1)
    # Random code in the QR link; serials are guessable, codes are not.
    verify_code = peewee.CharField(max_length=32, unique=True)
    kind = peewee.CharField(max_length=20)
    title = peewee.CharField(max_length=200)
    station = peewee.ForeignKeyField(Station, backref="+")
    case = peewee.ForeignKeyField(Case, null=True, backref="documents")
    decision = peewee.ForeignKeyField(MatchDecision, null=True, backref="+")
    commendation = peewee.ForeignKeyField(Commendation, null=True, backref="documents")
    recipient = peewee.CharField(max_length=200, default="")
    # The form values the document was made from, as JSON, so that a
    # correction starts from them.
    content = peewee.TextField(default="{}")
    previous = peewee.ForeignKeyField("self", null=True, backref="corrections")
    correction_reason = peewee.TextField(default="")
    superseded_at = peewee.DateTimeField(null=True)
    stored_name = peewee.CharField(max_length=80, unique=True)
    sha256 = peewee.CharField(max_length=64)
    size = peewee.IntegerField()
    pages = peewee.SmallIntegerField()
    batch = peewee.ForeignKeyField(DocumentBatch, null=True, backref="documents")
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("serial", "version"), True), (("station", "kind"), False))

    @property
    def is_letter(self):
        return self.kind in LETTER_KINDS

    @property
    def download_name(self):
        return f"{self.kind_label}-{self.serial}-v{self.version}.pdf"


MODELS = [
    DocumentBatch,
    Commendation,
    CommendationStaff,
    CommendationPhoto,
    Document,
    DocumentPrefix,
    DocumentCounter,
    DocumentSetting,
    IncomingLetter,
]
