"""Bulk import of missing-person reports (寻亲登记) with their photos.

Staff upload a ZIP archive of photos, or choose a folder on the server, with
a spreadsheet that has one report per row: a CSV file (UTF-8, GB18030 or
UTF-16) or the first sheet of an Excel .xlsx workbook. The header row may sit
under a title, within the first HEADER_SEARCH_ROWS rows. The columns, by
their Chinese headers (other accepted spellings are in COLUMNS):

    照片文件    required  photo file names in the archive or folder, with
                          the sub-folder where names repeat; several names
                          are separated by "；" or ";"
    被寻人姓名  required
    性别                  男, 女 or 不详 (blank means 不详)
    走失时年龄            a whole number from 0 to 120; "71岁" is accepted
    走失日期              2022-10-18, 2022/10/18, 2022.10.18 or 2022年10月18日
    最后出现地点
    登记人      required
    关系                  the reporter's relation to the sought person
    联系电话    required  digits, with an area code and "-" allowed
    备注

Each row gets the checks of the report form. A row that fails them, or none
of whose photos can be used, is reported with its reason, and the other rows
go on. A row with some usable photos is imported with those, and its message
lists the photos left out.

Duplicates: a photo is already in the gallery when the SHA-256 of its
normalised JPEG equals that of a report photo. The normalised JPEG is
compared rather than the uploaded bytes, because Photo.sha256 of photos
saved through the report form is that hash, and because copies that differ
only in metadata (EXIF, colour profile) normalise to the same JPEG. The cost
is that a duplicate photo is normalised and embedded before it is found. A
row was imported before when an earlier job imported a row with the same
row_key, a hash of the sought person's name, sex, age, date and place and
the reporter's name and phone digits. Notes and photos are not part of the
key, so a row with a corrected note is not imported a second time.

Speed: normalising and embedding one demo photo took 0.25-0.75 s of one
core (services.faces.embed on a 2-core machine), so photos go to a pool of
IMPORT_WORKERS processes while this thread writes finished rows in batches,
one transaction per batch. The pool's processes are spawned, not forked,
because the web process has threads that may hold locks (dlib's, logging's)
at the moment of a fork.

Resuming: every row is stored as a pending ImportItem before any photo is
read. A batch marks its rows done in the transaction that creates their
reports, so a job stopped at any point goes on from the rows still pending.
ImportJob describes how a worker owns a job.
"""

import codecs
import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
import time
import unicodedata
import uuid
import zipfile
import zlib
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

import filetype
from flask import current_app
from flask_babel import lazy_gettext as _l
from peewee import fn
from werkzeug.datastructures import MultiDict
from wtforms.validators import Length

from db.audit import AuditLog
from db.base import database, utcnow
from db.jobs import ImportItem, ImportJob
from db.photos import Photo
from db.reports import REPORT_FIELDS, MissingReport
from services import faces, photo_store, photos
from services.errors import InputError

logger = logging.getLogger("tuanyuan.imports")

MB = 1024 * 1024

# Settings read from the app config, with these defaults.
DEFAULTS = {
    # Processes that normalise and embed photos. With 0, the job's own
    # thread does it.
    "IMPORT_WORKERS": os.cpu_count() or 1,
    # Rows written per transaction.
    "IMPORT_BATCH_ROWS": 16,
    # A queued or running job with no heartbeat for this many seconds was
    # left by a worker that stopped, and may be resumed.
    "IMPORT_STALE_SECONDS": 180,
    "IMPORT_MAX_ROWS": 20_000,
    "IMPORT_MAX_SHEET_BYTES": 20 * MB,
    # Files in an archive or server folder.
    "IMPORT_MAX_ENTRIES": 20_000,
    # Sum of the uncompressed sizes of an archive's files.
    "IMPORT_MAX_UNCOMPRESSED_BYTES": 2048 * MB,
    # Uncompressed size over compressed size. Photos hardly compress, so a
    # far higher ratio is a ZIP bomb.
    "IMPORT_MAX_RATIO": 100,
    # Folder whose sub-folders staff may import from; empty means the
    # import_folders folder in the instance folder.
    "IMPORT_FOLDER_ROOT": "",
}

ARCHIVE_FILE = "photos.zip"
SHEET_FILE = "sheet"
# Entries larger than this must also keep under IMPORT_MAX_RATIO on their
# own, so one bomb cannot hide among many photos.
RATIO_CHECK_MIN_BYTES = 1 * MB
# Limits of the ZIP container of an .xlsx workbook. Its XML compresses far
# better than photos, so its ratio is not checked, only its size.
XLSX_MAX_ENTRIES = 1000
XLSX_MAX_UNCOMPRESSED_BYTES = 200 * MB
# Files that archiving tools add, which are never photos.
IGNORED_FILES = {".ds_store", "thumbs.db", "desktop.ini"}
PENDING_PAGE = 500
INSERT_CHUNK = 500
# A batch is written after this many seconds even when it is not full, so
# the progress bar moves while large photos are processed.
FLUSH_SECONDS = 2.0
# Photos sent to the pool ahead of the row being written, per process.
PHOTOS_AHEAD_PER_WORKER = 4


def setting(name):
    return current_app.config.get(name, DEFAULTS[name])


class SourceError(InputError):
    """A rejected archive, folder or spreadsheet. `field` names the form field
    ("archive", "folder" or "sheet") that the message belongs next to."""

    def __init__(self, field, code, message):
        super().__init__(code, message)
        self.field = field


class SourceErrors(Exception):
    """Rejected uploads, with `errors` mapping form fields to messages."""

    def __init__(self, errors):
        super().__init__(", ".join(errors))
        self.errors = errors


