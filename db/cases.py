"""Persons in care (受助人员) and the per-station case numbers they get."""

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import Station, User
from db.base import BaseModel, utcnow

SEXES = {"male": _l("男"), "female": _l("女"), "unknown": _l("不详")}


class Case(BaseModel):
    IN_STATION = "in_station"
    SEARCHING = "searching"
    IDENTIFIED = "identified"
    AWAITING_RETURN = "awaiting_return"
    RETURNED = "returned"
    REFERRED = "referred"
    LEFT = "left"
    DECEASED = "deceased"
    STATUSES = {
        IN_STATION: _l("在站"),
        SEARCHING: _l("寻亲中"),
        IDENTIFIED: _l("身份已确认"),
        AWAITING_RETURN: _l("待送返"),
        RETURNED: _l("已返乡"),
        REFERRED: _l("已转介"),
        LEFT: _l("已离站"),
        DECEASED: _l("死亡"),
    }

    case_number = peewee.CharField(max_length=40, unique=True)
    station = peewee.ForeignKeyField(Station, backref="cases")
    name = peewee.CharField(max_length=100, default="")
    sex = peewee.CharField(max_length=10, default="unknown")
    age_min = peewee.SmallIntegerField(null=True)
    age_max = peewee.SmallIntegerField(null=True)
    found_at = peewee.DateTimeField(null=True)
    found_place = peewee.CharField(max_length=200, default="")
    notes = peewee.TextField(default="")
    status = peewee.CharField(max_length=20, default=IN_STATION, index=True)
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    @property
    def display_name(self):
        return self.name or _l("姓名不详")

    @property
    def status_label(self):
        return self.STATUSES.get(self.status, self.status)

    @property
    def sex_label(self):
        return SEXES.get(self.sex, self.sex)

    @classmethod
    def visible_to(cls, user):
        from access import visible_station_ids

        query = cls.select(cls, Station).join(Station)
        station_ids = visible_station_ids(user)
        if station_ids is not None:
            query = query.where(cls.station.in_(station_ids))
        return query


class CaseNumberCounter(BaseModel):
    """Last number handed out per station and year; numbers are never reused."""

    station = peewee.ForeignKeyField(Station, backref="+")
    year = peewee.SmallIntegerField()
    last_value = peewee.IntegerField(default=0)

    class Meta:
        indexes = ((("station", "year"), True),)

    @classmethod
    def next_number(cls, station, year):
        """Reserve the next case number, e.g. 越秀-2026-0153.

        Must run inside a transaction: the row update locks the counter on
        PostgreSQL, and SQLite serialises writers, so two intakes at once get
        different numbers.
        """
        cls.insert(station=station, year=year).on_conflict_ignore().execute()
        where = (cls.station == station) & (cls.year == year)
        cls.update(last_value=cls.last_value + 1).where(where).execute()
        value = cls.select(cls.last_value).where(where).scalar()
        return f"{station.short_name}-{year}-{value:04d}"
