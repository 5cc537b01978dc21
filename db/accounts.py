"""Stations and the staff accounts that belong to them."""

import secrets

import peewee
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin

from db.base import BaseModel, utcnow

_hasher = PasswordHasher()


def _new_token():
    return secrets.token_hex(16)


class Station(BaseModel):
    CITY = "city"
    DISTRICT = "district"
    OTHER = "other"
    KINDS = (CITY, DISTRICT, OTHER)
    NEIGHBOUR_CITY = "neighbour_city"
    PILOT_CENTRE = "pilot_centre"
    OTHER_STATION = "other_station"
    DIRECTORY_GROUPS = (NEIGHBOUR_CITY, PILOT_CENTRE, OTHER_STATION)

    name = peewee.CharField(max_length=100, unique=True)
    # Short name used in case numbers, e.g. 越秀 in 越秀-2026-0153.
    short_name = peewee.CharField(max_length=20, unique=True)
    kind = peewee.CharField(max_length=20, default=DISTRICT)
    parent = peewee.ForeignKeyField("self", null=True, backref="children")
    division_code = peewee.CharField(max_length=12, default="")
    address = peewee.CharField(max_length=200, default="")
    phone = peewee.CharField(max_length=40, default="")
    # Place in the station directory for stations of other cities:
    # DIRECTORY_GROUPS keys, empty for the city station and its sub-stations.
    directory_group = peewee.CharField(max_length=20, default="")
    # A station of another city whose staff log in to this deployment, so
    # requests reach its inbox instead of going out as a letter and file.
    uses_platform = peewee.BooleanField(default=False)
    # Fax, e-mail, government intranet address and other ways to reach it.
    channels = peewee.TextField(default="")

    def __str__(self):
        return self.name

    @property
    def receives_online(self):
        """True when requests to this station reach its inbox in this app."""
        return self.kind in (self.CITY, self.DISTRICT) or self.uses_platform

    def descendant_ids(self):
        """Return this station's id and the ids of every station under it."""
        ids = [self.id]
        frontier = [self.id]
        while frontier:
            frontier = [
                s.id
                for s in Station.select(Station.id).where(Station.parent.in_(frontier))
            ]
            ids.extend(frontier)
        return ids


class User(UserMixin, BaseModel):
    STAFF = "staff"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"
    VOLUNTEER = "volunteer"
    ADMIN = "admin"
    ROLES = (STAFF, SUPERVISOR, COORDINATOR, VOLUNTEER, ADMIN)

    username = peewee.CharField(max_length=50, unique=True)
    full_name = peewee.CharField(max_length=50)
    role = peewee.CharField(max_length=20, default=STAFF)
    station = peewee.ForeignKeyField(Station, backref="users")
    password_hash = peewee.CharField(max_length=200)
    is_active_account = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_login_at = peewee.DateTimeField(null=True)
    # Part of the id kept in the session cookie; a new token at logout makes
    # every cookie issued before it useless.
    session_token = peewee.CharField(max_length=32, default=_new_token)

    @property
    def is_active(self):
        return self.is_active_account

    def get_id(self):
        return f"{self.id}:{self.session_token}"

    @classmethod
    def from_session_id(cls, value):
        """Return the active user a session id names, or None if it is stale."""
        user_id, _, token = (value or "").partition(":")
        if not user_id.isdigit() or not token:
            return None
        return cls.get_or_none(
            (cls.id == int(user_id))
            & (cls.session_token == token)
            & cls.is_active_account
        )

    def end_sessions(self):
        self.session_token = _new_token()
        self.save(only=[User.session_token])

    def set_password(self, password):
        self.password_hash = _hasher.hash(password)

    def check_password(self, password):
        """Verify `password`, upgrading the stored hash when argon2's defaults grow."""
        try:
            _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if _hasher.check_needs_rehash(self.password_hash):
            self.set_password(password)
            self.save(only=[User.password_hash])
        return True


def spend_password_check(password):
    """Run one hash check against a dummy hash, so that a login with an unknown
    username takes as long as one with a wrong password."""
    try:
        return _hasher.verify(_DUMMY_HASH, password)
    except VerificationError:
        return False


_DUMMY_HASH = _hasher.hash("not-a-real-password")
