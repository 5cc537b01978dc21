"""Conversions between the station's local time (Asia/Shanghai) and stored UTC."""

from datetime import UTC
from zoneinfo import ZoneInfo

from flask import current_app


def local_zone():
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def local_to_utc(value):
    """Turn a naive local datetime from a form into the naive UTC we store."""
    if value is None:
        return None
    aware = value.replace(tzinfo=local_zone())
    return aware.astimezone(UTC).replace(tzinfo=None)


def utc_to_local(value):
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC)
    return aware.astimezone(local_zone()).replace(tzinfo=None)


def local_today():
    """Return today's date at the station, not the server's UTC date."""
    from db.base import utcnow

    return utc_to_local(utcnow()).date()
