"""Exchange files: a verification request or its reply as one zip, for a
station that does not use this deployment. docs/exchange-format.md describes
the format.

Reading a file checks everything before anything is written: the zip's
size, entry names and count, each entry's real unpacked size, the manifest's
encoding, format, version and checksum, and each listed file's hash and
content. A file that fails any check changes nothing.
"""

import hashlib
import io
import json
import logging
import re
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import filetype
from flask import current_app
from flask_babel import lazy_gettext as _l

from db.accounts import Station
from db.audit import AuditLog
from db.base import database, utcnow
from db.verification import (
    ASKS,
    VerificationEvent,
    VerificationFile,
    VerificationRequest,
)
from services import idnumbers, photo_store, photos
from services.attachments import ALLOWED_TYPES
from services.errors import InputError

logger = logging.getLogger("tuanyuan.exchange")

R = VerificationRequest
FORMAT = "tuanyuan-verification-exchange"
VERSION = 1
REQUEST = "request"
REPLY = "reply"
MANIFEST = "manifest.json"
ENTRY_NAME = re.compile(r"files/[0-9]{1,3}\.(jpg|png|webp|pdf)")
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# Errors that zipfile and zlib raise for damaged or unsupported entries:
# zlib.error for a broken deflate stream, EOFError for a cut-off entry,
# NotImplementedError for an unknown compression method and RuntimeError
# for an encrypted entry.
DAMAGED_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
)
# Times and dates in a file must fall in these years. Nothing in this
# platform predates 2000, and far-off years overflow when a time is shown
# in Beijing time (year 9999 plus eight hours).
EARLIEST_YEAR = 2000
LATEST_YEAR = 2100
TIME_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
DATE_FORMAT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Allowance for a sending clock that runs ahead of this server's.
CLOCK_SKEW = timedelta(days=1)
# Control characters other than tab, line feed and carriage return.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_FILES = 20
MANIFEST_MAX_BYTES = 1024 * 1024
# Default largest zip, in bytes; EXCHANGE_MAX_BYTES in the config changes it.
DEFAULT_MAX_BYTES = 30 * 1024 * 1024
# Largest sum of unpacked sizes, as a multiple of the largest zip.
MAX_UNPACKED_FACTOR = 3
EXTENSIONS = {mime: ext for mime, ext in ALLOWED_TYPES.items()}


class ExchangeError(InputError):
    pass


@dataclass
class ReadFile:
    """One checked exchange file: its manifest payload and its files' bytes."""

    kind: str
    payload: dict
    checksum: str
    files: list  # (entry dict from the payload, bytes)


def max_bytes():
    return current_app.config.get("EXCHANGE_MAX_BYTES", DEFAULT_MAX_BYTES)


