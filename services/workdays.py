"""Working days in mainland China: public holidays and adjusted working days (调休).

The calendar is the State Council's yearly holiday schedule as published in
chinese-calendar 1.11.0, which covers 2004 to 2026.
"""

import logging
from datetime import date, timedelta

import chinese_calendar

logger = logging.getLogger(__name__)

# Years without data for which the Monday-Friday fallback was already logged.
_years_warned = set()


def is_workday(day: date) -> bool:
    """Tell whether offices work on `day`, counting adjusted Saturdays and Sundays.

    NOTE: for a year that chinese-calendar does not cover, Monday to Friday
    count as working days, so holidays are missed until the package is updated
    with that year's schedule (published by the State Council each autumn).
    """
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        if day.year not in _years_warned:
            _years_warned.add(day.year)
            logger.warning(
                "No holiday schedule for %d in chinese-calendar %s; "
                "counting Monday to Friday as working days",
                day.year,
                chinese_calendar.__version__,
            )
        return day.weekday() < 5


def add_workdays(start: date, days: int) -> date:
    """Return the date `days` working days after `start` (before it if negative).

    `start` itself is not counted, so one working day after a Friday before a
    normal weekend is the Monday. With `days` 0, `start` is returned unchanged.
    """
    step = timedelta(days=1 if days >= 0 else -1)
    remaining = abs(days)
    day = start
    while remaining:
        day += step
        if is_workday(day):
            remaining -= 1
    return day
