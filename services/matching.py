"""Face search (一照寻亲): rank the report gallery against one case photo."""

import logging
import time

from flask_babel import lazy_gettext as _l

from db.base import database
from db.matching import FaceSearch, MatchCandidate
from db.photos import FaceVector
from services import faces, gallery

logger = logging.getLogger("tuanyuan.search")


class SearchError(Exception):
    pass


def face_of(photo):
    """Return the stored vector of `photo` made by the current model."""
    row = (
        FaceVector.select()
        .where(
            (FaceVector.photo == photo)
            & (FaceVector.model_name == faces.MODEL_NAME)
            & (FaceVector.model_version == faces.MODEL_VERSION)
        )
        .first()
    )
    if row is None:
        raise SearchError(
            _l("这张照片还没有可用的人脸特征，请重新上传清晰的正面照片。")
        )
    return faces.vector_from_bytes(row.vector)


def run_search(case, photo, user, limit=10):
    """Search the gallery with `photo` of `case` and record the search."""
    started = time.perf_counter()
    vector = face_of(photo)
    hits, gallery_size = gallery.search(vector, limit)
    seconds = time.perf_counter() - started
    with database.atomic():
        search = FaceSearch.create(
            photo=photo,
            case=case,
            user=user,
            model_name=faces.MODEL_NAME,
            model_version=faces.MODEL_VERSION,
            gallery_size=gallery_size,
            seconds=seconds,
        )
        for rank, hit in enumerate(hits, start=1):
            MatchCandidate.create(
                search=search,
                report=hit.report_id,
                report_photo=hit.photo_id,
                rank=rank,
                similarity=hit.similarity,
                band=hit.band,
            )
    logger.info(
        "face search %s: case %s, %d candidates from %d vectors in %.3f s",
        search.id,
        case.id,
        len(hits),
        gallery_size,
        seconds,
    )
    return search


def candidates_of(search):
    return list(search.candidates.order_by(MatchCandidate.rank))
