"""Supervisors' queue (overdue tasks, long-stay persons) and station settings.

Identity sign-off lives in blueprints.reviews.
"""

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import DataRequired, NumberRange

from access import roles_required, visible_station_ids
from blueprints.common import audit, redirect_to, render_view
from db.accounts import User
from db.base import utcnow
from db.cases import Case
from db.settings import DEFAULTS, Setting
from db.tasks import Task
from services import cases, rules

bp = Blueprint("supervision", __name__, url_prefix="/supervision")


@bp.route("/")
@roles_required(User.SUPERVISOR, User.COORDINATOR, User.ADMIN)
def index():
    if current_user.role == User.ADMIN:
        return redirect(url_for("supervision.settings"))
    now = utcnow()
    rules.escalate_overdue(now)
    return render_template(
        "supervision/index.html",
        overdue=_overdue_tasks(now),
        now=now,
    )


def _overdue_tasks(now):
    query = (
        Task.select(Task, Case)
        .join(Case)
        .where(
            (Task.status == Task.OPEN)
            & (Task.due_at < now)
            & Case.merged_into.is_null()
        )
        .order_by(Task.due_at)
    )
    station_ids = visible_station_ids(current_user)
    if station_ids is not None:
        query = query.where(Case.station.in_(station_ids))
    return list(query.limit(500))


@bp.route("/long-stay")
@roles_required(User.STAFF, User.SUPERVISOR, User.COORDINATOR)
def long_stay():
    days = Setting.get_value("long_stay_days")
    placements = cases.long_stay_placements(
        visible_station_ids(current_user), days, utcnow()
    )
    groups = {}
    for placement in placements:
        key = (placement.kind_label, placement.institution)
        groups.setdefault(key, []).append(placement)
    return render_template(
        "supervision/long_stay.html", groups=groups, days=days, now=utcnow()
    )


class SettingsForm(FlaskForm):
    pass


for _key, (_default, _label, _unit) in DEFAULTS.items():
    setattr(
        SettingsForm,
        _key,
        IntegerField(
            _label,
            description=_unit,
            validators=[
                DataRequired(_l("请填写一个正整数。")),
                NumberRange(1, 3650, _l("请填写 1 到 3650 之间的整数。")),
            ],
        ),
    )


@bp.route("/settings", methods=["GET", "POST"])
@roles_required(User.ADMIN)
def settings():
    form = SettingsForm(data=Setting.all_values())
    if request.method == "POST" and form.validate_on_submit():
        for key in DEFAULTS:
            Setting.put(key, form[key].data)
        audit("settings_changed", **{key: form[key].data for key in DEFAULTS})
        return redirect_to(url_for("supervision.settings"), _l("设置已保存。"))
    status = 422 if request.method == "POST" else 200
    return render_view("supervision/settings.html", None, status, form=form)
