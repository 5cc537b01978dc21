"""Files attached to a case, checked by content and stored outside static/."""

import hashlib
import logging
import uuid
from pathlib import Path

import filetype
from flask import current_app
from flask_babel import lazy_gettext as _l

from db.attachments import Attachment
from services.errors import InputError

logger = logging.getLogger("tuanyuan.attachments")

# Scans of letters and hospital papers come as PDF or images.
ALLOWED_TYPES = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
}


class AttachmentError(InputError):
    pass


def folder():
    return Path(current_app.config["UPLOAD_FOLDER"]) / "attachments"


def path_of(attachment):
    return folder() / attachment.stored_name


def check(storage, max_bytes):
    """Read an upload; return (bytes, mime type) or raise AttachmentError."""
    data = storage.stream.read(max_bytes + 1)
    name = storage.filename or ""
    if not data:
        raise AttachmentError("empty", _l("附件“%(name)s”是空文件。", name=name))
    if len(data) > max_bytes:
        raise AttachmentError(
            "too_large",
            _l(
                "附件“%(name)s”超过 %(mb)d MB。",
                name=name,
                mb=max_bytes // (1024 * 1024),
            ),
        )
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise AttachmentError(
            "unsupported_format",
            _l("附件“%(name)s”不是 PDF、JPEG、PNG 或 WebP 文件。", name=name),
        )
    return data, kind.mime


def store(case, storage, data, mime_type, description, user, files):
    """Write the file and its row; call inside a transaction with StoredFiles."""
    stored_name = uuid.uuid4().hex + ALLOWED_TYPES[mime_type]
    path = folder() / stored_name
    path.parent.mkdir(parents=True, exist_ok=True)
    files.paths.append(path)
    path.write_bytes(data)
    attachment = Attachment.create(
        case=case,
        stored_name=stored_name,
        original_name=(storage.filename or "")[:255],
        mime_type=mime_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        description=description,
        uploaded_by=user,
    )
    logger.info("stored attachment %s of case %s", attachment.id, case.id)
    return attachment
