"""Partner organisations and their field-visit tasks.

NOTE: only the landing page exists. Partner admission, coverage and
field-visit tasks are not built yet, so volunteers see an empty task list.
"""

from flask import Blueprint, render_template

from access import roles_required
from db.accounts import User

bp = Blueprint("partners", __name__, url_prefix="/partners")


@bp.route("/")
@roles_required(User.VOLUNTEER, User.COORDINATOR, User.ADMIN)
def index():
    return render_template("partners/index.html")
