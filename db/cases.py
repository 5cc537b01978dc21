"""Persons in care (受助人员) and the per-station case numbers they get."""

import peewee
from flask_babel import lazy_gettext as _l

from db.accounts import Station, User
from db.base import BaseModel, utcnow

SEXES = {"male": _l("男"), "female": _l("女"), "unknown": _l("不详")}


ARRIVAL_WAYS = {
    "police": _l("公安护送"),
    "hospital": _l("医院转来"),
    "patrol": _l("街面巡查"),
    "self": _l("自行求助"),
    "public": _l("群众送来"),
    "other": _l("其他"),
}

PLACEMENT_KINDS = {
    "station": _l("在站"),
    "hospital": _l("医院"),
    "welfare_home": _l("福利院/养老机构"),
    "child_welfare": _l("儿童福利机构"),
    "other": _l("其他"),
}

DNA_STATUSES = {
    "none": _l("未采集"),
    "requested": _l("已申请"),
    "taken": _l("已采样"),
    "compared": _l("已比对"),
    "matched": _l("比中"),
    "no_match": _l("未比中"),
}


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
    OPEN_STATUSES = (IN_STATION, SEARCHING, IDENTIFIED, AWAITING_RETURN)

    case_number = peewee.CharField(max_length=40, unique=True)
    station = peewee.ForeignKeyField(Station, backref="cases")
    name = peewee.CharField(max_length=100, default="")
    sex = peewee.CharField(max_length=10, default="unknown")
    age_min = peewee.SmallIntegerField(null=True)
    age_max = peewee.SmallIntegerField(null=True)
    dialect = peewee.CharField(max_length=100, default="")
    height_cm = peewee.SmallIntegerField(null=True)
    build = peewee.CharField(max_length=50, default="")
    marks = peewee.TextField(default="")
    arrival_way = peewee.CharField(max_length=20, default="other")
    found_at = peewee.DateTimeField(null=True, index=True)
    found_place = peewee.CharField(max_length=200, default="")
    health = peewee.TextField(default="")
    disability = peewee.CharField(max_length=200, default="")
    medication = peewee.TextField(default="")
    belongings = peewee.TextField(default="")
    contacts_mentioned = peewee.TextField(default="")
    notes = peewee.TextField(default="")
    id_number = peewee.CharField(max_length=18, null=True, index=True)
    id_region_code = peewee.CharField(max_length=6, default="")
    id_birth_date = peewee.DateField(null=True)
    placement = peewee.CharField(max_length=20, default="station", index=True)
    placement_since = peewee.DateField(null=True)
    dna_status = peewee.CharField(max_length=20, default="none")
    dna_note = peewee.TextField(default="")
    status = peewee.CharField(max_length=20, default=IN_STATION)
    # Indexed only where set, by migration 006: a full index misleads SQLite
    # into reading nearly every case for lists of unmerged cases.
    merged_into = peewee.ForeignKeyField(
        "self", null=True, backref="merged_cases", index=False
    )
    # Raised by every save of the form, so a stale form cannot overwrite a
    # newer edit: see services.cases.save_edit.
    version = peewee.IntegerField(default=1)
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("station", "status", "created_at"), False),
            (("status", "created_at"), False),
        )

    @property
    def display_name(self):
        return self.name or _l("姓名不详")

    @property
    def status_label(self):
        return self.STATUSES.get(self.status, self.status)

    @property
    def sex_label(self):
        return SEXES.get(self.sex, self.sex)

    @property
    def arrival_label(self):
        return ARRIVAL_WAYS.get(self.arrival_way, self.arrival_way)

    @property
    def placement_label(self):
        return PLACEMENT_KINDS.get(self.placement, self.placement)

    @property
    def dna_label(self):
        return DNA_STATUSES.get(self.dna_status, self.dna_status)

    @property
    def is_open(self):
        return self.status in self.OPEN_STATUSES

    @classmethod
    def visible_to(cls, user):
        """Cases `user` may see, without those merged into another case."""
        from access import visible_station_ids

        query = cls.select(cls, Station).join(Station).where(cls.merged_into.is_null())
        station_ids = visible_station_ids(user)
        if station_ids is not None:
            query = query.where(cls.station.in_(station_ids))
        return query


class CaseAlias(BaseModel):
    """Another name the person gave or is known by."""

    KINDS = {
        "alias": _l("别名"),
        "nickname": _l("小名/绰号"),
        "dialect": _l("方言读音写法"),
        "former": _l("曾用名"),
    }

    case = peewee.ForeignKeyField(Case, backref="aliases", on_delete="CASCADE")
    name = peewee.CharField(max_length=100)
    kind = peewee.CharField(max_length=20, default="alias")

    @property
    def kind_label(self):
        return self.KINDS.get(self.kind, self.kind)


class StatusChange(BaseModel):
    case = peewee.ForeignKeyField(Case, backref="status_changes", on_delete="CASCADE")
    from_status = peewee.CharField(max_length=20)
    to_status = peewee.CharField(max_length=20)
    reason = peewee.TextField()
    user = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow, index=True)


class Placement(BaseModel):
    """A stay of the person from `start_date` until `end_date` (None: ongoing)."""

    case = peewee.ForeignKeyField(Case, backref="placements", on_delete="CASCADE")
    kind = peewee.CharField(max_length=20)
    institution = peewee.CharField(max_length=200, default="", index=True)
    start_date = peewee.DateField()
    end_date = peewee.DateField(null=True)
    notes = peewee.TextField(default="")
    created_by = peewee.ForeignKeyField(User, backref="+")
    created_at = peewee.DateTimeField(default=utcnow)

    @property
    def kind_label(self):
        return PLACEMENT_KINDS.get(self.kind, self.kind)


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
