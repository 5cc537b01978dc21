"""Identity-verification requests (身份核实请求) between stations, their
state changes and the files that travel with them."""

import uuid

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import Station, User
from db.base import BaseModel, ChoiceLabels, utcnow
from db.cases import Case
from db.photos import Photo

ASKS = {
    "confirm_identity": _l("确认身份"),
    "find_family": _l("寻找家属"),
    "household_check": _l("核查户籍"),
    "arrange_reception": _l("安排接收"),
}


def _public_id():
    return uuid.uuid4().hex


class VerificationRequest(ChoiceLabels, BaseModel):
    DRAFT = "draft"
    SENT = "sent"
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    CLOSED = "closed"
    STATUSES = {
        DRAFT: _l("草稿"),
        SENT: _l("已发出"),
        RECEIVED: _l("已接收"),
        IN_PROGRESS: _l("办理中"),
        ANSWERED: _l("已答复"),
        CLOSED: _l("已结束"),
    }
    # States in which the receiving station owes an answer.
    WAITING = (SENT, RECEIVED, IN_PROGRESS)

    CONFIRMED = "confirmed"
    NOT_FOUND = "not_found"
    NEEDS_MORE = "needs_more"
    OUTCOMES = {
        CONFIRMED: _l("身份已核实"),
        NOT_FOUND: _l("查无此人"),
        NEEDS_MORE: _l("需补充信息"),
    }

    # How the answer reached the requesting station.
    CHANNELS = {
        "platform": _l("平台内答复"),
        "exchange": _l("回复文件"),
        "phone": _l("电话"),
        "letter": _l("信函"),
    }

    # Same value in every installation that has a copy of the request. The
    # exchange file carries it, so a reply finds its request.
    public_id = peewee.CharField(max_length=32, unique=True, default=_public_id)
    # None for a request imported from another installation: its case lives there.
    case = peewee.ForeignKeyField(
        Case, null=True, backref="verification_requests", on_delete="CASCADE"
    )
    from_station = peewee.ForeignKeyField(Station, backref="+")
    to_station = peewee.ForeignKeyField(Station, backref="+")
    imported = peewee.BooleanField(default=False)
    # The case number at the requesting station, also for imported requests.
    case_number = peewee.CharField(max_length=40, default="")
    known_facts = peewee.TextField(default="")
    id_number = peewee.CharField(max_length=18, null=True)
    asks = peewee.CharField(max_length=200, default="")
    question = peewee.TextField(default="")
    contact_name = peewee.CharField(max_length=50, default="")
    contact_phone = peewee.CharField(max_length=40, default="")
    due_date = peewee.DateField(null=True, index=True)
    status = peewee.CharField(max_length=20, default=DRAFT, index=True)

    outcome = peewee.CharField(max_length=20, null=True)
    answer_text = peewee.TextField(default="")
    answer_name = peewee.CharField(max_length=100, default="")
    answer_address = peewee.CharField(max_length=200, default="")
    answer_contact = peewee.CharField(max_length=200, default="")
    answer_channel = peewee.CharField(max_length=20, default="")
    answered_by_name = peewee.CharField(max_length=50, default="")
    close_reason = peewee.TextField(default="")

    created_by = peewee.ForeignKeyField(User, null=True, backref="+")
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    sent_at = peewee.DateTimeField(null=True, index=True)
    received_at = peewee.DateTimeField(null=True)
    answered_at = peewee.DateTimeField(null=True, index=True)
    closed_at = peewee.DateTimeField(null=True)
    reminded_at = peewee.DateTimeField(null=True)
    reminder_count = peewee.IntegerField(default=0)

    # Supervisor sign-off of a confirmed identity, on the requesting side.
    signoff_status = peewee.CharField(max_length=20, default="")
    signed_off_by = peewee.ForeignKeyField(User, null=True, backref="+")
    signed_off_at = peewee.DateTimeField(null=True)

    # SHA-256 checksums of the exchange files read into this row, so the
    # same file is not imported twice.
    import_checksum = peewee.CharField(max_length=64, null=True, unique=True)
    reply_checksum = peewee.CharField(max_length=64, null=True, unique=True)
    version = peewee.IntegerField(default=1)

    class Meta:
        indexes = (
            (("from_station", "status"), False),
            (("to_station", "status"), False),
        )

    @property
    def outcome_label(self):
        return self.OUTCOMES.get(self.outcome, "") if self.outcome else ""

    @property
    def ask_list(self):
        return [code for code in self.asks.split(",") if code]

    @property
    def ask_labels(self):
        return [str(ASKS.get(code, code)) for code in self.ask_list]

    @property
    def channel_label(self):
        return self.CHANNELS.get(self.answer_channel, self.answer_channel)

    def is_overdue(self, today):
        """True while an answer is owed and local date `today` is past the due date."""
        if self.status not in self.WAITING or self.due_date is None:
            return False
        return today > self.due_date


class VerificationEvent(BaseModel):
    """One state change or note of a request: who, when, from and to."""

    request = peewee.ForeignKeyField(
        VerificationRequest, backref="events", on_delete="CASCADE"
    )
    from_status = peewee.CharField(max_length=20, default="")
    to_status = peewee.CharField(max_length=20)
    user = peewee.ForeignKeyField(User, null=True, backref="+")
    # The person's name as written in an exchange file, when no local user acted.
    actor_name = peewee.CharField(max_length=100, default="")
    station = peewee.ForeignKeyField(Station, backref="+")
    note = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow, index=True)

    @property
    def who(self):
        return self.user.full_name if self.user_id else self.actor_name


class VerificationFile(BaseModel):
    """A photo sent with a request or a file attached to its answer.

    Outgoing photos point at the case's own Photo rows. Photos and files from
    an exchange file, and answer attachments, are stored in the upload
    folder's `verification` directory.
    """

    PHOTO = "photo"
    ANSWER = "answer"

    request = peewee.ForeignKeyField(
        VerificationRequest, backref="files", on_delete="CASCADE"
    )
    role = peewee.CharField(max_length=20)
    photo = peewee.ForeignKeyField(Photo, null=True, backref="+", on_delete="CASCADE")
    stored_name = peewee.CharField(max_length=80, null=True, unique=True)
    original_name = peewee.CharField(max_length=255, default="")
    mime_type = peewee.CharField(max_length=80, default="image/jpeg")
    size = peewee.IntegerField(default=0)
    sha256 = peewee.CharField(max_length=64, default="")
    uploaded_by = peewee.ForeignKeyField(User, null=True, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
