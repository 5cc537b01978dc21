"""Monthly figures of verification requests per station, and the count of
confirmed identities against a baseline year."""

import statistics
from dataclasses import dataclass, field
from datetime import datetime

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
    answered: int = 0
    on_time: int = 0
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

    A request counts as sent and received in the month it was sent, as
    answered (and on time or not) in the month of its answer, and as a
    confirmed identity in the month a supervisor signed it off.
    """
    start, end = _year_bounds(year)
    query = verification.visible_to(user).where(
        R.sent_at.between(start, end)
        | R.answered_at.between(start, end)
        | R.signed_off_at.between(start, end)
    )
    rows = {}
    stations = set(_own_station_ids(user))

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
            if item.to_station_id in stations:
                answered = row(item.to_station, item.answered_at)
                answered.answered += 1
                if utc_to_local(item.answered_at).date() <= item.due_date:
                    answered.on_time += 1
                days = (item.answered_at - item.sent_at).total_seconds() / 86400
                answered.answer_days.append(days)
        if (
            item.signoff_status == verification.SIGNOFF_APPROVED
            and start <= item.signed_off_at < end
            and item.from_station_id in stations
        ):
            row(item.from_station, item.signed_off_at).confirmed += 1
    return sorted(rows.values(), key=lambda r: (r.station.id, r.month))


def _own_station_ids(user):
    from access import visible_station_ids

    ids = visible_station_ids(user)
    if ids is not None:
        return ids
    return [s.id for s in Station.select(Station.id)]


def confirmed_count(user, year):
    """Identities confirmed through requests of the user's stations in `year`."""
    start, end = _year_bounds(year)
    return (
        verification.visible_to(user)
        .where(
            (R.signoff_status == verification.SIGNOFF_APPROVED)
            & (R.signed_off_at >= start)
            & (R.signed_off_at < end)
            & R.from_station.in_(_own_station_ids(user))
        )
        .count()
    )


def against_baseline(user, year):
    """Return (baseline year, its count, `year`'s count, difference)."""
    baseline_year = Setting.get_value("verification_baseline_year")
    baseline = confirmed_count(user, baseline_year)
    current = confirmed_count(user, year)
    return baseline_year, baseline, current, current - baseline