class PhotoFileError(InputError):
    """A photo named in a row that cannot be read from the archive or folder.

    `code` is "missing", "ambiguous", "too_large", "encrypted" or "unreadable".
    """


class JobReleased(Exception):
    """The worker no longer owns its job: it was cancelled, or resumed by
    another worker after this one was taken for dead."""


# Photo sources: a ZIP archive or a folder on the server.


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int
    max_bytes: int
    max_ratio: int | None


def _photo_archive_limits():
    return ArchiveLimits(
        setting("IMPORT_MAX_ENTRIES"),
        setting("IMPORT_MAX_UNCOMPRESSED_BYTES"),
        setting("IMPORT_MAX_RATIO"),
    )


class PhotoIndex:
    """Photo files found by relative path, or by file name or stem when that
    is unique, compared without regard to case."""

    def __init__(self):
        self.by_path = {}
        self.by_name = {}
        self.by_stem = {}

    def __len__(self):
        return len(self.by_path)

    def add(self, path, key):
        folded = _fold_name(path)
        self.by_path.setdefault(folded, key)
        name = PurePosixPath(folded).name
        self.by_name.setdefault(name, []).append(key)
        self.by_stem.setdefault(PurePosixPath(name).stem, []).append(key)

    def find(self, name):
        """Return the key of the file `name` refers to, or raise PhotoFileError."""
        wanted = _fold_name(name)
        if wanted in self.by_path:
            return self.by_path[wanted]
        base = PurePosixPath(wanted).name
        candidates = self.by_name.get(base, [])
        if not candidates and not PurePosixPath(base).suffix:
            candidates = self.by_stem.get(base, [])
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise PhotoFileError("missing", _l("照片来源中没有这个文件。"))
        raise PhotoFileError(
            "ambiguous",
            _l(
                "照片来源中有 %(count)d 个同名文件，"
                "请在表格中写上所在的文件夹，如“第一批/001.jpg”。",
                count=len(candidates),
            ),
        )


def _fold_name(name):
    name = unicodedata.normalize("NFC", name.replace("\\", "/")).strip().strip("/")
    return name.casefold()


def _too_large_error(max_bytes):
    return PhotoFileError(
        "too_large",
        _l("照片文件超过上限 %(mb)d MB，请压缩后再导入。", mb=max_bytes // MB),
    )


class ZipPhotos:
    """Photos read one at a time from a ZIP archive, never extracted to disk."""

    def __init__(self, path, limits, field="archive"):
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise _not_a_zip_error(path, field) from error
        try:
            self.index = _index_archive(self.archive.infolist(), limits, field)
        except SourceError:
            self.archive.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.archive.close()

    def read(self, info, max_bytes):
        if info.flag_bits & 0x1:
            raise PhotoFileError(
                "encrypted", _l("文件已加密，无法读取。请去掉密码后重新打包。")
            )
        if info.file_size > max_bytes:
            raise _too_large_error(max_bytes)
        # zipfile stops at the size in the entry's header and checks the CRC,
        # so the entry cannot expand past the size checked above.
        try:
            with self.archive.open(info) as member:
                return member.read(max_bytes + 1)
        except (
            zipfile.BadZipFile,
            zlib.error,
            NotImplementedError,
            OSError,
            EOFError,
        ) as error:
            raise PhotoFileError(
                "unreadable",
                _l("压缩包中的这个文件已损坏，或使用了不支持的压缩方式，无法读取。"),
            ) from error


def _not_a_zip_error(path, field):
    kind = filetype.guess(str(path))
    if kind is not None and kind.extension in ("rar", "7z", "gz", "bz2", "xz", "tar"):
        message = _l(
            "不支持 %(format)s 格式的压缩包，请改用 ZIP 格式重新打包。",
            format=kind.extension.upper(),
        )
    else:
        message = _l("文件不是有效的 ZIP 压缩包，请重新打包后上传。")
    return SourceError(field, "not_zip", message)


def _index_archive(infos, limits, field):
    """Check an archive's directory and return a PhotoIndex of its files.

    Raises SourceError for too many entries, an unsafe path, a symbolic link,
    a total size over the limit or a compression ratio typical of ZIP bombs.
    """
    if len(infos) > limits.max_entries:
        raise SourceError(
            field,
            "too_many_entries",
            _l(
                "压缩包内有 %(count)d 个文件，超过上限 %(limit)d 个，请分批导入。",
                count=len(infos),
                limit=limits.max_entries,
            ),
        )
    index = PhotoIndex()
    total = compressed = 0
    for info in infos:
        name = _member_name(info)
        _check_member(info, name, limits, field)
        total += info.file_size
        compressed += info.compress_size
        if not info.is_dir() and not _is_ignored(name):
            index.add(name, info)
    if total > limits.max_bytes:
        raise SourceError(
            field,
            "too_large",
            _l(
                "压缩包解压后共 %(size)d MB，超过上限 %(limit)d MB，请分批导入。",
                size=total // MB,
                limit=limits.max_bytes // MB,
            ),
        )
    if limits.max_ratio and total > limits.max_ratio * max(compressed, 1):
        raise _bomb_error(field)
    if not index:
        raise SourceError(field, "empty", _l("压缩包中没有文件。"))
    return index


def _member_name(info):
    """Return an entry's name, decoded as its archiver meant.

    Archivers on Chinese Windows write names in GBK without setting the UTF-8
    flag (bit 11), and zipfile then decodes them as CP437.
    """
    name = info.filename
    if not info.flag_bits & 0x800:
        raw = name.encode("cp437")
        for encoding in ("utf-8", "gb18030"):
            try:
                name = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    return unicodedata.normalize("NFC", name.replace("\\", "/"))


UNSAFE_START = re.compile(r"^(/|[A-Za-z]:)")


def _check_member(info, name, limits, field):
    if UNSAFE_START.match(name) or ".." in name.split("/"):
        raise SourceError(
            field,
            "unsafe_path",
            _l(
                "压缩包内有不安全的文件路径（%(name)s），已拒绝。"
                "请只打包照片文件本身后重新上传。",
                name=name[:80],
            ),
        )
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise SourceError(
            field,
            "symlink",
            _l("压缩包内有符号链接（%(name)s），已拒绝。", name=name[:80]),
        )
    big = info.file_size > RATIO_CHECK_MIN_BYTES
    if big and limits.max_ratio:
        if info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _bomb_error(field)


def _bomb_error(field):
    return SourceError(
        field,
        "zip_bomb",
        _l(
            "压缩包的压缩比异常（疑似“压缩炸弹”），已拒绝。照片压缩包不会有这么高的压缩比。"
        ),
    )


def _is_ignored(path):
    parts = path.split("/")
    name = parts[-1].casefold()
    return (
        parts[0] == "__MACOSX"
        or name.startswith("._")
        or name in IGNORED_FILES
        or not name
    )


class FolderPhotos:
    """Photos in a folder on the server, searched without following links."""

    def __init__(self, path, max_entries):
        self.index = PhotoIndex()
        count = 0
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            for name in names:
                full = Path(folder) / name
                relative = full.relative_to(path).as_posix()
                if full.is_symlink() or _is_ignored(relative):
                    continue
                count += 1
                if count > max_entries:
                    raise SourceError(
                        "folder",
                        "too_many_entries",
                        _l(
                            "文件夹内文件超过上限 %(limit)d 个，请分成几个文件夹导入。",
                            limit=max_entries,
                        ),
                    )
                self.index.add(relative, full)
        if not self.index:
            raise SourceError("folder", "empty", _l("文件夹中没有文件。"))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None

    def read(self, path, max_bytes):
        try:
            # O_NOFOLLOW: a file swapped for a link after the folder was
            # listed is not followed out of the folder.
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(descriptor, "rb") as handle:
                if os.fstat(handle.fileno()).st_size > max_bytes:
                    raise _too_large_error(max_bytes)
                return handle.read(max_bytes + 1)
        except OSError as error:
            raise PhotoFileError("unreadable", _l("无法读取这个文件。")) from error


def folder_root():
    configured = setting("IMPORT_FOLDER_ROOT")
    return Path(configured or Path(current_app.instance_path) / "import_folders")


def folder_choices():
    """Return the names of the folders staff may import photos from."""
    root = folder_root()
    if not root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and not entry.name.startswith(".")
    )


