"""In-memory face galleries, kept per process: the open missing-person
reports (searched from case photos) and the cases (searched at intake for
repeat visitors).

Each process loads a gallery's vectors of the current model into one matrix
and reloads it when that gallery's GalleryRevision token changes, which any
process does after it adds or removes photos.
"""

import logging
import threading
from dataclasses import dataclass

import numpy as np

from db.cases import Case
from db.photos import FaceVector, GalleryRevision, Photo
from db.reports import MissingReport
from services import faces

logger = logging.getLogger("tuanyuan.gallery")

REPORTS = "report"
CASES = "case"

_lock = threading.Lock()
_loaded = {}


@dataclass
class Hit:
    owner_id: int
    photo_id: int
    similarity: float
    band: str

    @property
    def report_id(self):
        return self.owner_id


@dataclass
class _Loaded:
    revision: str
    gallery: faces.Gallery
    photo_of: dict
    owner_of: dict


def _rows(kind):
    query = FaceVector.select(FaceVector.id, FaceVector.vector, Photo.id)
    current_model = (FaceVector.model_name == faces.MODEL_NAME) & (
        FaceVector.model_version == faces.MODEL_VERSION
    )
    if kind == REPORTS:
        return (
            query.select_extend(Photo.report)
            .join(Photo)
            .join(MissingReport)
            .where(current_model & (MissingReport.status == MissingReport.OPEN))
            .tuples()
        )
    return (
        query.select_extend(Photo.case)
        .join(Photo)
        .join(Case)
        .where(current_model & Case.merged_into.is_null())
        .tuples()
    )


def _load(kind, revision):
    ids, vectors, photo_of, owner_of = [], [], {}, {}
    for face_id, blob, photo_id, owner_id in _rows(kind):
        ids.append(face_id)
        vectors.append(faces.vector_from_bytes(blob))
        photo_of[face_id] = photo_id
        owner_of[face_id] = owner_id
    gallery = faces.Gallery()
    if ids:
        gallery.replace(ids, np.vstack(vectors))
    logger.info("%s gallery loaded: %d face vectors", kind, len(ids))
    return _Loaded(revision, gallery, photo_of, owner_of)


def current(kind=REPORTS):
    """Return the loaded gallery of `kind`, reloading it if it changed."""
    revision = GalleryRevision.current(kind)
    with _lock:
        loaded = _loaded.get(kind)
        if loaded is None or loaded.revision != revision:
            loaded = _loaded[kind] = _load(kind, revision)
        return loaded


def search(vector, limit=10, kind=REPORTS, exclude=()):
    """Rank the owners (reports or cases) by their best face similarity.

    Returns (hits, number of vectors searched). Owners in `exclude` are left out.
    """
    loaded = current(kind)
    size = len(loaded.photo_of)
    fetch = (limit + len(exclude)) * 3
    while True:
        hits = _best_per_owner(
            loaded, loaded.gallery.search(vector, k=fetch), limit, set(exclude)
        )
        # An owner may have several photos among the top vectors: look further
        # down until `limit` owners are found or the gallery ends.
        if len(hits) == limit or fetch >= size:
            return hits, size
        fetch *= 2


def _best_per_owner(loaded, ranked, limit, exclude):
    hits, seen = [], set(exclude)
    for face_id, similarity in ranked:
        owner_id = loaded.owner_of[face_id]
        if owner_id in seen:
            continue
        seen.add(owner_id)
        hits.append(
            Hit(owner_id, loaded.photo_of[face_id], similarity, faces.band(similarity))
        )
        if len(hits) == limit:
            break
    return hits
