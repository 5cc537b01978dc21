"""Monthly figures of verification requests per station, and the count of
confirmed identities against a baseline year.

A case confirmed through several requests counts once, in the month of its
first approved sign-off.
"""

import statistics
from dataclasses import dataclass, field
from datetime import datetime

from peewee import fn

from db.accounts import Station
from db.settings import Setting
from db.verification import VerificationRequest
from services import verification
from services.timezone import local_to_utc, utc_to_local

R = VerificationRequest


@dataclass
class MonthRow:
    station: Station
    month: str  # YYYY-MM, local time
    sent: int = 0
    received: int = 0
    # Answers this station gave to requests it received.
    answered: int = 0
    on_time: int = 0
    # Answers this station got to requests it sent.
    sent_answered: int = 0
    sent_on_time: int = 0
    confirmed: int = 0
    answer_days: list = field(default_factory=list)

    @property
    def median_days(self):
        """Median days from sending to answer, or None without answers."""
        if not self.answer_days:
            return None
        return round(statistics.median(self.answer_days), 1)


def _month(moment):
    return utc_to_local(moment).strftime("%Y-%m")


def _year_bounds(year):
    return (
        local_to_utc(datetime(year, 1, 1)),
        local_to_utc(datetime(year + 1, 1, 1)),
    )


def monthly(user, year):
    """Rows per station and month of `year` (local time), ordered by both.

    A request counts as sent and received in the month it was sent. It
    counts as answered, on time or not, in the month of its answer, both
    for the answering and for the requesting station. It counts as a
    confirmed identity in the month a supervisor signed it off, unless its
    case was confirmed before.
    """
    start, end = _year_bounds(year)
    query = verification.visible_to(user).where(
        R.sent_at.between(start, end)
        | R.answered_at.between(start, end)
        | R.signed_off_at.between(start, end)
    )
    rows = {}
    stations = set(_own_station_ids(user))
    first_ids = {item.id for item in _first_confirmations(user, start, end)}

    def row(station, moment):
        key = (station.id, _month(moment))
        if key not in rows:
            rows[key] = MonthRow(station, key[1])
        return rows[key]

    for item in query:
        if item.sent_at and start <= item.sent_at < end:
            if item.from_station_id in stations and not item.imported:
                row(item.from_station, item.sent_at).sent += 1
            if item.to_station_id in stations:
                row(item.to_station, item.sent_at).received += 1
        if item.answered_at and start <= item.answered_at < end:
            on_time = utc_to_local(item.answered_at).date() <= item.due_date
            if item.to_station_id in stations:
                answered = row(item.to_station, item.answered_at)
                answered.answered += 1
                answered.on_time += on_time
                days = (item.answered_at - item.sent_at).total_seconds() / 86400
                answered.answer_days.append(days)
            if item.from_station_id in stations and not item.imported:
                got = row(item.from_station, item.answered_at)
                got.sent_answered += 1
                got.sent_on_time += on_time
        if item.id in first_ids:
            row(item.from_station, item.signed_off_at).confirmed += 1
    return sorted(rows.values(), key=lambda r: (r.station.id, r.month))


def _own_station_ids(user):
    from access import visible_station_ids

    ids = visible_station_ids(user)
    if ids is not None:
        return ids
    return [s.id for s in Station.select(Station.id)]


def _first_confirmations(user, start, end):
    """Approved requests of the user's stations signed off in [start, end)
    that were the first approved request of their case."""
    earlier = R.alias()
    approved_before = earlier.select().where(
        (earlier.case == R.case)
        & (earlier.signoff_status == verification.SIGNOFF_APPROVED)
        & (
            (earlier.signed_off_at < R.signed_off_at)
            | ((earlier.signed_off_at == R.signed_off_at) & (earlier.id < R.id))
        )
    )
    return verification.visible_to(user).where(
        (R.signoff_status == verification.SIGNOFF_APPROVED)
        & (R.signed_off_at >= start)
        & (R.signed_off_at < end)
        & R.from_station.in_(_own_station_ids(user))
        & ~fn.EXISTS(approved_before)
    )


def confirmed_count(user, year):
    """Cases first confirmed in `year` through requests of the user's stations."""
    start, end = _year_bounds(year)
    return _first_confirmations(user, start, end).count()


def against_baseline(user, year):
    """Return (baseline year, its count, `year`'s count, difference)."""
    baseline_year = Setting.get_value("verification_baseline_year")
    baseline = confirmed_count(user, baseline_year)
    current = confirmed_count(user, year)
    return baseline_year, baseline, current, current - baseline
