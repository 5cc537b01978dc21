"""Partner organisations and their field-visit tasks.

NOTE: only the landing page exists. Partner admission, coverage and
field-visit tasks are not built yet, so volunteers see an empty task list.
"""

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("partners", __name__, url_prefix="/partners")


@bp.route("/")
@login_required
def index():
    return render_template("partners/index.html")
