"""Supervisor sign-offs and administration.

NOTE: only the landing page exists. Sign-off of identity confirmations and
the account administration pages are not built yet; accounts are created
with `flask users create`.
"""

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("supervision", __name__, url_prefix="/supervision")


@bp.route("/")
@login_required
def index():
    return render_template("supervision/index.html")
