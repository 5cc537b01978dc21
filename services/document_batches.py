"""Many documents of one kind, rendered by a background task with progress.

Each document is numbered, rendered and archived on its own, like one made
from its form, so a failure leaves the others in place. The finished batch
is a ZIP of the PDFs, and a single PDF of all of them for printing.
"""

import io
import json
import logging
import uuid
import zipfile

from flask_babel import lazy_gettext as _l
from pypdf import PdfWriter

from db.base import utcnow
from db.cases import Case
from db.documents import Document, DocumentBatch
from services import documents, pdf, photo_store

logger = logging.getLogger("tuanyuan.documents")

MAX_BATCH = 500


def folder():
    return photo_store.upload_folder() / "document-batches"


def zip_path(batch):
    return folder() / batch.zip_name


def notice_candidates(station):
    """Open cases of `station` that have no search notice yet."""
    with_notice = Document.select(Document.case).where(
        (Document.kind == "search_notice") & Document.case.is_null(False)
    )
    return list(
        Case.select()
        .where(
            (Case.station == station)
            & Case.merged_into.is_null()
            & Case.status.in_(Case.OPEN_STATUSES)
            & Case.id.not_in(with_notice)
        )
        .order_by(Case.created_at)
        .limit(MAX_BATCH)
    )


def start(station, user, kind, case_ids, content, base_url):
    """Record a batch and queue it; return the DocumentBatch."""
    batch = DocumentBatch.create(
        station=station,
        kind=kind,
        params=json.dumps(
            {
                "case_ids": case_ids[:MAX_BATCH],
                "content": content,
                "base_url": base_url,
            },
            ensure_ascii=False,
        ),
        total=min(len(case_ids), MAX_BATCH),
        created_by=user,
    )
    import tasks

    try:
        tasks.render_documents(batch.id)
    # The queue storage may be Redis or SQLite, each with its own errors.
    except Exception:  # noqa: BLE001
        logger.exception("could not queue document batch %s", batch.id)
        batch.status = DocumentBatch.FAILED
        batch.problems = json.dumps(
            [str(_l("后台任务队列不可用，请联系管理员。"))], ensure_ascii=False
        )
        batch.save()
    return batch


def run(batch_id):
    """Render every document of a batch, updating its progress as it goes.

    An unexpected error marks the batch failed, so its page stops waiting.
    """
    batch = DocumentBatch.get_by_id(batch_id)
    if batch.status != DocumentBatch.QUEUED:
        return
    batch.status = DocumentBatch.RUNNING
    batch.save(only=[DocumentBatch.status])
    try:
        _run(batch)
    except Exception:
        logger.exception("document batch %s failed", batch.id)
        DocumentBatch.update(
            status=DocumentBatch.FAILED,
            finished_at=utcnow(),
            problems=json.dumps(
                [str(_l("批量生成中断，请联系管理员查看日志。"))], ensure_ascii=False
            ),
        ).where(DocumentBatch.id == batch.id).execute()
        raise


def _run(batch):
    params = json.loads(batch.params)
    problems = []
    made = []
    for case_id in params["case_ids"]:
        document, problem = _issue_one(batch, params, case_id)
        if document is not None:
            made.append(document)
        else:
            problems.append(problem)
            batch.failed += 1
        batch.done += 1
        DocumentBatch.update(done=batch.done, failed=batch.failed).where(
            DocumentBatch.id == batch.id
        ).execute()

    batch.zip_name = _write_zip(made)
    batch.status = DocumentBatch.DONE
    batch.problems = json.dumps(problems, ensure_ascii=False)
    batch.finished_at = utcnow()
    batch.save()
    logger.info("batch %s: %d documents, %d failed", batch.id, len(made), batch.failed)


def _issue_one(batch, params, case_id):
    """Return (document, None), or (None, the problem for staff)."""
    case = Case.get_or_none((Case.id == case_id) & (Case.station == batch.station_id))
    if case is None:
        return None, str(_l("个案 %(id)s 不存在或不属于本站。", id=case_id))
    try:
        document = documents.issue(
            batch.kind,
            station=batch.station,
            user=batch.created_by,
            content=params["content"],
            case=case,
            batch=batch,
            base_url=params["base_url"],
        )
    except pdf.RenderError:
        return None, str(_l("%(number)s：生成失败。", number=case.case_number))
    return document, None


def _write_zip(made):
    name = uuid.uuid4().hex + ".zip"
    path = folder() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = PdfWriter()
    with zipfile.ZipFile(path.with_suffix(".part"), "w", zipfile.ZIP_STORED) as archive:
        for document in made:
            data = documents.path_of(document).read_bytes()
            archive.writestr(document.download_name, data)
            merged.append(io.BytesIO(data))
        if made:
            buffer = io.BytesIO()
            merged.write(buffer)
            archive.writestr(str(_l("全部（打印用）.pdf")), buffer.getvalue())
    path.with_suffix(".part").replace(path)
    return name
