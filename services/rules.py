"""Deadlines that stations work under, turned into tasks on each new case.

The periods are settings (db.settings.DEFAULTS), so a station changes them
without a release. The defaults: a search notice within 24 hours of intake,
a DNA sample requested through the police within 7 working days, a long-stay
review after 10 days, and a settlement review (落户安置) after 3 months.
"""

import calendar
import logging
from datetime import datetime, time, timedelta

from flask_babel import lazy_gettext as _l

from db.settings import Setting
from db.tasks import Task
from services.timezone import local_to_utc, utc_to_local

logger = logging.getLogger("tuanyuan.tasks")

RULE_TITLES = {
    "search_notice": _l("发布寻亲公告"),
    "dna_request": _l("经公安申请DNA采样"),
    "long_stay_review": _l("长期滞留评估"),
    "settlement_review": _l("评估是否落户安置"),
}


def add_months(moment, months):
    """Return `moment` plus whole months, on the last day of a shorter month."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def rule_deadlines(intake_at):
    """Return {rule: due time in UTC} for a case taken in at `intake_at` (UTC)."""
    from services.workdays import add_workdays

    settings = Setting.all_values()
    local_intake = utc_to_local(intake_at)
    dna_day = add_workdays(local_intake.date(), settings["dna_request_workdays"])
    return {
        "search_notice": intake_at + timedelta(hours=settings["search_notice_hours"]),
        # A deadline in working days runs to the end of that local day.
        "dna_request": local_to_utc(datetime.combine(dna_day, time(23, 59))),
        "long_stay_review": intake_at + timedelta(days=settings["long_stay_days"]),
        "settlement_review": add_months(intake_at, settings["settlement_months"]),
    }


def schedule(case, owner):
    """Create the rule tasks of a new case; call inside its transaction."""
    for rule, due_at in rule_deadlines(case.created_at).items():
        Task.create(
            case=case,
            kind=rule,
            rule=rule,
            title=str(RULE_TITLES[rule]),
            owner=owner,
            due_at=due_at,
        )


def complete_rule(case, rule, outcome, now):
    """Mark the open task of `rule` done, e.g. when a DNA sample is requested."""
    return (
        Task.update(status=Task.DONE, outcome=outcome, completed_at=now)
        .where((Task.case == case) & (Task.rule == rule) & (Task.status == Task.OPEN))
        .execute()
    )


def escalate_overdue(now):
    """Flag open tasks past their due time for the supervisors; return them.

    Overdue verification requests first get a reminder task on their case,
    so the same run flags them.
    """
    from services import verification

    verification.remind_overdue(now)
    overdue = list(
        Task.select().where(
            (Task.status == Task.OPEN)
            & (Task.due_at < now)
            & Task.escalated_at.is_null()
        )
    )
    if overdue:
        ids = [task.id for task in overdue]
        Task.update(escalated_at=now).where(Task.id.in_(ids)).execute()
        logger.info("escalated %d overdue task(s)", len(ids))
    return overdue
