"""Files attached to a case: scanned letters, hospital papers, other photos."""

import peewee

from db.accounts import User
from db.base import BaseModel, utcnow
from db.cases import Case


class Attachment(BaseModel):
    case = peewee.ForeignKeyField(Case, backref="attachments", on_delete="CASCADE")
    stored_name = peewee.CharField(max_length=80, unique=True)
    original_name = peewee.CharField(max_length=255)
    mime_type = peewee.CharField(max_length=80)
    size = peewee.IntegerField()
    sha256 = peewee.CharField(max_length=64)
    description = peewee.CharField(max_length=200, default="")
    uploaded_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)
