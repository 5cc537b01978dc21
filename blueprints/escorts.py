"""Escorts home (护送返乡).

NOTE: only the landing page exists. Escort plans, itineraries and handover
records are not built yet.
"""

from flask import Blueprint, render_template

from access import case_work_required

bp = Blueprint("escorts", __name__, url_prefix="/escorts")


@bp.route("/")
@case_work_required
def index():
    return render_template("escorts/index.html")
