"""Missing-person reports (寻亲登记) filed by families or other stations."""

import peewee

from db.accounts import Station, User
from db.base import BaseModel, utcnow
from db.cases import SEXES

# The fields staff fill in, on the report form and in an import spreadsheet.
REPORT_FIELDS = (
    "sought_name",
    "sex",
    "age_at_missing",
    "last_seen_place",
    "last_seen_on",
    "reporter_name",
    "reporter_relation",
    "reporter_phone",
    "notes",
)


class MissingReport(BaseModel):
    OPEN = "open"
    CLOSED = "closed"

    sought_name = peewee.CharField(max_length=100)
    sex = peewee.CharField(max_length=10, default="unknown")
    age_at_missing = peewee.SmallIntegerField(null=True)
    last_seen_place = peewee.CharField(max_length=200, default="")
    last_seen_on = peewee.DateField(null=True)
    height_cm = peewee.SmallIntegerField(null=True)
    dialect = peewee.CharField(max_length=100, default="")
    marks = peewee.TextField(default="")
    reporter_name = peewee.CharField(max_length=50)
    reporter_relation = peewee.CharField(max_length=20, default="")
    reporter_phone = peewee.CharField(max_length=30, default="")
    notes = peewee.TextField(default="")
    status = peewee.CharField(max_length=10, default=OPEN, index=True)
    station = peewee.ForeignKeyField(Station, backref="reports")
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow, index=True)

    @property
    def sex_label(self):
        return SEXES.get(self.sex, self.sex)