def _resolve_folder(name):
    root = folder_root().resolve()
    if not name or name != PurePosixPath(name).name or name.startswith("."):
        raise SourceError("folder", "invalid", _l("文件夹名称无效。"))
    path = (root / name).resolve()
    if path.parent != root or not path.is_dir():
        raise SourceError(
            "folder", "not_found", _l("服务器上没有这个文件夹，请刷新页面后重新选择。")
        )
    return path


def open_photos(job):
    """Open the photo source of `job`, or raise SourceError."""
    if job.folder_name:
        path = _resolve_folder(job.folder_name)
        return FolderPhotos(path, setting("IMPORT_MAX_ENTRIES"))
    return ZipPhotos(job_folder(job) / ARCHIVE_FILE, _photo_archive_limits())


# Spreadsheets.

COLUMNS = {
    "photos": ("照片文件", "照片", "照片文件名"),
    "sought_name": ("被寻人姓名", "被寻人", "姓名"),
    "sex": ("性别",),
    "age_at_missing": ("走失时年龄", "年龄"),
    "last_seen_on": ("走失日期", "走失时间"),
    "last_seen_place": ("最后出现地点", "走失地点"),
    "reporter_name": ("登记人", "登记人姓名", "寻亲人"),
    "reporter_relation": ("关系", "与被寻人关系"),
    "reporter_phone": ("联系电话", "电话", "手机号码"),
    "notes": ("备注", "补充说明"),
}
REQUIRED_COLUMNS = ("photos", "sought_name", "reporter_name", "reporter_phone")
COLUMN_OF_HEADER = {
    header: name for name, headers in COLUMNS.items() for header in headers
}
HEADER_SEARCH_ROWS = 10
HEADER_MARKS = re.compile(r"[\s*＊]|[（(]必填[)）]")
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class SheetRow:
    number: int
    cells: dict


def read_sheet(path, max_rows):
    """Return the data rows of a CSV or .xlsx file, decided by its content.

    Raises SourceError (for the "sheet" field) for an empty, unreadable or
    old .xls file, a missing header or required column, no data rows, or
    more than `max_rows` of them.
    """
    with open(path, "rb") as handle:
        head = handle.read(len(OLE2_MAGIC))
    if not head.strip():
        raise SourceError("sheet", "empty", _l("登记表文件为空。"))
    if head.startswith(OLE2_MAGIC):
        raise SourceError(
            "sheet",
            "xls",
            _l(
                "不支持旧版 Excel（.xls）文件，"
                "请在 Excel 或 WPS 中另存为 .xlsx 或 CSV。"
            ),
        )
    if head.startswith(b"PK"):
        rows = _xlsx_rows(path)
    else:
        rows = _csv_rows(Path(path).read_bytes())
    return _table_rows(rows, max_rows)


