"""The directory of relief stations: contact persons and the cooperation
agreements signed with each station."""

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import Station, User
from db.base import BaseModel, ChoiceLabels, utcnow

DIRECTORY_GROUPS = {
    Station.NEIGHBOUR_CITY: _l("邻近城市救助管理站"),
    Station.PILOT_CENTRE: _l("外省试点区域中心"),
    Station.OTHER_STATION: _l("全国其他救助管理站"),
}


class StationContact(BaseModel):
    station = peewee.ForeignKeyField(Station, backref="contacts", on_delete="CASCADE")
    name = peewee.CharField(max_length=50)
    title = peewee.CharField(max_length=50, default="")
    phone = peewee.CharField(max_length=40, default="")
    # WeChat Work account, e-mail or fax where this person can be reached.
    channel = peewee.CharField(max_length=200, default="")
    created_at = peewee.DateTimeField(default=utcnow)


class Agreement(ChoiceLabels, BaseModel):
    KINDS = {
        "cross_province": _l("跨省合作框架"),
        "source_governance": _l("源头共治协议"),
        "neighbour_city": _l("邻市合作协议"),
    }

    station = peewee.ForeignKeyField(Station, backref="agreements", on_delete="CASCADE")
    kind = peewee.CharField(max_length=30)
    title = peewee.CharField(max_length=200)
    signed_on = peewee.DateField(null=True)
    valid_from = peewee.DateField()
    # None: in force until ended by either side.
    valid_until = peewee.DateField(null=True)
    scope = peewee.TextField(default="")
    # The signed document, checked and stored like a case attachment.
    stored_name = peewee.CharField(max_length=80, null=True, unique=True)
    original_name = peewee.CharField(max_length=255, default="")
    mime_type = peewee.CharField(max_length=80, default="")
    sha256 = peewee.CharField(max_length=64, default="")
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)

    def in_force(self, day):
        if day < self.valid_from:
            return False
        return self.valid_until is None or day <= self.valid_until