def checksum_of(payload):
    """SHA-256 of the payload as canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(
        payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Writing


def _station_entry(station):
    return {
        "name": station.name,
        "division_code": station.division_code,
        "address": station.address,
        "phone": station.phone,
    }


def _file_bytes(item):
    if item.photo_id:
        return photo_store.photo_path(item.photo).read_bytes()
    return file_path(item).read_bytes()


def _pack(kind, payload, items):
    entries = []
    blobs = []
    for number, item in enumerate(items, start=1):
        data = _file_bytes(item)
        path = f"files/{number}{EXTENSIONS.get(item.mime_type, '.jpg')}"
        entries.append(
            {
                "path": path,
                "role": item.role,
                "name": item.original_name,
                "mime_type": item.mime_type,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        blobs.append((path, data))
    payload = dict(payload, files=entries)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "payload": payload,
        "checksum": checksum_of(payload),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps(manifest, ensure_ascii=False, indent=1)
        archive.writestr(MANIFEST, text.encode("utf-8"))
        for path, data in blobs:
            archive.writestr(path, data)
    return buffer.getvalue(), manifest["checksum"]


def export_request(request, user):
    """Return (zip bytes, file name) of a sent request, for another installation."""
    if request.status == R.DRAFT or request.imported:
        raise ExchangeError("export_state", _l("只能导出本站已发出的请求。"))
    payload = {
        "request_id": request.public_id,
        "from_station": _station_entry(request.from_station),
        "to_station": _station_entry(request.to_station),
        "case_number": request.case_number,
        "known_facts": request.known_facts,
        "id_number": request.id_number,
        "asks": request.ask_list,
        "question": request.question,
        "contact_name": request.contact_name,
        "contact_phone": request.contact_phone,
        "sent_at": request.sent_at.isoformat(timespec="seconds") + "Z",
        "due_date": request.due_date.isoformat(),
    }
    items = list(request.files.where(VerificationFile.role == VerificationFile.PHOTO))
    data, checksum = _pack(REQUEST, payload, items)
    AuditLog.append(
        "verification_exported",
        user=user,
        obj=request,
        detail={"kind": REQUEST, "checksum": checksum},
    )
    return data, f"核实请求-{request.case_number}-{request.public_id[:8]}.zip"


def ascii_file_name(request):
    """Return the download name for clients that cannot show a Chinese one."""
    kind = "reply" if request.imported else "request"
    return f"tuanyuan-{kind}-{request.public_id}.zip"


def export_reply(request, user):
    """Return (zip bytes, file name) of the answer to an imported request."""
    if not request.imported or request.status not in (R.ANSWERED, R.CLOSED):
        raise ExchangeError("export_state", _l("只能导出已答复的外来请求的回复文件。"))
    payload = {
        "request_id": request.public_id,
        "from_station": _station_entry(request.to_station),
        "to_station": _station_entry(request.from_station),
        "outcome": request.outcome,
        "answer_text": request.answer_text,
        "answer_name": request.answer_name,
        "answer_address": request.answer_address,
        "answer_contact": request.answer_contact,
        "answered_by": request.answered_by_name,
        "answered_at": request.answered_at.isoformat(timespec="seconds") + "Z",
    }
    items = list(request.files.where(VerificationFile.role == VerificationFile.ANSWER))
    data, checksum = _pack(REPLY, payload, items)
    AuditLog.append(
        "verification_exported",
        user=user,
        obj=request,
        detail={"kind": REPLY, "checksum": checksum},
    )
    return data, f"核实回复-{request.case_number}-{request.public_id[:8]}.zip"


# Reading


def read(data, expected_kind):
    """Check an exchange zip completely; return a ReadFile or raise ExchangeError."""
    limit = max_bytes()
    if not data:
        raise ExchangeError("empty", _l("上传的文件是空的。"))
    if len(data) > limit:
        raise ExchangeError(
            "too_large",
            _l("交换文件超过 %(mb)d MB，无法导入。", mb=limit // (1024 * 1024)),
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = _check_entries(archive)
        blobs = _read_entries(archive, entries, limit * MAX_UNPACKED_FACTOR)
    except DAMAGED_ZIP_ERRORS as error:
        logger.info(
            "rejected exchange file: damaged zip (%s: %s)", type(error).__name__, error
        )
        raise ExchangeError(
            "not_zip", _l("文件不是有效的 zip 交换文件，或已损坏。")
        ) from error
    manifest = _parse_manifest(blobs.pop(MANIFEST))
    _check_header(manifest, expected_kind)
    payload = manifest["payload"]
    if checksum_of(payload) != manifest["checksum"]:
        raise ExchangeError(
            "checksum",
            _l("交换文件的校验值不符，文件可能已损坏或被改动，请向对方索取原文件。"),
        )
    _check_payload(payload, expected_kind)
    files = _check_files(payload["files"], blobs, expected_kind)
    return ReadFile(expected_kind, payload, manifest["checksum"], files)


def _check_entries(archive):
    infos = archive.infolist()
    if len(infos) > MAX_FILES + 1:
        raise ExchangeError(
            "too_many_entries",
            _l("交换文件包含的文件过多（最多 %(n)d 个）。", n=MAX_FILES),
        )
    names = set()
    for info in infos:
        name = info.filename
        if name != MANIFEST and not ENTRY_NAME.fullmatch(name):
            raise ExchangeError(
                "bad_entry_name",
                _l("交换文件中有不允许的文件名“%(name)s”。", name=name[:100]),
            )
        if name in names:
            raise ExchangeError(
                "duplicate_entry", _l("交换文件中有重名文件“%(name)s”。", name=name)
            )
        if info.flag_bits & 0x1:
            raise ExchangeError("encrypted", _l("交换文件不能加密。"))
        if info.compress_type not in COMPRESSIONS:
            raise ExchangeError(
                "compression",
                _l(
                    "交换文件中的“%(name)s”使用了不支持的压缩方式，"
                    "只能使用 deflate 压缩或不压缩。",
                    name=name,
                ),
            )
        names.add(name)
    if MANIFEST not in names:
        raise ExchangeError("no_manifest", _l("交换文件中缺少 manifest.json。"))
    return infos


def _read_entries(archive, infos, total_limit):
    """Read each entry, stopping at its limit whatever its header claims."""
    blobs = {}
    total = 0
    file_limit = current_app.config["PHOTO_MAX_BYTES"]
    for info in infos:
        limit = MANIFEST_MAX_BYTES if info.filename == MANIFEST else file_limit
        if info.file_size > limit:
            raise _too_big(info.filename)
        with archive.open(info) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise _too_big(info.filename)
        total += len(data)
        if total > total_limit:
            raise ExchangeError("unpacked_too_large", _l("交换文件解压后过大。"))
        blobs[info.filename] = data
    return blobs


def _too_big(name):
    return ExchangeError(
        "entry_too_large", _l("交换文件中的“%(name)s”过大。", name=name)
    )


def _parse_manifest(raw):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ExchangeError(
            "encoding", _l("manifest.json 不是 UTF-8 编码，请用本系统导出的文件。")
        ) from error
    try:
        manifest = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise ExchangeError(
            "json", _l("manifest.json 不是有效的 JSON，文件可能已损坏。")
        ) from error
    if not isinstance(manifest, dict):
        raise ExchangeError("json", _l("manifest.json 的结构不正确。"))
    return manifest


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def _check_header(manifest, expected_kind):
    if manifest.get("format") != FORMAT:
        raise ExchangeError("format", _l("这不是团圆平台的身份核实交换文件。"))
    version = manifest.get("version")
    if type(version) is not int:
        raise ExchangeError(
            "version",
            _l(
                "交换文件的版本号 %(found)s 不是整数，本系统只支持版本 %(supported)s。",
                found=json.dumps(version, ensure_ascii=False)[:20],
                supported=VERSION,
            ),
        )
    if version != VERSION:
        raise ExchangeError(
            "version",
            _l(
                "交换文件版本为 %(found)s，本系统只支持版本 %(supported)s。",
                found=str(version)[:20],
                supported=VERSION,
            ),
        )
    kind = manifest.get("kind")
    if kind != expected_kind:
        expected = _l("核实请求") if expected_kind == REQUEST else _l("核实回复")
        raise ExchangeError(
            "kind", _l("该文件不是%(kind)s文件，请在对应的页面导入。", kind=expected)
        )
    if not isinstance(manifest.get("payload"), dict) or not isinstance(
        manifest.get("checksum"), str
    ):
        raise ExchangeError("json", _l("manifest.json 的结构不正确。"))


# Field name: (type, max length or None, required)
_STATION_FIELDS = {
    "name": (str, 100, True),
    "division_code": (str, 12, False),
    "address": (str, 200, False),
    "phone": (str, 40, False),
}
_REQUEST_FIELDS = {
    "request_id": (str, 32, True),
    "case_number": (str, 40, True),
    "known_facts": (str, 10_000, False),
    "id_number": (str, 18, False),
    "question": (str, 10_000, False),
    "contact_name": (str, 50, False),
    "contact_phone": (str, 40, False),
    "sent_at": (str, 40, True),
    "due_date": (str, 10, True),
}
_REPLY_FIELDS = {
    "request_id": (str, 32, True),
    "outcome": (str, 20, True),
    "answer_text": (str, 10_000, True),
    "answer_name": (str, 100, False),
    "answer_address": (str, 200, False),
    "answer_contact": (str, 200, False),
    "answered_by": (str, 50, False),
    "answered_at": (str, 40, True),
}
_FILE_FIELDS = {
    "path": (str, 40, True),
    "role": (str, 20, True),
    "name": (str, 255, False),
    "mime_type": (str, 80, True),
    "size": (int, None, True),
    "sha256": (str, 64, True),
}


def _check_fields(values, spec, where=""):
    """Check types, lengths and characters; a required string may not be blank."""
    if not isinstance(values, dict):
        raise _invalid(where)
    for name, (kind, length, required) in spec.items():
        value = values.get(name)
        field = f"{where}.{name}" if where else name
        if value is None:
            if required:
                raise _invalid(field)
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _invalid(field)
        if not isinstance(value, str):
            continue
        if length is not None and len(value) > length:
            raise _invalid(field)
        if required and not value.strip():
            raise _invalid(field)
        if CONTROL_CHARACTERS.search(value):
            raise ExchangeError(
                "control_character",
                _l("交换文件中的字段“%(field)s”含有控制字符。", field=field),
            )


def _invalid(field):
    return ExchangeError(
        "field", _l("交换文件中的字段“%(field)s”缺失或不正确。", field=field)
    )


def _check_payload(payload, kind):
    _check_fields(payload, _REQUEST_FIELDS if kind == REQUEST else _REPLY_FIELDS)
    _check_fields(payload.get("from_station"), _STATION_FIELDS, "from_station")
    _check_fields(payload.get("to_station"), _STATION_FIELDS, "to_station")
    if not re.fullmatch(r"[0-9a-f]{32}", payload["request_id"]):
        raise _invalid("request_id")
    if kind == REQUEST:
        _check_asks(payload.get("asks"))
        _check_id_number(payload.get("id_number"))
        sent_at = _parse_time(payload["sent_at"], "sent_at")
        if _parse_date(payload["due_date"], "due_date") < sent_at.date():
            raise ExchangeError(
                "due_date", _l("交换文件中的答复期限“due_date”早于发出时间。")
            )
    else:
        if payload["outcome"] not in R.OUTCOMES:
            raise _invalid("outcome")
        _parse_time(payload["answered_at"], "answered_at")
    files = payload.get("files")
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise _invalid("files")
    for entry in files:
        _check_fields(entry, _FILE_FIELDS, "files")


def _check_asks(asks):
    if not isinstance(asks, list) or not asks:
        raise _invalid("asks")
    unknown = [a for a in asks if not isinstance(a, str) or a not in ASKS]
    if unknown:
        raise ExchangeError(
            "asks",
            _l(
                "交换文件中的请求事项“%(value)s”无法识别，只能是 %(known)s。",
                value=str(unknown[0])[:40],
                known="、".join(ASKS),
            ),
        )


def _check_id_number(text):
    if not text:
        return
    try:
        idnumbers.parse(text)
    except idnumbers.IdNumberError as error:
        raise ExchangeError(
            "id_number",
            _l(
                "交换文件中的身份证号无效：%(error)s请对方核对后重新导出。",
                error=error,
            ),
        ) from error


def _parse_date(text, field):
    """Parse a YYYY-MM-DD date between EARLIEST_YEAR and LATEST_YEAR."""
    try:
        if not DATE_FORMAT.fullmatch(text):
            raise ValueError(text)
        value = date.fromisoformat(text)
    except ValueError as error:
        raise _bad_time(field, _l("格式应为 YYYY-MM-DD，如 2026-10-20")) from error
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise _bad_time(field, _years_hint())
    return value


def _parse_time(text, field):
    """Parse a UTC time written with "Z" into a naive UTC datetime.

    Times with another offset or none are rejected, as are times before
    EARLIEST_YEAR or more than CLOCK_SKEW after now.
    """
    try:
        if not TIME_FORMAT.fullmatch(text):
            raise ValueError(text)
        value = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError as error:
        raise _bad_time(
            field, _l("应为以 Z 结尾的 UTC 时间，如 2026-10-08T02:00:00Z")
        ) from error
    if value.year < EARLIEST_YEAR or value > utcnow() + CLOCK_SKEW:
        raise _bad_time(field, _l("不能早于 %(year)s 年或晚于现在", year=EARLIEST_YEAR))
    return value


def _years_hint():
    return _l(
        "应在 %(first)s 至 %(last)s 年之间", first=EARLIEST_YEAR, last=LATEST_YEAR
    )


def _bad_time(field, hint):
    return ExchangeError(
        "time",
        _l("交换文件中的“%(field)s”时间或日期无效：%(hint)s。", field=field, hint=hint),
    )


def _check_files(entries, blobs, kind):
    listed = {entry["path"] for entry in entries}
    if len(listed) != len(entries) or listed != set(blobs):
        raise ExchangeError(
            "file_list", _l("交换文件中的文件与清单不一致，文件可能已被改动。")
        )
    checked = []
    for entry in entries:
        data = blobs[entry["path"]]
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ExchangeError(
                "file_hash",
                _l("文件“%(name)s”的校验值不符，文件可能已损坏。", name=entry["path"]),
            )
        checked.append((entry, _check_content(entry, data, kind)))
    return checked


def _check_content(entry, data, kind):
    """Return (bytes, mime type) to store: photos re-encoded, files as sent.

    A request carries only photos and a reply only answer attachments.
    """
    expected = VerificationFile.PHOTO if kind == REQUEST else VerificationFile.ANSWER
    if entry["role"] != expected:
        raise ExchangeError(
            "file_role",
            _l(
                "文件“%(name)s”的用途“%(role)s”不正确，%(kind)s文件中只能是“%(expected)s”。",
                name=entry["path"],
                role=entry["role"][:20],
                kind=_l("核实请求") if kind == REQUEST else _l("核实回复"),
                expected=expected,
            ),
        )
    if entry["role"] == VerificationFile.PHOTO:
        try:
            photo = photos.normalise(
                data, max_bytes=current_app.config["PHOTO_MAX_BYTES"]
            )
        except InputError as error:
            raise ExchangeError(
                "photo",
                _l(
                    "照片“%(name)s”无法读取：%(error)s", name=entry["path"], error=error
                ),
            ) from error
        return photo.jpeg, "image/jpeg"
    guessed = filetype.guess(data)
    if guessed is None or guessed.mime not in ALLOWED_TYPES:
        raise ExchangeError(
            "file_type",
            _l("附件“%(name)s”不是 PDF、JPEG、PNG 或 WebP 文件。", name=entry["path"]),
        )
    return data, guessed.mime


# Storing


def folder():
    return photo_store.upload_folder() / "verification"


def file_path(item):
    return folder() / item.stored_name


def store_file(request, role, name, data, mime_type, user, stored=None):
    """Write one file of a request; call inside a transaction."""
    stored_name = uuid.uuid4().hex + ALLOWED_TYPES.get(mime_type, ".bin")
    path = folder() / stored_name
    path.parent.mkdir(parents=True, exist_ok=True)
    if stored is not None:
        stored.paths.append(path)
    path.write_bytes(data)
    return VerificationFile.create(
        request=request,
        role=role,
        stored_name=stored_name,
        original_name=(name or "")[:255],
        mime_type=mime_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=user,
    )


def _directory_station(entry):
    """Find the sending station in the directory, or add it there."""
    station = Station.get_or_none(Station.name == entry["name"])
    if station is not None:
        return station
    short = entry["name"][:18]
    number = 1
    while Station.select().where(Station.short_name == short).exists():
        number += 1
        short = f"{entry['name'][:15]}{number}"
    return Station.create(
        name=entry["name"],
        short_name=short,
        kind=Station.OTHER,
        directory_group=Station.OTHER_STATION,
        division_code=entry.get("division_code") or "",
        address=entry.get("address") or "",
        phone=entry.get("phone") or "",
    )


def _normal_id_number(text):
    """Return the checked ID number in its 18-character form, or None."""
    return idnumbers.parse(text).number if text else None


def import_request(data, to_station, user):
    """Create an incoming request from a request file; raises ExchangeError."""
    found = read(data, REQUEST)
    payload = found.payload
    duplicate = R.get_or_none(
        (R.public_id == payload["request_id"]) | (R.import_checksum == found.checksum)
    )
    if duplicate is not None:
        raise ExchangeError(
            "duplicate",
            _l(
                "该请求已导入过（个案编号 %(number)s），不能重复导入。",
                number=duplicate.case_number,
            ),
        )
    now = utcnow()
    with photo_store.StoredFiles() as stored, database.atomic():
        from_station = _directory_station(payload["from_station"])
        if from_station.id == to_station.id:
            raise ExchangeError(
                "same_station", _l("请求的发出站点与接收站点相同，不能导入。")
            )
        request = R.create(
            public_id=payload["request_id"],
            imported=True,
            case_number=payload["case_number"],
            from_station=from_station,
            to_station=to_station,
            known_facts=payload.get("known_facts") or "",
            id_number=_normal_id_number(payload.get("id_number")),
            asks=",".join(dict.fromkeys(payload["asks"])),
            question=payload.get("question") or "",
            contact_name=payload.get("contact_name") or "",
            contact_phone=payload.get("contact_phone") or "",
            sent_at=_parse_time(payload["sent_at"], "sent_at"),
            due_date=_parse_date(payload["due_date"], "due_date"),
            received_at=now,
            status=R.RECEIVED,
            import_checksum=found.checksum,
            created_by=user,
        )
        for entry, (content, mime_type) in found.files:
            store_file(
                request,
                entry["role"],
                entry.get("name"),
                content,
                mime_type,
                user,
                stored,
            )
        VerificationEvent.create(
            request=request,
            from_status="",
            to_status=R.RECEIVED,
            user=user,
            station=to_station,
            note=str(_l("从交换文件导入")),
        )
        AuditLog.append(
            "verification_imported",
            user=user,
            obj=request,
            detail={"checksum": found.checksum, "files": len(found.files)},
        )
    logger.info("imported verification request %s", request.id)
    return request


def import_reply(data, user, visible):
    """Record the answer in a reply file on its request; raises ExchangeError.

    `visible` is the query of requests the user may see; a reply to any other
    request is rejected as not found.
    """
    from services import verification

    found = read(data, REPLY)
    payload = found.payload
    if R.select().where(R.reply_checksum == found.checksum).exists():
        raise ExchangeError("duplicate", _l("该回复文件已导入过，不能重复导入。"))
    request = visible.where(
        (R.public_id == payload["request_id"]) & (R.imported == False)  # noqa: E712
    ).first()
    if request is None:
        raise ExchangeError(
            "unknown_request", _l("未找到该回复对应的核实请求，或您无权查看该请求。")
        )
    if payload["from_station"]["name"] != request.to_station.name:
        raise ExchangeError(
            "wrong_station",
            _l(
                "回复文件来自“%(found)s”，而该请求是发给“%(expected)s”的。",
                found=payload["from_station"]["name"],
                expected=request.to_station.name,
            ),
        )
    if request.status not in R.WAITING:
        raise ExchangeError(
            "state",
            _l(
                "该请求当前为“%(status)s”，不能再导入答复。",
                status=request.status_label,
            ),
        )
    values = {
        "outcome": payload["outcome"],
        "answer_text": payload["answer_text"],
        "answer_name": payload.get("answer_name") or "",
        "answer_address": payload.get("answer_address") or "",
        "answer_contact": payload.get("answer_contact") or "",
    }
    files = [
        (entry.get("name"), content, mime) for entry, (content, mime) in found.files
    ]
    with photo_store.StoredFiles() as stored, database.atomic():
        answered = verification.answer(
            request, values, user, channel="exchange", files=files, stored=stored
        )
        R.update(
            reply_checksum=found.checksum,
            answered_by_name=(payload.get("answered_by") or "")[:50],
        ).where(R.id == answered.id).execute()
        AuditLog.append(
            "verification_reply_imported",
            user=user,
            obj=answered,
            detail={"checksum": found.checksum, "files": len(files)},
        )
    return R.get_by_id(answered.id)
