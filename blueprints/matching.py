"""Face search (一照寻亲) from a case photo, and its ranked candidates."""

from flask import Blueprint, current_app, request, url_for
from flask_login import current_user

from access import case_work_required, require_case
from blueprints.common import audit, notify, render_view
from db.base import database
from db.cases import Case
from db.matching import FaceSearch
from db.photos import Photo
from services import faces, matching

bp = Blueprint("matching", __name__)


@bp.route("/cases/<int:case_id>/photos/<int:photo_id>/search", methods=["POST"])
@case_work_required
def search(case_id, photo_id):
    case = require_case(Case.get_or_404(Case.id == case_id))
    photo = Photo.get_or_404((Photo.id == photo_id) & (Photo.case == case))
    try:
        # The search and its audit row are saved together or not at all.
        with database.atomic():
            result = matching.run_search(
                case, photo, current_user.id, current_app.config["SEARCH_RESULTS"]
            )
            top = [(c.report_id, round(c.similarity, 4)) for c in result.candidates]
            audit(
                "face_search", case, photo_id=photo.id, search_id=result.id, top=top[:5]
            )
    except matching.SearchError as error:
        return notify(
            render_view("matching/_error.html", message=error), error, "error"
        )
    return _show(result)


@bp.route("/searches/<int:search_id>")
@case_work_required
def show(search_id):
    result = FaceSearch.get_or_404(FaceSearch.id == search_id)
    require_case(result.case)
    return _show(result)


def _show(result):
    return render_view(
        "matching/search.html",
        "matching/_results.html",
        search=result,
        case=result.case,
        candidates=matching.candidates_of(result),
        band_labels=faces.BAND_LABELS,
        decisions=matching.decisions_for(result.case),
        search_url=url_for("matching.show", search_id=result.id),
        is_page=request.method == "GET",
    )
