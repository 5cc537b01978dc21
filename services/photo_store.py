"""Checking uploaded photos, then storing them with their face vectors.

Checks run before anything is written, so a form with one bad photo saves
nothing. `store` runs inside the caller's transaction, and StoredFiles
removes the files it wrote if that transaction fails.
"""

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image

from db.photos import FaceVector, GalleryRevision, Photo
from services import faces, photos
from services.errors import InputError

logger = logging.getLogger("tuanyuan.photos")


@dataclass
class PreparedPhoto:
    original_name: str
    photo: photos.NormalisedPhoto
    face: faces.FaceVector


def read_upload(storage, max_bytes):
    """Read one uploaded file, refusing to buffer more than `max_bytes`."""
    data = storage.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise photos.PhotoError(
            "too_large",
            _l(
                "照片文件超过上限 %(mb)d MB，请压缩后再上传。",
                mb=max_bytes // (1024 * 1024),
            ),
        )
    return data


def prepare(uploads):
    """Check and embed each upload; return (prepared photos, error messages)."""
    prepared, errors = [], []
    max_bytes = current_app.config["PHOTO_MAX_BYTES"]
    for storage in uploads:
        name = (storage.filename or "").strip()[:255]
        try:
            prepared.append(prepare_one(name, read_upload(storage, max_bytes)))
        except InputError as error:
            errors.append(f"{name or _l('照片')}：{error}")
    return prepared, errors


def prepare_one(name, data):
    """Normalise and embed one photo; raises PhotoError or FaceError."""
    photo = photos.normalise(data, max_bytes=current_app.config["PHOTO_MAX_BYTES"])
    return PreparedPhoto(name, photo, faces.embed(photo.image))


def upload_folder():
    return Path(current_app.config["UPLOAD_FOLDER"])


PREVIEW_SIDE = 480
FACE_CROP_SIDE = 240


def photo_path(photo):
    return upload_folder() / photo.stored_name[:2] / photo.stored_name


def preview_path(photo):
    """Return the small copy shown in lists, making it first if it is missing."""
    path = photo_path(photo)
    preview = path.with_name(path.stem + ".preview.jpg")
    if not preview.exists():
        with Image.open(path) as image:
            _write_atomically(preview, photos.thumbnail(image, PREVIEW_SIDE))
    return preview


def face_crop_path(photo):
    """Return a crop around the photo's face, so candidates compare face to face.

    Falls back to the preview when the photo has no stored face box.
    """
    box = photo.faces.order_by(FaceVector.id.desc()).first()
    if box is None:
        return preview_path(photo)
    path = photo_path(photo)
    crop = path.with_name(path.stem + ".face.jpg")
    if not crop.exists():
        margin = max(box.box_width, box.box_height) * 0.4
        with Image.open(path) as image:
            face = image.crop(
                (
                    max(0, round(box.box_left - margin)),
                    max(0, round(box.box_top - margin)),
                    min(image.width, round(box.box_left + box.box_width + margin)),
                    min(image.height, round(box.box_top + box.box_height + margin)),
                )
            )
            _write_atomically(crop, photos.thumbnail(face, FACE_CROP_SIDE))
    return crop


def _write_atomically(path, data):
    # A unique temporary name, so two requests making the same file at once
    # never interleave their writes.
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    partial.write_bytes(data)
    partial.replace(path)


class StoredFiles:
    """Context manager that deletes the files written inside it on error."""

    def __init__(self):
        self.paths = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for path in self.paths:
                path.unlink(missing_ok=True)
        return False


def store(prepared, files, *, user, case=None, report=None):
    """Write the photos and their face vectors; call inside a transaction."""
    rows = []
    for item in prepared:
        stored_name = f"{uuid.uuid4().hex}.jpg"
        photo = Photo(
            case=case,
            report=report,
            stored_name=stored_name,
            original_name=item.original_name,
            sha256=item.photo.sha256,
            width=item.photo.width,
            height=item.photo.height,
            uploaded_by=user,
        )
        path = photo_path(photo)
        preview = path.with_name(path.stem + ".preview.jpg")
        path.parent.mkdir(parents=True, exist_ok=True)
        files.paths.extend([path, preview])
        path.write_bytes(item.photo.jpeg)
        preview.write_bytes(photos.thumbnail(item.photo.image, PREVIEW_SIDE))
        photo.save()
        _save_face(photo, item.face)
        rows.append(photo)
    if report is not None and rows:
        GalleryRevision.bump()
    logger.info("stored %d photo(s)", len(rows))
    return rows


def _save_face(photo, embedding):
    box = embedding.face
    FaceVector.create(
        photo=photo,
        model_name=faces.MODEL_NAME,
        model_version=faces.MODEL_VERSION,
        detector=faces.DETECTOR,
        vector=faces.vector_to_bytes(embedding.vector),
        box_left=box.left,
        box_top=box.top,
        box_width=box.width,
        box_height=box.height,
    )