def _csv_rows(data):
    text = _decode_text(data)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as error:
        raise SourceError(
            "sheet",
            "bad_csv",
            _l(
                "CSV 文件第 %(line)d 行无法解析（如引号不成对）。请检查后重新保存。",
                line=reader.line_num,
            ),
        ) from error


def _decode_text(data):
    """Decode CSV bytes: UTF-8 or UTF-16 by their byte order mark, else
    UTF-8, else GB18030 (which contains GBK and GB2312)."""
    boms = (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    )
    encodings = [encoding for bom, encoding in boms if data.startswith(bom)]
    for encoding in encodings[:1] or ["utf-8", "gb18030"]:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise SourceError(
        "sheet",
        "encoding",
        _l(
            "无法识别登记表的文字编码，或文件不是表格。"
            "请上传 .xlsx 文件，或在 Excel、WPS 中另存为“CSV UTF-8”。"
        ),
    )


def _xlsx_rows(path):
    # openpyxl and services.search are imported where they are used, so the
    # pool processes, which import this module for prepare_photo, start
    # about a second sooner.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    limits = ArchiveLimits(XLSX_MAX_ENTRIES, XLSX_MAX_UNCOMPRESSED_BYTES, None)
    unreadable = SourceError(
        "sheet",
        "bad_xlsx",
        _l("无法读取这个 Excel 文件，它可能已损坏。请在 Excel 或 WPS 中另存后重试。"),
    )
    # An .xlsx workbook is a ZIP archive: check it like one before openpyxl
    # inflates its XML.
    try:
        ZipPhotos(path, limits, field="sheet").archive.close()
    except SourceError as error:
        if error.code == "not_zip":
            raise unreadable from error
        raise
    # openpyxl 3.1 rejects a path without an .xlsx suffix, but not a file
    # object. It reports damaged workbooks with many exception types, and
    # with defusedxml installed, dangerous XML raises ValueError subclasses.
    damaged = (
        InvalidFileException,
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        TypeError,
        SyntaxError,
        OSError,
    )
    with open(path, "rb") as handle:
        try:
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
            sheet = workbook.worksheets[0]
            rows = sheet.iter_rows(min_row=1, values_only=True)
            yield from enumerate(rows, start=1)
        except damaged as error:
            raise unreadable from error


def _table_rows(rows, max_rows):
    columns = None
    table = []
    for number, values in rows:
        if columns is None:
            columns = _header_columns(values)
            if columns is None and number >= HEADER_SEARCH_ROWS:
                break
            continue
        cells = {
            name: _cell_text(values[index]) if index < len(values) else ""
            for name, index in columns.items()
        }
        if not any(cells.values()):
            continue
        if len(table) == max_rows:
            raise SourceError(
                "sheet",
                "too_many_rows",
                _l("登记表超过 %(limit)d 行，请分成几个文件导入。", limit=max_rows),
            )
        table.append(SheetRow(number, cells))
    if columns is None:
        raise SourceError(
            "sheet",
            "no_header",
            _l(
                "登记表前 %(rows)d 行中没有找到表头（应有“被寻人姓名”等列）。"
                "请使用页面上的表格模板。",
                rows=HEADER_SEARCH_ROWS,
            ),
        )
    if not table:
        raise SourceError("sheet", "no_rows", _l("登记表中没有数据行。"))
    return table


