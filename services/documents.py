"""The document service: numbers, renders, archives and verifies every PDF
the stations print.

Each kind of document (services.document_kinds) turns its form values into
a template context. This module gives the document a serial number from the
station's own scheme and a QR code that links to the verification page. It
renders the document, stores the file outside static/ and records its
SHA-256. A correction is a
new version under the same serial, and the old versions stay.
"""

import hashlib
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from flask_babel import lazy_gettext as _l

from db.audit import AuditLog
from db.base import database, utcnow
from db.documents import (
    KINDS,
    Document,
    DocumentCounter,
    DocumentPrefix,
    DocumentSetting,
)
from services import document_kinds, pdf, photo_store, rules
from services.errors import InputError
from services.photo_store import write_atomically
from services.timezone import utc_to_local

logger = logging.getLogger("tuanyuan.documents")


def folder():
    return photo_store.upload_folder() / "documents"


def path_of(document):
    return folder() / document.stored_name[:2] / document.stored_name


# Fonts -------------------------------------------------------------------


def font_families():
    """Return {role: family} from the settings, defaults filled in."""
    stored = {s.key: s.value for s in DocumentSetting.select()}
    return {
        role: stored.get(role, default)
        for role, (default, _label) in pdf.FONT_ROLES.items()
    }


def save_font_families(families):
    now = utcnow()
    with database.atomic():
        for role, family in families.items():
            if role not in pdf.FONT_ROLES:
                raise KeyError(role)
            DocumentSetting.insert(key=role, value=family, updated_at=now).on_conflict(
                conflict_target=[DocumentSetting.key],
                update={DocumentSetting.value: family, DocumentSetting.updated_at: now},
            ).execute()


# Numbering ---------------------------------------------------------------


def default_prefix(station, kind):
    """Return the prefix a station starts with, e.g. 越秀救协."""
    return f"{station.short_name}救{KINDS[kind][1]}"


def prefixes(station):
    """Return {kind: prefix} for `station`, defaults filled in."""
    stored = {
        p.kind: p.prefix
        for p in DocumentPrefix.select().where(DocumentPrefix.station == station)
    }
    return {kind: stored.get(kind) or default_prefix(station, kind) for kind in KINDS}


def save_prefixes(station, values):
    with database.atomic():
        for kind, prefix in values.items():
            DocumentPrefix.insert(
                station=station, kind=kind, prefix=prefix
            ).on_conflict(
                conflict_target=[DocumentPrefix.station, DocumentPrefix.kind],
                update={DocumentPrefix.prefix: prefix},
            ).execute()


def prefix_used_elsewhere(prefix, station, kind):
    """True when a serial of another station or kind starts with `prefix`,
    so that reusing it could repeat a serial already issued."""
    return (
        Document.select()
        .where(
            Document.serial.startswith(prefix + "〔")
            & ((Document.station != station) | (Document.kind != kind))
        )
        .exists()
    )


def next_serial(station, kind, year):
    """Reserve the next serial, e.g. 越秀救协〔2026〕15号; call in a transaction."""
    value = DocumentCounter.next_value(station, kind, year)
    return f"{prefixes(station)[kind]}〔{year}〕{value}号"


# Issuing -----------------------------------------------------------------


@dataclass
class Issue:
    """The header values a document template receives as `doc`."""

    kind: str
    serial: str
    version: int
    station: object
    verify_url: str
    qr: str
    issued_at: datetime

    @property
    def kind_label(self):
        return KINDS[self.kind][0]

    @property
    def issued_on(self):
        return self.issued_at.date()


def link_base():
    """Return the scheme and host that QR links point to.

    DOCUMENT_LINK_BASE fixes it for a deployment whose staff reach the app by
    another name than the one a request came in on.
    """
    configured = current_app.config.get("DOCUMENT_LINK_BASE")
    if configured:
        return configured.rstrip("/")
    from flask import request

    return request.host_url.rstrip("/")


class StaleCorrection(InputError):
    def __init__(self):
        super().__init__(
            "stale_correction",
            _l("该文书刚被他人更正。请打开最新版本，在其基础上更正。"),
        )


def verify_path(code):
    """Return the path of a verification page, also outside a request."""
    adapter = current_app.url_map.bind("localhost")
    return adapter.build("documents.verify", {"code": code})


