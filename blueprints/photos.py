"""Serving stored photos to logged-in users who may see their case or report."""

from flask import Blueprint, abort, send_file
from flask_login import current_user

from access import can_view_case, case_work_required
from db.photos import Photo
from services.photo_store import face_crop_path, photo_path, preview_path

bp = Blueprint("photos", __name__, url_prefix="/photos")


@bp.route("/<int:photo_id>")
@bp.route("/<int:photo_id>/<any(preview, face):variant>")
@case_work_required
def show(photo_id, variant=None):
    photo = Photo.get_or_404(Photo.id == photo_id)
    if photo.case_id is not None and not can_view_case(current_user, photo.case):
        abort(404)
    if not photo_path(photo).exists():
        abort(404)
    if variant == "preview":
        path = preview_path(photo)
    elif variant == "face":
        path = face_crop_path(photo)
    else:
        path = photo_path(photo)
    response = send_file(path, mimetype="image/jpeg", max_age=0)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
