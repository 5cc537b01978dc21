"""Serving stored photos to logged-in users who may see their case or report."""

from flask import Blueprint, abort, send_file
from flask_login import current_user
from PIL import Image

from access import can_view_case, case_work_required
from db.photos import Photo
from services.photo_store import photo_path

bp = Blueprint("photos", __name__, url_prefix="/photos")

PREVIEW_SIZE = (480, 480)


@bp.route("/<int:photo_id>")
@bp.route("/<int:photo_id>/<any(preview):variant>")
@case_work_required
def show(photo_id, variant=None):
    photo = Photo.get_or_404(Photo.id == photo_id)
    if photo.case_id is not None and not can_view_case(current_user, photo.case):
        abort(404)
    path = photo_path(photo)
    if not path.exists():
        abort(404)
    if variant == "preview":
        path = _preview_of(path)
    response = send_file(path, mimetype="image/jpeg", max_age=0)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def _preview_of(path):
    """Return a small copy of the photo for lists, made once on first use."""
    preview = path.with_name(path.stem + ".preview.jpg")
    if not preview.exists():
        with Image.open(path) as image:
            image.thumbnail(PREVIEW_SIZE)
            partial = preview.with_suffix(".tmp")
            image.save(partial, "JPEG", quality=85)
            partial.replace(preview)
    return preview