def issue(
    kind,
    *,
    station,
    user,
    content,
    case=None,
    decision=None,
    commendation=None,
    previous=None,
    reason="",
    batch=None,
    base_url=None,
):
    """Number, render and archive one document; return the Document row.

    `content` is the kind's form values (JSON-serialisable). `previous` is
    the version being corrected, with `reason` saying why. Raises
    pdf.RenderError when rendering fails, and StaleCorrection when someone
    corrected `previous` meanwhile; no document is saved then.
    """
    spec = document_kinds.SPECS[kind]
    base_url = base_url or link_base()
    now = utcnow()
    if previous is None:
        # The serial is reserved in a short transaction of its own, so that
        # rendering (0.1 s to seconds) holds no lock on the database.
        # NOTE: a document whose rendering then fails leaves its serial unused.
        with database.atomic():
            serial = next_serial(station, kind, utc_to_local(now).year)
        version = 1
    else:
        serial, version = previous.serial, previous.version + 1
    code = secrets.token_urlsafe(12)
    verify_url = base_url + verify_path(code)
    header = Issue(
        kind=kind,
        serial=serial,
        version=version,
        station=station,
        verify_url=verify_url,
        qr=pdf.qr_data_uri(verify_url),
        issued_at=utc_to_local(now),
    )
    context = spec.build(
        content, case=case, decision=decision, commendation=commendation
    )
    data, pages = pdf.render_pdf(
        spec.template,
        font_families(),
        doc=header,
        case=case,
        content=content,
        **context,
    )

    stored_name = uuid.uuid4().hex + ".pdf"
    path = folder() / stored_name[:2] / stored_name
    try:
        with database.atomic():
            if previous is not None and _superseded(previous):
                raise StaleCorrection()
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data)
            document = Document.create(
                serial=serial,
                version=version,
                verify_code=code,
                kind=kind,
                title=spec.title(content, case=case, commendation=commendation),
                station=station,
                case=case,
                decision=decision,
                commendation=commendation,
                recipient=content.get("recipient", ""),
                content=json.dumps(content, ensure_ascii=False, default=_json_default),
                previous=previous,
                correction_reason=reason,
                stored_name=stored_name,
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                pages=pages,
                batch=batch,
                created_by=user,
                created_at=now,
            )
            _record_side_effects(document, previous, now)
    except Exception:
        # The row was not saved, so neither is its file.
        path.unlink(missing_ok=True)
        raise
    logger.info("issued %s %s v%d (%d bytes)", kind, serial, version, len(data))
    return document


def _superseded(previous):
    return (
        Document.select(Document.superseded_at)
        .where(Document.id == previous.id)
        .scalar()
        is not None
    )


def _record_side_effects(document, previous, now):
    if previous is not None:
        previous.superseded_at = now
        previous.save(only=[Document.superseded_at])
    if document.kind == "search_notice" and document.case is not None:
        outcome = f"{document.kind_label} {document.serial}"
        rules.complete_rule(document.case, "search_notice", outcome, now)
    AuditLog.append(
        "document.issue",
        user=document.created_by,
        obj=document,
        detail={
            "serial": document.serial,
            "version": document.version,
            "kind": document.kind,
        },
    )


def _json_default(value):
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def content_of(document):
    return json.loads(document.content or "{}")


# Verification ------------------------------------------------------------

GENUINE = "genuine"
ALTERED = "altered"
MISSING = "missing"


def check_integrity(document):
    """Return GENUINE when the archived file still has its recorded SHA-256,
    ALTERED when it does not, MISSING when the file is gone."""
    path = path_of(document)
    try:
        digest = _sha256_of(path)
    except FileNotFoundError:
        return MISSING
    return GENUINE if secrets.compare_digest(digest, document.sha256) else ALTERED


def _sha256_of(path):
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def matches_upload(document, data):
    """True when `data` is byte for byte the archived version."""
    return secrets.compare_digest(hashlib.sha256(data).hexdigest(), document.sha256)


def versions(document):
    """Return every version of `document`'s serial, oldest first."""
    return list(
        Document.select()
        .where(Document.serial == document.serial)
        .order_by(Document.version)
    )


def latest_version(document):
    return (
        Document.select()
        .where(Document.serial == document.serial)
        .order_by(Document.version.desc())
        .first()
    )
