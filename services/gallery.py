"""The in-memory face gallery of open missing-person reports, kept per process.

Each process loads every report vector of the current model into one matrix
and reloads it when GalleryRevision moves, which any process raises after it
adds or removes report photos.
"""

import logging
import threading
from dataclasses import dataclass

import numpy as np

from db.photos import FaceVector, GalleryRevision, Photo
from db.reports import MissingReport
from services import faces

logger = logging.getLogger("tuanyuan.gallery")

_lock = threading.Lock()
_state = {"revision": None, "gallery": None, "photo_of": {}, "report_of": {}}


@dataclass
class Hit:
    report_id: int
    photo_id: int
    similarity: float
    band: str


def _load():
    rows = (
        FaceVector.select(FaceVector.id, FaceVector.vector, Photo.id, Photo.report)
        .join(Photo)
        .join(MissingReport)
        .where(
            (MissingReport.status == MissingReport.OPEN)
            & (FaceVector.model_name == faces.MODEL_NAME)
            & (FaceVector.model_version == faces.MODEL_VERSION)
        )
        .tuples()
    )
    ids, vectors, photo_of, report_of = [], [], {}, {}
    for face_id, blob, photo_id, report_id in rows:
        ids.append(face_id)
        vectors.append(faces.vector_from_bytes(blob))
        photo_of[face_id] = photo_id
        report_of[face_id] = report_id
    gallery = faces.Gallery()
    if ids:
        gallery.replace(np.array(ids), np.vstack(vectors))
    return gallery, photo_of, report_of


def current():
    """Return the gallery, reloading it if another process changed it."""
    revision = GalleryRevision.current()
    with _lock:
        if _state["revision"] != revision or _state["gallery"] is None:
            gallery, photo_of, report_of = _load()
            _state.update(
                revision=revision,
                gallery=gallery,
                photo_of=photo_of,
                report_of=report_of,
            )
            logger.info("gallery loaded: %d face vectors", len(photo_of))
        return _state["gallery"], _state["photo_of"], _state["report_of"]


def search(vector, limit=10):
    """Rank open reports by their best face similarity to `vector`."""
    gallery, photo_of, report_of = current()
    hits, seen = [], set()
    # A report may have several photos; over-fetch, then keep its best one.
    for face_id, similarity in gallery.search(vector, k=limit * 5):
        report_id = report_of[int(face_id)]
        if report_id in seen:
            continue
        seen.add(report_id)
        similarity = float(similarity)
        hits.append(
            Hit(report_id, photo_of[int(face_id)], similarity, faces.band(similarity))
        )
        if len(hits) == limit:
            break
    return hits, len(photo_of)
