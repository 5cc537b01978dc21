"""The register of letters a station sends and receives (发文 / 收文)."""

import hashlib
import io
import uuid
from datetime import date, datetime

import filetype
from flask_babel import lazy_gettext as _l
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from db.base import database
from db.cases import Case
from db.documents import Document, IncomingLetter
from services import photo_store, photos
from services.errors import InputError
from services.timezone import local_to_utc

SCAN_TYPES = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
}
SCAN_MAX_BYTES = 20 * 1024 * 1024


def extension(mime_type):
    return SCAN_TYPES.get(mime_type, "")


def scan_folder():
    return photo_store.upload_folder() / "letters"


def scan_path(letter):
    return scan_folder() / letter.stored_name


def sent_in_year(query, year):
    """Return the documents of `query` issued in the station's `year`."""
    start = local_to_utc(datetime(year, 1, 1))
    end = local_to_utc(datetime(year + 1, 1, 1))
    return list(
        query.where(
            (Document.created_at >= start) & (Document.created_at < end)
        ).order_by(Document.created_at.desc())
    )


def received_in_year(query, year):
    return list(
        query.where(
            (IncomingLetter.received_on >= date(year, 1, 1))
            & (IncomingLetter.received_on < date(year + 1, 1, 1))
        ).order_by(IncomingLetter.received_on.desc(), IncomingLetter.id.desc())
    )


def _read_scan(storage):
    """Return (bytes, MIME type) of a checked scan, or raise InputError.

    A picture is decoded and stored re-encoded as JPEG without metadata, as
    photos are; a PDF must parse and have at least one page.
    """
    data = storage.stream.read(SCAN_MAX_BYTES + 1)
    if not data:
        raise InputError("empty", _l("扫描件是空文件。"))
    if len(data) > SCAN_MAX_BYTES:
        raise InputError("too_large", _l("扫描件超过 20 MB。"))
    kind = filetype.guess(data)
    if kind is None or kind.mime not in SCAN_TYPES:
        raise InputError("unsupported_format", _l("扫描件须为 PDF、JPEG 或 PNG 文件。"))
    if kind.mime != "application/pdf":
        return photos.normalise(data, SCAN_MAX_BYTES).jpeg, "image/jpeg"
    try:
        pages = len(PdfReader(io.BytesIO(data)).pages)
    except (PdfReadError, ValueError, KeyError, TypeError, RecursionError):
        pages = 0
    if not pages:
        raise InputError("corrupt", _l("扫描件 PDF 已损坏或没有页面。"))
    return data, kind.mime


def record_incoming(form, user):
    """Save a received letter from `form`; raise InputError for a bad scan,
    an unknown case number or a letter already in the register."""
    station = user.station
    case = None
    case_number = (form.case_number.data or "").strip()
    if case_number:
        case = Case.get_or_none(
            (Case.case_number == case_number) & (Case.station == station)
        )
        if case is None:
            raise InputError(
                "unknown_case",
                _l("本站没有编号为“%(number)s”的个案。", number=case_number),
            )
    serial = form.serial.data.strip()
    sender = form.sender.data.strip()
    duplicate = IncomingLetter.get_or_none(
        (IncomingLetter.station == station)
        & (IncomingLetter.sender == sender)
        & (IncomingLetter.serial == serial)
    )
    if duplicate is not None:
        raise InputError(
            "duplicate",
            _l(
                "“%(sender)s”的来文 %(serial)s 已登记过。", sender=sender, serial=serial
            ),
        )
    scan = None
    storage = form.scan.data
    if storage and getattr(storage, "filename", ""):
        scan = _read_scan(storage)

    stored_name = None
    if scan is not None:
        data, mime_type = scan
        stored_name = uuid.uuid4().hex + extension(mime_type)
        folder = scan_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / stored_name).write_bytes(data)
    with database.atomic():
        return IncomingLetter.create(
            station=station,
            serial=serial,
            sender=sender,
            subject=form.subject.data.strip(),
            received_on=form.received_on.data,
            case=case,
            note=(form.note.data or "").strip(),
            stored_name=stored_name,
            mime_type=scan[1] if scan else "",
            sha256=hashlib.sha256(scan[0]).hexdigest() if scan else "",
            created_by=user,
        )
