"""Face search (一照寻亲): rank the report gallery against one case photo."""

import json
import logging
import time

from flask_babel import lazy_gettext as _l

from db.base import database
from db.cases import Case
from db.matching import FaceSearch, MatchCandidate, MatchDecision
from db.photos import FaceVector
from db.reports import MissingReport
from services import faces, facts, gallery

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


def ruled_out_reports(case):
    """Ids of reports decided not to be this person and not reopened."""
    return {
        row.report_id
        for row in MatchDecision.select(MatchDecision.report).where(
            (MatchDecision.case == case)
            & (MatchDecision.status == MatchDecision.NOT_SAME)
        )
    }


def rank_with_facts(case, hits, limit, weight_of):
    """Score each face hit with the facts of both records; best first."""
    reports = {
        r.id: r
        for r in MissingReport.select().where(
            MissingReport.id.in_([hit.report_id for hit in hits])
        )
    }
    ranked = []
    for hit in hits:
        rows = facts.compare(case, reports[hit.report_id])
        ranked.append((facts.score(hit.similarity, rows, weight_of), hit, rows))
    ranked.sort(key=lambda item: item[0], reverse=True)
    return ranked[:limit]


def run_search(case, photo, user, limit=10):
    """Search the gallery with `photo` of `case` and record the search.

    Reports ruled out for this case are left out. The face search fetches
    more candidates than shown, so that the facts can reorder them.
    """
    started = time.perf_counter()
    vector = face_of(photo)
    hits, gallery_size = gallery.search(
        vector, limit * 3, exclude=ruled_out_reports(case)
    )
    ranked = rank_with_facts(case, hits, limit, facts.weights())
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
        for rank, (combined, hit, rows) in enumerate(ranked, start=1):
            MatchCandidate.create(
                search=search,
                report=hit.report_id,
                report_photo=hit.photo_id,
                rank=rank,
                similarity=hit.similarity,
                band=hit.band,
                combined_score=combined,
                facts=json.dumps(rows, ensure_ascii=False),
            )
    logger.info(
        "face search %s: case %s, %d candidates from %d vectors in %.3f s",
        search.id,
        case.id,
        len(ranked),
        gallery_size,
        seconds,
    )
    return search


def candidates_of(search):
    return list(search.candidates.order_by(MatchCandidate.rank))


def decisions_for(case):
    """Return the decisions already made for `case`, keyed by report id."""
    return {
        d.report_id: d for d in MatchDecision.select().where(MatchDecision.case == case)
    }


def search_new_report(report, limit=10):
    """Search a new report's photos against open cases; record pending pairs.

    Staff of each case's station then see the pairs in their inbox.
    Returns the decisions created.
    """
    from db.photos import FaceVector, Photo

    vectors = (
        FaceVector.select()
        .join(Photo)
        .where(
            (Photo.report == report)
            & (FaceVector.model_name == faces.MODEL_NAME)
            & (FaceVector.model_version == faces.MODEL_VERSION)
        )
    )
    best = {}
    for row in vectors:
        hits, _ = gallery.search(
            faces.vector_from_bytes(row.vector), limit, kind=gallery.CASES
        )
        for hit in hits:
            if hit.band != "unlikely" and hit.similarity > best.get(hit.owner_id, 0):
                best[hit.owner_id] = hit.similarity
    created = []
    weight_of = facts.weights()
    open_cases = Case.select().where(
        Case.id.in_(list(best)) & Case.status.in_(Case.OPEN_STATUSES)
    )
    for case in open_cases:
        rows = facts.compare(case, report)
        decision, made = MatchDecision.get_or_create(
            case=case,
            report=report,
            defaults={
                "kind": "new_report",
                "face_score": best[case.id],
                "band": faces.band(best[case.id]),
                "combined_score": facts.score(best[case.id], rows, weight_of),
                "facts": json.dumps(rows, ensure_ascii=False),
            },
        )
        if made:
            created.append(decision)
    if created:
        logger.info("new report %s: %d possible cases", report.id, len(created))
    return created
