"""Checking uploaded photos, then storing them with their face vectors.

Checks run before anything is written, so a form with one bad photo saves
nothing. `store` runs inside the caller's transaction, and StoredFiles
removes the files it wrote if that transaction fails.
"""

import hashlib
import json
import logging
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image

from db.photos import FaceVector, GalleryRevision, Photo
from services import faces, photos
from services.errors import InputError

logger = logging.getLogger("tuanyuan.photos")


@dataclass
class PreparedPhoto:
    """A checked photo ready to store: the encoded files and the face vector.

    The decoded image is not kept, so a form with several large photos keeps
    their JPEG bytes in memory, not their pixels.
    """

    original_name: str
    jpeg: bytes
    preview: bytes
    sha256: str
    width: int
    height: int
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
    limit = current_app.config["MAX_PHOTOS_PER_UPLOAD"]
    if len(uploads) > limit:
        return [], [_l("一次最多上传 %(n)s 张照片，请分批上传。", n=limit)]
    for storage in uploads:
        name = (storage.filename or "").strip()[:255]
        try:
            prepared.append(prepare_one(name, read_upload(storage, max_bytes)))
        except InputError as error:
            errors.append(f"{name or _l('照片')}：{error}")
    if errors:
        logger.info("rejected %d of %d uploaded photo(s)", len(errors), len(uploads))
    return prepared, errors


def prepare_one(name, data, face=None):
    """Normalise and embed one photo; raises PhotoError or FaceError.

    `face` is the box staff picked in a group photo; by default the photo's
    main face is used.
    """
    photo = photos.normalise(data, max_bytes=current_app.config["PHOTO_MAX_BYTES"])
    return PreparedPhoto(
        original_name=name,
        jpeg=photo.jpeg,
        preview=photos.thumbnail(photo.image, PREVIEW_SIDE),
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        face=faces.embed(photo.image, face=face),
    )


PENDING_TOKEN = re.compile(r"^[0-9a-f]{32}$")
PENDING_MAX_AGE = 24 * 3600


def pending_folder():
    return Path(current_app.instance_path) / "pending"


def stash(prepared):
    """Keep checked photos for a form that must be confirmed; return a token.

    The confirmation then reuses them, so staff do not choose the files again.
    Stashes older than PENDING_MAX_AGE are removed on the way.
    """
    _remove_old_stashes()
    token = uuid.uuid4().hex
    folder = pending_folder() / token
    folder.mkdir(parents=True)
    manifest = []
    for index, item in enumerate(prepared):
        (folder / f"{index}.jpg").write_bytes(item.jpeg)
        (folder / f"{index}.preview.jpg").write_bytes(item.preview)
        face = item.face.face
        manifest.append(
            {
                "name": item.original_name,
                "size": [item.width, item.height],
                "face": [face.left, face.top, face.right, face.bottom, face.score],
                "vector": [float(v) for v in item.face.vector],
            }
        )
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
    return token


def unstash(token):
    """Return the photos kept under `token`, or None if it is unknown or expired."""
    if not token or not PENDING_TOKEN.match(token):
        return None
    folder = pending_folder() / token
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        return None
    prepared = []
    for index, entry in enumerate(json.loads(manifest_path.read_text())):
        jpeg = (folder / f"{index}.jpg").read_bytes()
        vector = faces.normalise_vector(np.array(entry["vector"], dtype=np.float32))
        prepared.append(
            PreparedPhoto(
                original_name=entry["name"],
                jpeg=jpeg,
                preview=(folder / f"{index}.preview.jpg").read_bytes(),
                sha256=hashlib.sha256(jpeg).hexdigest(),
                width=entry["size"][0],
                height=entry["size"][1],
                face=faces.FaceVector(vector=vector, face=faces.Face(*entry["face"])),
            )
        )
    return prepared


def stash_group(photo, found):
    """Keep a photo with several faces while staff pick one; return a token."""
    _remove_old_stashes()
    token = uuid.uuid4().hex
    folder = pending_folder() / token
    folder.mkdir(parents=True)
    (folder / "group.jpg").write_bytes(photo.jpeg)
    boxes = [[f.left, f.top, f.right, f.bottom, f.score] for f in found]
    (folder / "faces.json").write_text(json.dumps(boxes))
    return token


def load_group(token):
    """Return (JPEG bytes, faces) kept by stash_group, or None."""
    if not token or not PENDING_TOKEN.match(token):
        return None
    folder = pending_folder() / token
    if not (folder / "faces.json").exists():
        return None
    found = [
        faces.Face(*box) for box in json.loads((folder / "faces.json").read_text())
    ]
    return (folder / "group.jpg").read_bytes(), found


def discard(token):
    if token and PENDING_TOKEN.match(token):
        shutil.rmtree(pending_folder() / token, ignore_errors=True)


def _remove_old_stashes():
    folder = pending_folder()
    if not folder.exists():
        return
    limit = time.time() - PENDING_MAX_AGE
    for entry in folder.iterdir():
        if entry.is_dir() and entry.stat().st_mtime < limit:
            shutil.rmtree(entry, ignore_errors=True)


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
            write_atomically(preview, photos.thumbnail(image, PREVIEW_SIDE))
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
            write_atomically(crop, photos.thumbnail(face, FACE_CROP_SIDE))
    return crop


def write_atomically(path, data):
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
            sha256=item.sha256,
            width=item.width,
            height=item.height,
            uploaded_by=user,
        )
        path = photo_path(photo)
        preview = path.with_name(path.stem + ".preview.jpg")
        path.parent.mkdir(parents=True, exist_ok=True)
        files.paths.extend([path, preview])
        path.write_bytes(item.jpeg)
        preview.write_bytes(item.preview)
        photo.save()
        save_face(photo, item.face)
        rows.append(photo)
    if rows:
        GalleryRevision.bump("report" if report is not None else "case")
    logger.info("stored %d photo(s)", len(rows))
    return rows


def save_face(photo, embedding):
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
