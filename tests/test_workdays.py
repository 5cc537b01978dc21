import logging
from datetime import date

import pytest

from services import workdays

# National Day and Mid-Autumn 2025: 1-8 October off, with Sunday 28 September
# and Saturday 11 October as adjusted working days.


@pytest.mark.parametrize(
    "day, expected",
    [
        (date(2025, 9, 26), True),  # Friday
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),  # Sunday, adjusted working day
        (date(2025, 9, 30), True),  # Tuesday
        (date(2025, 10, 1), False),  # Wednesday, National Day
        (date(2025, 10, 6), False),  # Monday, Mid-Autumn
        (date(2025, 10, 8), False),  # Wednesday, last day off
        (date(2025, 10, 9), True),  # Thursday
        (date(2025, 10, 11), True),  # Saturday, adjusted working day
        (date(2025, 10, 12), False),  # Sunday
    ],
)
def test_is_workday_around_national_day(day, expected):
    assert workdays.is_workday(day) is expected


@pytest.mark.parametrize(
    "start, days, expected",
    [
        (date(2025, 9, 30), 1, date(2025, 10, 9)),
        (date(2025, 9, 30), 3, date(2025, 10, 11)),
        (date(2025, 9, 30), 4, date(2025, 10, 13)),
        (date(2025, 9, 26), 1, date(2025, 9, 28)),
        (date(2025, 10, 1), 1, date(2025, 10, 9)),
        (date(2025, 10, 9), -1, date(2025, 9, 30)),
        (date(2025, 10, 13), -2, date(2025, 10, 10)),
        (date(2025, 10, 13), -3, date(2025, 10, 9)),
        (date(2025, 10, 4), 0, date(2025, 10, 4)),
    ],
)
def test_add_workdays_across_national_day(start, days, expected):
    assert workdays.add_workdays(start, days) == expected


def test_add_workdays_ordinary_week():
    friday = date(2025, 11, 14)

    assert workdays.add_workdays(friday, 1) == date(2025, 11, 17)
    assert workdays.add_workdays(friday, 5) == date(2025, 11, 21)


def test_add_workdays_round_trip():
    start = date(2025, 9, 30)

    later = workdays.add_workdays(start, 10)

    assert workdays.add_workdays(later, -10) == start


def test_later_year_uses_weekdays(monkeypatch, caplog):
    monkeypatch.setattr(workdays, "_years_warned", set())
    national_day = date(2040, 10, 1)  # a Monday

    with caplog.at_level(logging.WARNING, logger="services.workdays"):
        assert workdays.is_workday(national_day) is True
        assert workdays.is_workday(date(2040, 10, 6)) is False  # Saturday
        assert workdays.add_workdays(date(2040, 10, 5), 1) == date(2040, 10, 8)

    warnings = [r for r in caplog.records if "2040" in r.getMessage()]
    assert len(warnings) == 1


def test_earlier_year_uses_weekdays():
    assert workdays.is_workday(date(2000, 10, 2)) is True  # Monday
    assert workdays.is_workday(date(2000, 10, 1)) is False  # Sunday
