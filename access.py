"""Role and station checks: the one place that decides who may see or do what."""

from functools import wraps

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from db.accounts import Station, User

ROLE_LABELS = {
    User.STAFF: _l("工作人员"),
    User.SUPERVISOR: _l("审核人"),
    User.COORDINATOR: _l("市站统筹"),
    User.VOLUNTEER: _l("志愿者"),
    User.ADMIN: _l("系统管理员"),
}

# Roles that work on case content: intake, photos, reports, face search.
CASE_ROLES = (User.STAFF, User.SUPERVISOR, User.COORDINATOR)


def visible_station_ids(user):
    """Return the ids of stations whose cases `user` may see, or None for all.

    Staff see their own station, supervisors their station and the stations
    under it, coordinators every station. Volunteers and administrators see no
    case content through this rule.
    """
    if user.role == User.COORDINATOR:
        return None
    if user.role == User.SUPERVISOR:
        return user.station.descendant_ids()
    if user.role == User.STAFF:
        return [user.station_id]
    return []


def can_view_station(user, station_id):
    ids = visible_station_ids(user)
    return ids is None or station_id in ids


def can_view_case(user, case):
    return user.role in CASE_ROLES and can_view_station(user, case.station_id)


def require_case(case):
    """Abort with 404 unless the current user may see `case`.

    404 rather than 403, so that other stations' case ids reveal nothing.
    """
    if not can_view_case(current_user, case):
        abort(404)
    return case


def roles_required(*roles):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


case_work_required = roles_required(*CASE_ROLES)


def stations_for_intake(user):
    """Stations a user may register a case or report for."""
    ids = visible_station_ids(user)
    query = Station.select().where(Station.kind != Station.OTHER)
    if ids is not None:
        query = query.where(Station.id.in_(ids))
    return query.order_by(Station.id)
