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
        gallery.replace(ids, np.vstack(vectors))
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
    fetch = limit * 3
    while True:
        hits = _best_per_report(
            gallery.search(vector, k=fetch), limit, photo_of, report_of
        )
        # A report may have several photos among the top vectors; look further
        # down until `limit` different reports are found or the gallery ends.
        if len(hits) == limit or fetch >= len(photo_of):
            return hits, len(photo_of)
        fetch *= 2


def _best_per_report(ranked, limit, photo_of, report_of):
    hits, seen = [], set()
    for face_id, similarity in ranked:
        report_id = report_of[face_id]
        if report_id in seen:
            continue
        seen.add(report_id)
        hits.append(
            Hit(report_id, photo_of[face_id], similarity, faces.band(similarity))
        )
        if len(hits) == limit:
            break
    return hits