def _header_columns(values):
    """Return {column: index} when `values` is the header row, else None."""
    columns = {}
    for index, value in enumerate(values):
        header = HEADER_MARKS.sub("", unicodedata.normalize("NFKC", _cell_text(value)))
        name = COLUMN_OF_HEADER.get(header)
        if name is None:
            continue
        if name in columns:
            raise SourceError(
                "sheet",
                "duplicate_column",
                _l("表头中“%(column)s”列出现了两次。", column=COLUMNS[name][0]),
            )
        columns[name] = index
    if "sought_name" not in columns:
        return None
    missing = [COLUMNS[name][0] for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise SourceError(
            "sheet",
            "missing_columns",
            _l("登记表缺少必需的列：%(columns)s。", columns="、".join(missing)),
        )
    return columns


def _cell_text(value):
    """Return a cell as text. Excel stores phone numbers and ages as floats."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.hour == value.minute == value.second == 0:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# Row checks.

SEX_VALUES = {
    "": "unknown",
    "男": "male",
    "男性": "male",
    "女": "female",
    "女性": "female",
    "不详": "unknown",
    "未知": "unknown",
}
AGE = re.compile(r"(\d{1,3})(?:\.0+)?(?:周岁|岁)?")
DATE = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"
)
COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
PHOTO_SEPARATORS = re.compile(r"[;；\n]+")
# The fields of a row that make up its row_key.
KEY_FIELDS = (
    "sought_name",
    "sex",
    "age_at_missing",
    "last_seen_on",
    "last_seen_place",
    "reporter_name",
)


@dataclass
class CheckedRow:
    number: int
    sought_name: str
    errors: list
    data: dict | None = None
    row_key: str = ""


@cache
def _row_form_class():
    # Imported here, so the pool processes that import this module do not
    # load the blueprints.
    from blueprints.reports import ReportForm

    class RowForm(ReportForm):
        """The report form's fields and checks, without the photo upload."""

        photos = None

    return RowForm


def check_row(row):
    """Check one spreadsheet row as the report form would, and return a
    CheckedRow."""
    cells = row.cells
    errors = []
    values = {name: cells.get(name, "") for name in REPORT_FIELDS}
    values["sex"] = _parse_sex(cells.get("sex", ""), errors)
    values["age_at_missing"] = _parse_age(cells.get("age_at_missing", ""), errors)
    values["last_seen_on"] = _parse_date(cells.get("last_seen_on", ""), errors)
    values["reporter_phone"] = unicodedata.normalize(
        "NFKC", values["reporter_phone"]
    ).strip()
    photo_names = _parse_photo_names(cells.get("photos", ""), errors)
    errors.extend(_form_errors(values))
    checked = CheckedRow(row.number, values["sought_name"][:100], errors)
    if errors:
        return checked

    checked.data = dict(values, photos=photo_names)
    checked.data["age_at_missing"] = (
        int(values["age_at_missing"]) if values["age_at_missing"] else None
    )
    checked.data["last_seen_on"] = values["last_seen_on"] or None
    checked.row_key = row_key(checked.data)
    return checked


def row_key(data):
    """Return the SHA-256 that identifies a row among earlier imports."""
    parts = [data[name] for name in KEY_FIELDS]
    parts.append(re.sub(r"\D", "", data["reporter_phone"]))
    encoded = json.dumps(parts, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _parse_sex(text, errors):
    value = SEX_VALUES.get(unicodedata.normalize("NFKC", text).strip())
    if value is None:
        errors.append(str(_l("性别：应填写“男”“女”或“不详”。")))
        return "unknown"
    return value


def _parse_age(text, errors):
    text = unicodedata.normalize("NFKC", text).replace(" ", "")
    if not text:
        return ""
    match = AGE.fullmatch(text)
    if match is None:
        errors.append(str(_l("走失时年龄：应为 0 到 120 之间的整数。")))
        return ""
    return match.group(1)


def _parse_date(text, errors):
    """Return the date as YYYY-MM-DD, which the form's DateField reads."""
    text = unicodedata.normalize("NFKC", text).replace(" 00:00:00", "").strip()
    if not text:
        return ""
    match = DATE.fullmatch(text) or COMPACT_DATE.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day = (int(part) for part in match.groups())
        return date(year, month, day).isoformat()
    except ValueError:
        errors.append(str(_l("走失日期：日期无效，请写成 2022-10-18 的格式。")))
        return ""


def _parse_photo_names(text, errors):
    names = [name.strip() for name in PHOTO_SEPARATORS.split(text)]
    names = [unicodedata.normalize("NFC", name) for name in names if name]
    limit = current_app.config["MAX_PHOTOS_PER_UPLOAD"]
    if not names:
        errors.append(str(_l("照片文件：请填写照片文件名。")))
    elif len(names) > limit:
        errors.append(str(_l("照片文件：每行最多 %(n)d 张照片。", n=limit)))
    return names


def _form_errors(values):
    form_values = dict(values)
    form = _row_form_class()(formdata=MultiDict(form_values), meta={"csrf": False})
    form.validate()
    errors = []
    for name in REPORT_FIELDS:
        column = COLUMNS[name][0]
        limit = _max_length(form[name])
        if limit is not None and len(values[name]) > limit:
            # WTForms' own message for Length is English.
            errors.append(
                str(_l("%(column)s：超过 %(n)d 个字。", column=column, n=limit))
            )
            continue
        for error in form[name].errors:
            message = str(error)
            errors.append(message if column in message else f"{column}：{message}")
    return errors


def _max_length(form_field):
    for validator in form_field.validators:
        if isinstance(validator, Length) and validator.max != -1:
            return validator.max
    return None


# Creating a job from an upload.


def imports_folder():
    return Path(current_app.instance_path) / "imports"


def job_folder(job):
    return imports_folder() / job.storage_key


def create_job(user, sheet, archive=None, folder=""):
    """Check the uploaded files and create a queued job for `user`'s station.

    `sheet` and `archive` are werkzeug FileStorage objects; without an archive
    the photos come from the server folder named `folder`. Raises SourceErrors
    with a message per form field, and then keeps no file.
    """
    storage_key = uuid.uuid4().hex
    folder_path = imports_folder() / storage_key
    folder_path.mkdir(parents=True, mode=0o700)
    try:
        errors = _check_uploads(folder_path, sheet, archive, folder)
        if errors:
            raise SourceErrors(errors)
        job = ImportJob.create(
            station=user.station_id,
            created_by=user.id,
            archive_name=_display_name(archive.filename) if archive else "",
            folder_name=folder if archive is None else "",
            sheet_name=_display_name(sheet.filename),
            storage_key=storage_key,
        )
    except BaseException:
        shutil.rmtree(folder_path, ignore_errors=True)
        raise
    logger.info("import job %s created by user %s", job.id, user.id)
    return job


def _check_uploads(folder_path, sheet, archive, folder):
    errors = {}
    try:
        if archive is not None:
            archive.save(folder_path / ARCHIVE_FILE)
            ZipPhotos(
                folder_path / ARCHIVE_FILE, _photo_archive_limits()
            ).archive.close()
        else:
            FolderPhotos(_resolve_folder(folder), setting("IMPORT_MAX_ENTRIES"))
    except SourceError as error:
        errors[error.field] = str(error)

    sheet_path = folder_path / SHEET_FILE
    sheet.save(sheet_path)
    max_bytes = setting("IMPORT_MAX_SHEET_BYTES")
    try:
        if sheet_path.stat().st_size > max_bytes:
            raise SourceError(
                "sheet",
                "too_large",
                _l("登记表文件超过上限 %(mb)d MB。", mb=max_bytes // MB),
            )
        read_sheet(sheet_path, setting("IMPORT_MAX_ROWS"))
    except SourceError as error:
        errors[error.field] = str(error)
    return errors


def _display_name(filename):
    return PurePosixPath((filename or "").replace("\\", "/")).name[:255]


# Controlling jobs.


def cancel(job):
    """Cancel a queued or running job, and return whether it was active.

    A running worker notices at its next batch, whose rows it leaves pending.
    """
    updated = (
        ImportJob.update(status=ImportJob.CANCELLED, finished_at=utcnow())
        .where((ImportJob.id == job.id) & ImportJob.status.in_(ImportJob.ACTIVE))
        .execute()
    )
    return updated == 1


def requeue(job, stale_seconds=None):
    """Put a failed, cancelled or stale job back in the queued state, ready to
    be queued again, and return whether it was resumable."""
    now = utcnow()
    if stale_seconds is None:
        stale_seconds = setting("IMPORT_STALE_SECONDS")
    stale_before = now - timedelta(seconds=stale_seconds)
    resumable = ImportJob.status.in_([ImportJob.FAILED, ImportJob.CANCELLED]) | (
        ImportJob.status.in_(ImportJob.ACTIVE) & (ImportJob.heartbeat_at < stale_before)
    )
    updated = (
        ImportJob.update(
            status=ImportJob.QUEUED, heartbeat_at=now, finished_at=None, error=""
        )
        .where((ImportJob.id == job.id) & resumable)
        .execute()
    )
    return updated == 1


def unfinished_job_ids(stale_seconds=None):
    """Requeue every queued or running job with a stale heartbeat, and return
    the ids of those requeued."""
    if stale_seconds is None:
        stale_seconds = setting("IMPORT_STALE_SECONDS")
    stale_before = utcnow() - timedelta(seconds=stale_seconds)
    jobs = ImportJob.select().where(
        ImportJob.status.in_(ImportJob.ACTIVE) & (ImportJob.heartbeat_at < stale_before)
    )
    return [job.id for job in jobs if requeue(job, stale_seconds)]


def problems_csv(job):
    """Return the problem rows of `job` as CSV text for Excel (UTF-8 with BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_l("行号"), _l("被寻人姓名"), _l("结果"), _l("原因")])
    for item in ImportItem.problems(job):
        writer.writerow(
            [item.row_number, item.sought_name, item.status_label, item.message]
        )
    return "\ufeff" + buffer.getvalue()


def template_csv():
    """Return a spreadsheet template with the headers and one example row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([headers[0] for headers in COLUMNS.values()])
    writer.writerow(
        [
            "001.jpg；002.jpg",
            "王德顺",
            "男",
            "71",
            "2022-10-18",
            "河南省周口市郸城县汲冢镇",
            "王海涛",
            "儿子",
            "13800000000",
            "患有轻度认知障碍，说河南方言",
        ]
    )
    return "\ufeff" + buffer.getvalue()


# Running a job.


@dataclass(frozen=True)
class PhotoFailure:
    """A photo that cannot join the gallery, with the message for staff."""

    code: str
    message: str


def prepare_photo(data, max_bytes):
    """Normalise and embed one photo into a PreparedPhoto, or a PhotoFailure.

    The steps of photo_store.prepare_one, without the app context that a
    pool process lacks. Messages are rendered here, because lazy strings do
    not cross between processes.
    """
    try:
        photo = photos.normalise(data, max_bytes=max_bytes)
        face = faces.embed(photo.image)
    except InputError as error:
        return PhotoFailure(error.code, str(error))
    return photo_store.PreparedPhoto(
        original_name="",
        jpeg=photo.jpeg,
        preview=photos.thumbnail(photo.image, photo_store.PREVIEW_SIDE),
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        face=face,
    )


def _start_pool_process(faces_home):
    faces.ensure_weights(Path(faces_home))


class InlineExecutor:
    """Runs each call at once in the job's thread, for IMPORT_WORKERS = 0."""

    def submit(self, function, *args):
        future = Future()
        try:
            future.set_result(function(*args))
        # Delivered through the future, as a process pool delivers it.
        except Exception as error:  # noqa: BLE001
            future.set_exception(error)
        return future


@contextmanager
def photo_pool(workers):
    if workers <= 0:
        yield InlineExecutor()
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_start_pool_process,
        initargs=(current_app.config["FACES_HOME"],),
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class PhotoWork:
    name: str
    future: Future | None = None
    result: object = None


@dataclass
class RowWork:
    """One pending row between reading its photos and writing its report."""

    item: ImportItem
    photos: list = field(default_factory=list)
    skip_message: str = ""


INTERNAL_PHOTO_ERROR = _l("处理这张照片时出现系统内部错误，已记录。")
INTERNAL_JOB_ERROR = _l(
    "导入因系统内部错误中断，已记录。可点击“继续导入”从中断处继续，或联系管理员。"
)
POOL_ERROR = _l(
    "照片处理进程意外退出（可能是内存不足），导入已中断。可点击“继续导入”从中断处继续。"
)


def run_job(job_id):
    """Import the pending rows of job `job_id` unless another worker owns it.

    Leaves the job done, or failed with a message for staff. Stops without
    a change when the job is cancelled or taken over meanwhile.
    """
    token = uuid.uuid4().hex
    if not ImportJob.claim(job_id, token, utcnow(), setting("IMPORT_STALE_SECONDS")):
        logger.info("import job %s not started: finished, cancelled or running", job_id)
        return
    run = JobRun(ImportJob.get_by_id(job_id), token)
    try:
        run.execute()
    except JobReleased:
        logger.info("import job %s stopped: cancelled or taken over", job_id)
    except SourceError as error:
        logger.warning("import job %s failed: source %s", job_id, error.code)
        run.fail(str(error))
    except BrokenProcessPool:
        logger.exception("import job %s failed: a pool process died", job_id)
        run.fail(str(POOL_ERROR))
    # The job must end as failed, whatever the error, so staff can resume it.
    except Exception:  # noqa: BLE001
        logger.exception("import job %s failed", job_id)
        run.fail(str(INTERNAL_JOB_ERROR))


class JobRun:
    """One worker's pass over a job it has claimed with `token`."""

    def __init__(self, job, token):
        self.job = job
        self.token = token
        self.user = job.created_by
        self.workers = setting("IMPORT_WORKERS")
        self.batch_rows = setting("IMPORT_BATCH_ROWS")
        self.max_photo_bytes = current_app.config["PHOTO_MAX_BYTES"]
        self.last_flush = time.monotonic()

    def execute(self):
        logger.info(
            "import job %s started (%d pool processes)", self.job.id, self.workers
        )
        with open_photos(self.job) as source:
            self.create_items()
            with photo_pool(self.workers) as pool:
                self.import_pending(source, pool)
        self.finish()

    def create_items(self):
        """Store every row as an item, unless an earlier run did."""
        if ImportItem.select().where(ImportItem.job == self.job).exists():
            return
        rows = read_sheet(job_folder(self.job) / SHEET_FILE, setting("IMPORT_MAX_ROWS"))
        records = []
        first_row_of = {}
        for row in rows:
            records.append(self._item_record(check_row(row), first_row_of))
        with database.atomic():
            self.heartbeat()
            for start in range(0, len(records), INSERT_CHUNK):
                ImportItem.insert_many(records[start : start + INSERT_CHUNK]).execute()
            self.recount()

    def _item_record(self, checked, first_row_of):
        record = {
            "job": self.job.id,
            "row_number": checked.number,
            "sought_name": checked.sought_name,
            "row_key": checked.row_key,
            "data": json.dumps(checked.data or {}, ensure_ascii=False),
            "status": ImportItem.PENDING,
            "message": "",
            "updated_at": utcnow(),
        }
        if checked.errors:
            record["status"] = ImportItem.FAILED
            record["message"] = "；".join(checked.errors)
        elif checked.row_key in first_row_of:
            record["status"] = ImportItem.SKIPPED
            record["message"] = str(
                _l(
                    "与第 %(row)d 行内容相同，已跳过。",
                    row=first_row_of[checked.row_key],
                )
            )
        else:
            first_row_of[checked.row_key] = checked.number
        return record

    def import_pending(self, source, pool):
        """Send the photos of pending rows to `pool`, a few rows ahead of the
        row being written, and write finished rows in batches."""
        window = deque()
        ahead = max(self.workers, 1) * PHOTOS_AHEAD_PER_WORKER
        in_flight = 0
        batch = []
        for item in self._pending_items():
            work = self.start_row(item, source, pool)
            window.append(work)
            in_flight += len(work.photos)
            while window and in_flight > ahead:
                done = window.popleft()
                in_flight -= len(done.photos)
                self._collect(done, batch)
        while window:
            self._collect(window.popleft(), batch)
        if batch:
            self.flush(batch)

    def _collect(self, work, batch):
        for photo in work.photos:
            if photo.future is not None:
                photo.result = self._photo_result(photo)
        batch.append(work)
        due = time.monotonic() - self.last_flush >= FLUSH_SECONDS
        if len(batch) >= self.batch_rows or due:
            self.flush(batch)
            batch.clear()

    def _pending_items(self):
        last_id = 0
        while True:
            items = list(
                ImportItem.select()
                .where(
                    (ImportItem.job == self.job)
                    & (ImportItem.status == ImportItem.PENDING)
                    & (ImportItem.id > last_id)
                )
                .order_by(ImportItem.id)
                .limit(PENDING_PAGE)
            )
            if not items:
                return
            yield from items
            last_id = items[-1].id

    def start_row(self, item, source, pool):
        """Read a row's photos and send them to the pool, unless the row was
        imported before."""
        work = RowWork(item)
        earlier = self._earlier_import(item.row_key)
        if earlier is not None:
            work.skip_message = str(
                _l(
                    "此行此前已导入（导入任务 %(job)d 第 %(row)d 行，"
                    "寻亲登记编号 %(report)d），已跳过。",
                    job=earlier.job_id,
                    row=earlier.row_number,
                    report=earlier.report_id,
                )
            )
            return work
        for name in item.values["photos"]:
            photo = PhotoWork(name)
            try:
                data = source.read(source.index.find(name), self.max_photo_bytes)
                photo.future = pool.submit(prepare_photo, data, self.max_photo_bytes)
            except PhotoFileError as error:
                photo.result = PhotoFailure(error.code, str(error))
            work.photos.append(photo)
        return work

    def _earlier_import(self, key):
        return (
            ImportItem.select()
            .where(
                (ImportItem.row_key == key)
                & (ImportItem.status == ImportItem.IMPORTED)
                & ImportItem.report.is_null(False)
                & (ImportItem.job != self.job)
            )
            .first()
        )

    def _photo_result(self, photo):
        try:
            return photo.future.result()
        except BrokenProcessPool:
            raise
        # One photo's unexpected error must not stop the other rows.
        except Exception:  # noqa: BLE001
            logger.exception(
                "import job %s: photo %s failed",
                self.job.id,
                photos.mask_path(photo.name),
            )
            return PhotoFailure("internal", str(INTERNAL_PHOTO_ERROR))

    def flush(self, batch):
        """Write a batch of rows in one transaction if this worker still owns
        the job, else raise JobReleased."""
        with photo_store.StoredFiles() as files, database.atomic():
            self.heartbeat()
            in_gallery = self._gallery_photos(batch)
            for work in batch:
                self.write_row(work, in_gallery, files)
            self.recount()
        self.last_flush = time.monotonic()
        logger.info("import job %s: wrote %d rows", self.job.id, len(batch))

    def _gallery_photos(self, batch):
        """Return {sha256: report id} of the batch's photos already in the
        report gallery."""
        hashes = [
            photo.result.sha256
            for work in batch
            for photo in work.photos
            if isinstance(photo.result, photo_store.PreparedPhoto)
        ]
        if not hashes:
            return {}
        query = Photo.select(Photo.sha256, Photo.report).where(
            Photo.sha256.in_(hashes) & Photo.report.is_null(False)
        )
        return {photo.sha256: photo.report_id for photo in query}

    def write_row(self, work, in_gallery, files):
        item = work.item
        if work.skip_message:
            self._finish_item(item, ImportItem.SKIPPED, work.skip_message)
            return
        usable, notes, duplicates = [], [], 0
        row_hashes = set()
        for photo in work.photos:
            result = photo.result
            if isinstance(result, PhotoFailure):
                notes.append(f"{photo.name}：{result.message}")
            elif result.sha256 in in_gallery or result.sha256 in row_hashes:
                duplicates += 1
                notes.append(self._duplicate_note(photo.name, in_gallery, result))
            else:
                result.original_name = photo.name[:255]
                usable.append(result)
                row_hashes.add(result.sha256)
        if not usable:
            status = ImportItem.SKIPPED if duplicates else ImportItem.FAILED
            self._finish_item(item, status, "；".join(notes))
            return

        report = self._create_report(item, usable, files)
        for photo in usable:
            in_gallery[photo.sha256] = report.id
        if notes:
            notes.insert(0, str(_l("部分照片未导入")))
        self._finish_item(item, ImportItem.IMPORTED, "；".join(notes), report)

    def _duplicate_note(self, name, in_gallery, result):
        report_id = in_gallery.get(result.sha256)
        if report_id is None:
            return f"{name}：{_l('与本行另一张照片相同。')}"
        message = _l(
            "照片已在比对库中（寻亲登记编号 %(report)d），未重复导入。",
            report=report_id,
        )
        return f"{name}：{message}"

    def _create_report(self, item, prepared, files):
        from services import search

        values = item.values
        report = MissingReport.create(
            station=self.job.station_id,
            created_by=self.job.created_by_id,
            **{name: values[name] for name in REPORT_FIELDS},
        )
        photo_store.store(prepared, files, user=self.job.created_by_id, report=report)
        search.reindex_report(report)
        AuditLog.append(
            "report_imported",
            user=self.user,
            obj=report,
            detail={
                "job": self.job.id,
                "row": item.row_number,
                "photos": len(prepared),
            },
        )
        return report

    def _finish_item(self, item, status, message, report=None):
        (
            ImportItem.update(
                status=status, message=message, report=report, updated_at=utcnow()
            )
            .where(
                (ImportItem.id == item.id) & (ImportItem.status == ImportItem.PENDING)
            )
            .execute()
        )

    def heartbeat(self):
        """Refresh the job's heartbeat, or raise JobReleased if this worker lost
        the job."""
        updated = (
            ImportJob.update(heartbeat_at=utcnow())
            .where(ImportJob.owned(self.job.id, self.token))
            .execute()
        )
        if updated != 1:
            raise JobReleased()

    def recount(self):
        counts = dict(
            ImportItem.select(ImportItem.status, fn.COUNT(ImportItem.id))
            .where(ImportItem.job == self.job)
            .group_by(ImportItem.status)
            .tuples()
        )
        (
            ImportJob.update(
                total=sum(counts.values()),
                imported=counts.get(ImportItem.IMPORTED, 0),
                skipped=counts.get(ImportItem.SKIPPED, 0),
                failed=counts.get(ImportItem.FAILED, 0),
            )
            .where(ImportJob.id == self.job.id)
            .execute()
        )

    def finish(self):
        now = utcnow()
        with database.atomic():
            updated = (
                ImportJob.update(
                    status=ImportJob.DONE, finished_at=now, heartbeat_at=now
                )
                .where(ImportJob.owned(self.job.id, self.token))
                .execute()
            )
            if updated != 1:
                raise JobReleased()
            job = ImportJob.get_by_id(self.job.id)
            AuditLog.append(
                "import_finished", user=self.user, obj=job, detail=_counts(job)
            )
        if not job.folder_name:
            # The uploaded copies are no longer needed once every row is done.
            shutil.rmtree(job_folder(job), ignore_errors=True)
        logger.info(
            "import job %s done: %d imported, %d skipped, %d failed",
            job.id,
            job.imported,
            job.skipped,
            job.failed,
        )

    def fail(self, message):
        updated = (
            ImportJob.update(
                status=ImportJob.FAILED, error=message, finished_at=utcnow()
            )
            .where(ImportJob.owned(self.job.id, self.token))
            .execute()
        )
        if updated == 1:
            AuditLog.append("import_failed", user=self.user, obj=self.job)


def _counts(job):
    return {
        "total": job.total,
        "imported": job.imported,
        "skipped": job.skipped,
        "failed": job.failed,
    }
