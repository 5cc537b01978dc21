"""Home page: what needs attention at the user's station."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

from access import CASE_ROLES
from db.accounts import User
from db.cases import Case
from db.reports import MissingReport

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def index():
    if current_user.role not in CASE_ROLES:
        return redirect(url_for(f"{_home_of(current_user.role)}.index"))
    cases = Case.visible_to(current_user)
    counts = {
        "open": cases.where(Case.status.in_(_OPEN_STATUSES)).count(),
        "searching": cases.where(Case.status == Case.SEARCHING).count(),
        "reports": MissingReport.select()
        .where(MissingReport.status == MissingReport.OPEN)
        .count(),
    }
    recent = cases.order_by(Case.created_at.desc()).limit(8)
    return render_template("main/index.html", counts=counts, recent=recent)


_OPEN_STATUSES = (
    Case.IN_STATION,
    Case.SEARCHING,
    Case.IDENTIFIED,
    Case.AWAITING_RETURN,
)


def _home_of(role):
    return "partners" if role == User.VOLUNTEER else "supervision"
