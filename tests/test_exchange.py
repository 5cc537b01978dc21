"""Exchange files between two installations: export, import, reply, import
of the reply, and every kind of bad file rejected without a change."""

import hashlib
import io
import json
import uuid
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from db.accounts import Station, User
from db.base import database, open_database
from db.cases import Case
from db.photos import Photo
from db.verification import VerificationEvent, VerificationFile, VerificationRequest
from services import exchange, photo_store, verification
from tests.conftest import PASSWORD, image_bytes, login
from tests.test_verification import CONFIRMED, VALUES, make_case

R = VerificationRequest
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@contextmanager
def bound(app):
    """Point the shared database proxy at `app`'s database for the block.

    Only direct model work belongs inside: a test client request made in an
    open app context of the same app reuses its `g`, and with it the user
    flask-login loaded first.
    """
    use_database(app)
    with app.test_request_context():
        database.connect(reuse_if_open=True)
        yield
        database.close()


def use_database(app):
    if not database.is_closed():
        database.close()
    open_database(
        app.config["DATABASE_URL"], Path(app.instance_path) / "tuanyuan.sqlite3"
    )


@pytest.fixture
def home(app, users):
    """The requesting installation: a case with a photo, sent to a station
    that does not use it."""
    with bound(app):
        staff = User.get_by_id(users["staff"].id)
        external = Station.create(
            name="城固县救助管理站",
            short_name="城固",
            kind=Station.OTHER,
            directory_group=Station.OTHER_STATION,
            division_code="610722",
        )
        case = make_case(staff.station, staff, id_number="610722198001011235")
        photo = _add_photo(case, staff)
        request = verification.create_draft(
            case, external, dict(VALUES, include_id_number=True), [photo.id], staff
        )
        request = verification.send(request, staff)
    return {"app": app, "request_id": request.id, "case_id": case.id}


def _add_photo(case, user):
    data = image_bytes((320, 400))
    photo = Photo(
        case=case,
        stored_name=f"{uuid.uuid4().hex}.jpg",
        original_name="正面.jpg",
        sha256=hashlib.sha256(data).hexdigest(),
        width=320,
        height=400,
        uploaded_by=user,
    )
    path = photo_store.photo_path(photo)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    photo.save()
    return photo


@pytest.fixture
def remote(tmp_path, faces_home):
    """A second installation with its own SQLite database and upload folder."""
    from app import create_app
    from commands import run_migrations
    from config import TestConfig

    folder = tmp_path / "remote"
    folder.mkdir()

    class RemoteConfig(TestConfig):
        DATABASE_URL = f"sqlite:///{folder / 'remote.sqlite3'}"
        UPLOAD_FOLDER = str(folder / "uploads")
        FACES_HOME = str(faces_home)

    remote_app = create_app(RemoteConfig, instance_path=str(folder))
    with bound(remote_app):
        run_migrations()
        station = Station.create(
            name="城固县救助管理站", short_name="城固", division_code="610722"
        )
        user = User(
            username="chenggu", full_name="城固职员", station=station, role="staff"
        )
        user.set_password(PASSWORD)
        user.save()
    return {"app": remote_app, "station_id": station.id}


def export_file(home):
    with bound(home["app"]):
        request = R.get_by_id(home["request_id"])
        user = User.get(User.username == "staff")
        return exchange.export_request(request, user)


def remote_client(remote):
    use_database(remote["app"])
    client = remote["app"].test_client()
    assert login(client, "chenggu").status_code == 302
    return client


def test_round_trip_between_installations(home, remote, login_as):
    data, name = export_file(home)
    assert name.endswith(".zip")

    client = remote_client(remote)
    response = client.post(
        "/verification/import",
        data={"file": (io.BytesIO(data), name), "station": str(remote["station_id"])},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with bound(remote["app"]):
        incoming = R.get()
        assert incoming.imported
        assert incoming.status == R.RECEIVED
        assert incoming.case_id is None
        assert incoming.id_number == "610722198001011235"
        assert incoming.from_station.name == "越秀区救助管理分站"
        assert incoming.from_station.kind == Station.OTHER
        photo = incoming.files.get()
        assert photo.role == VerificationFile.PHOTO
        assert exchange.file_path(photo).exists()
    use_database(remote["app"])
    page = client.get(f"/verification/{incoming.id}").get_data(as_text=True)
    assert "请核实此人是否为贵县村民" in page

    answered = client.post(
        f"/verification/{incoming.id}/answer",
        data=dict(CONFIRMED, files=[(io.BytesIO(PDF), "户籍证明.pdf")]),
        content_type="multipart/form-data",
    )
    assert answered.status_code == 303, answered.get_data(as_text=True)
    reply = client.get(f"/verification/{incoming.id}/export")
    assert reply.status_code == 200
    assert reply.mimetype == "application/zip"

    use_database(home["app"])
    staff = login_as("staff")
    response = staff.post(
        "/verification/import-reply",
        data={"file": (io.BytesIO(reply.data), "回复.zip")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with bound(home["app"]):
        request = R.get_by_id(home["request_id"])
        assert request.status == R.ANSWERED
        assert request.outcome == R.CONFIRMED
        assert request.answer_channel == "exchange"
        assert request.answer_name == "黄建国"
        assert request.answered_by_name == "城固职员"
        attached = request.files.where(VerificationFile.role == "answer").get()
        assert exchange.file_path(attached).read_bytes() == PDF
    use_database(home["app"])
    timeline = staff.get(f"/cases/{home['case_id']}").get_data(as_text=True)
    assert "城固县救助管理站 答复身份核实" in timeline

    again = staff.post(
        "/verification/import-reply",
        data={"file": (io.BytesIO(reply.data), "回复.zip")},
        content_type="multipart/form-data",
    )
    assert again.status_code == 422
    assert "该回复文件已导入过" in again.get_data(as_text=True)

    assert staff.post(f"/verification/{request.id}/close").status_code == 303
    signed = login_as("supervisor").post(
        f"/verification/{request.id}/signoff",
        data={"decision": "approve", "password": PASSWORD},
    )
    assert signed.status_code == 303
    with bound(home["app"]):
        assert Case.get_by_id(home["case_id"]).status == Case.IDENTIFIED


def repack(data, change=None, recompute=True, extra=None, manifest_bytes=None):
    """Rebuild an exchange zip with its manifest changed by `change`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(entries["manifest.json"])
    if change:
        change(manifest)
    if recompute:
        manifest["checksum"] = exchange.checksum_of(manifest["payload"])
    entries["manifest.json"] = manifest_bytes or json.dumps(
        manifest, ensure_ascii=False
    ).encode("utf-8")
    entries.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _set(path, value):
    def change(manifest):
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _bomb(data):
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", entries["manifest.json"])
        archive.writestr("files/1.jpg", b"\0" * (64 * 1024 * 1024))
    return buffer.getvalue()


def _rezip(data, compression):
    """Rebuild an exchange zip with every entry compressed by `compression`."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _local_data_offset(data, info):
    """Offset of an entry's compressed bytes, after its local file header."""
    header = info.header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    return header + 30 + name_length + extra_length


def _break_deflate(data):
    """Make the photo's deflate stream start with the reserved block type 3,
    which zlib rejects; the zip's structure stays intact."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("files/1.jpg")
    start = _local_data_offset(data, info)
    return data[:start] + b"\xff\xff" + data[start + 2 :]


def _set_method(data, name, method):
    """Write compression method `method` into both headers of entry `name`."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        header = archive.getinfo(name).header_offset
    raw[header + 8 : header + 10] = method.to_bytes(2, "little")
    position = raw.find(b"PK\x01\x02")
    while position != -1:
        name_length = int.from_bytes(raw[position + 28 : position + 30], "little")
        if raw[position + 46 : position + 46 + name_length] == name.encode():
            raw[position + 10 : position + 12] = method.to_bytes(2, "little")
        position = raw.find(b"PK\x01\x02", position + 4)
    return bytes(raw)


def _set_file_role(role):
    def change(manifest):
        manifest["payload"]["files"][0]["role"] = role

    return change


def _corrupt_photo(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        photo = archive.read("files/1.jpg")
    return repack(data, recompute=False, extra={"files/1.jpg": photo[:-10] + b"0" * 10})


BAD_FILES = {
    "truncated": (lambda data: data[: len(data) // 2], "不是有效的 zip"),
    "not_zip": (lambda data: b"PK\x03\x04" + b"x" * 200, "不是有效的 zip"),
    "tampered": (
        lambda data: repack(
            data, _set(["payload", "question"], "改过的内容"), recompute=False
        ),
        "校验值不符",
    ),
    "tampered_photo": (_corrupt_photo, "校验值不符"),
    "wrong_version": (lambda data: repack(data, _set(["version"], 2)), "版本为 2"),
    "wrong_format": (
        lambda data: repack(data, _set(["format"], "other")),
        "不是团圆平台的身份核实交换文件",
    ),
    "reply_as_request": (
        lambda data: repack(data, _set(["kind"], "reply")),
        "该文件不是核实请求文件",
    ),
    "non_utf8": (
        lambda data: repack(
            data,
            manifest_bytes=json.dumps({"说明": "核实"}, ensure_ascii=False).encode(
                "gbk"
            ),
        ),
        "不是 UTF-8 编码",
    ),
    "not_json": (
        lambda data: repack(data, manifest_bytes=b"{not json"),
        "不是有效的 JSON",
    ),
    "huge_json": (
        lambda data: repack(
            data, manifest_bytes=b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        ),
        "过大",
    ),
    "traversal": (
        lambda data: repack(data, extra={"../../evil.jpg": b"x"}),
        "不允许的文件名",
    ),
    "absolute_path": (
        lambda data: repack(data, extra={"/etc/cron.d/x": b"x"}),
        "不允许的文件名",
    ),
    "unlisted_file": (
        lambda data: repack(data, extra={"files/9.jpg": image_bytes()}),
        "与清单不一致",
    ),
    "bomb": (_bomb, "过大"),
    "bad_field": (
        lambda data: repack(data, _set(["payload", "due_date"], "明天")),
        "due_date",
    ),
    "bad_request_id": (
        lambda data: repack(data, _set(["payload", "request_id"], "../x")),
        "request_id",
    ),
    "sent_in_year_9999": (
        lambda data: repack(data, _set(["payload", "sent_at"], "9999-12-31T23:59:59Z")),
        "“sent_at”时间或日期无效",
    ),
    "sent_in_year_1": (
        lambda data: repack(data, _set(["payload", "sent_at"], "0001-01-01T00:00:00Z")),
        "“sent_at”时间或日期无效",
    ),
    "due_in_year_1": (
        lambda data: repack(data, _set(["payload", "due_date"], "0001-01-01")),
        "应在 2000 至 2100 年之间",
    ),
    "sent_with_offset": (
        lambda data: repack(
            data, _set(["payload", "sent_at"], "2026-10-08T10:00:00+08:00")
        ),
        "应为以 Z 结尾的 UTC 时间",
    ),
    "sent_without_zone": (
        lambda data: repack(data, _set(["payload", "sent_at"], "2026-10-08T02:00:00")),
        "应为以 Z 结尾的 UTC 时间",
    ),
    "broken_deflate": (_break_deflate, "不是有效的 zip"),
    "unknown_compression": (
        lambda data: _set_method(data, "files/1.jpg", 99),
        "不支持的压缩方式",
    ),
    "bzip2": (lambda data: _rezip(data, zipfile.ZIP_BZIP2), "不支持的压缩方式"),
    "lzma": (lambda data: _rezip(data, zipfile.ZIP_LZMA), "不支持的压缩方式"),
    "nameless_station": (
        lambda data: repack(data, _set(["payload", "from_station", "name"], " ")),
        "字段“from_station.name”缺失或不正确",
    ),
    "blank_case_number": (
        lambda data: repack(data, _set(["payload", "case_number"], "")),
        "字段“case_number”缺失或不正确",
    ),
    "unknown_ask": (
        lambda data: repack(data, _set(["payload", "asks"], ["find_family", "a,b"])),
        "请求事项“a,b”无法识别",
    ),
    "no_asks": (lambda data: repack(data, _set(["payload", "asks"], [])), "“asks”"),
    "invalid_id_number": (
        lambda data: repack(data, _set(["payload", "id_number"], "610722198001011234")),
        "身份证号无效",
    ),
    "answer_file_in_request": (
        lambda data: repack(data, _set_file_role("answer")),
        "用途“answer”不正确",
    ),
    "float_version": (
        lambda data: repack(data, _set(["version"], 1.0)),
        "版本号 1.0 不是整数",
    ),
    "text_version": (
        lambda data: repack(data, _set(["version"], "1")),
        "版本号 &#34;1&#34; 不是整数",
    ),
    "entry_name_with_newline": (
        lambda data: repack(data, extra={"files/2.jpg\n": image_bytes()}),
        "不允许的文件名",
    ),
    "nul_in_question": (
        lambda data: repack(data, _set(["payload", "question"], "请核实\u0000户籍")),
        "字段“question”含有控制字符",
    ),
}


def _remote_counts():
    return (
        R.select().count(),
        VerificationEvent.select().count(),
        VerificationFile.select().count(),
        Station.select().count(),
    )


def _stored_files(app):
    folder = Path(app.config["UPLOAD_FOLDER"]) / "verification"
    return sorted(folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_request_file_rejected(home, remote, kind):
    data, _ = export_file(home)
    make_bad, message = BAD_FILES[kind]
    bad = make_bad(data)

    client = remote_client(remote)
    with bound(remote["app"]):
        before = (_remote_counts(), _stored_files(remote["app"]))
    use_database(remote["app"])
    response = client.post(
        "/verification/import",
        data={
            "file": (io.BytesIO(bad), "请求.zip"),
            "station": str(remote["station_id"]),
        },
        content_type="multipart/form-data",
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in text
    assert 'class="error"' in text
    assert "Traceback" not in text
    with bound(remote["app"]):
        assert (_remote_counts(), _stored_files(remote["app"])) == before


def test_duplicate_request_rejected(home, remote):
    data, _ = export_file(home)
    with bound(remote["app"]):
        station = Station.get_by_id(remote["station_id"])
        user = User.get(User.username == "chenggu")
        exchange.import_request(data, station, user)
        before = (_remote_counts(), _stored_files(remote["app"]))
        with pytest.raises(exchange.ExchangeError) as error:
            exchange.import_request(data, station, user)
        assert error.value.code == "duplicate"
        assert "已导入过" in str(error.value)
        assert (_remote_counts(), _stored_files(remote["app"])) == before


def test_oversized_zip_rejected(home, remote):
    data, _ = export_file(home)
    remote["app"].config["EXCHANGE_MAX_BYTES"] = len(data) - 1
    with bound(remote["app"]):
        with pytest.raises(exchange.ExchangeError) as error:
            exchange.read(data, exchange.REQUEST)
        assert error.value.code == "too_large"


def test_reply_from_wrong_station_rejected(home, remote):
    data, _ = export_file(home)
    with bound(remote["app"]):
        station = Station.get_by_id(remote["station_id"])
        user = User.get(User.username == "chenggu")
        incoming = exchange.import_request(data, station, user)
        incoming = verification.answer(incoming, CONFIRMED, user)
        reply, _ = exchange.export_reply(incoming, user)
    forged = repack(reply, _set(["payload", "from_station", "name"], "别的站"))
    wrong_version = repack(reply, _set(["version"], 0))
    with bound(home["app"]):
        user = User.get(User.username == "staff")
        visible = verification.visible_to(user)
        with pytest.raises(exchange.ExchangeError) as error:
            exchange.import_reply(forged, user, visible)
        assert error.value.code == "wrong_station"
        with pytest.raises(exchange.ExchangeError) as error:
            exchange.import_reply(wrong_version, user, visible)
        assert error.value.code == "version"
        with pytest.raises(exchange.ExchangeError) as error:
            exchange.import_request(reply, user.station, user)
        assert error.value.code == "kind"
        assert R.get_by_id(home["request_id"]).status == R.SENT

        other = User.get(User.username == "haizhu_staff")
        with pytest.raises(exchange.ExchangeError) as error:
            exchange.import_reply(reply, other, verification.visible_to(other))
        assert error.value.code == "unknown_request"


def test_checksum_is_canonical():
    payload = {"b": "名", "a": [1, 2]}
    reordered = {"a": [1, 2], "b": "名"}
    assert exchange.checksum_of(payload) == exchange.checksum_of(reordered)
    expected = hashlib.sha256('{"a":[1,2],"b":"名"}'.encode()).hexdigest()
    assert exchange.checksum_of(payload) == expected


def test_time_parsed_as_naive_utc(app):
    with app.app_context():
        parsed = exchange._parse_time("2026-01-08T02:00:00Z", "sent_at")
    assert parsed.tzinfo is None
    assert (parsed.year, parsed.hour) == (2026, 2)


def test_edge_dates_import_and_show(home, remote):
    """The earliest and latest accepted dates import and every page shows them."""
    data, _ = export_file(home)
    edges = repack(data, _set(["payload", "sent_at"], "2000-01-01T00:00:00Z"))
    edges = repack(edges, _set(["payload", "due_date"], "2100-12-31"))
    client = remote_client(remote)
    response = client.post(
        "/verification/import",
        data={"file": (io.BytesIO(edges), "请求.zip"), "station": remote["station_id"]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with bound(remote["app"]):
        incoming = R.get()
        assert incoming.sent_at.tzinfo is None
    use_database(remote["app"])
    for url in (
        "/verification/",
        f"/verification/{incoming.id}",
        "/verification/stats?year=2000",
    ):
        assert client.get(url).status_code == 200, url


def test_export_has_ascii_file_name(home, login_as):
    use_database(home["app"])
    response = login_as("staff").get(f"/verification/{home['request_id']}/export")
    assert response.status_code == 200
    with bound(home["app"]):
        public_id = R.get_by_id(home["request_id"]).public_id
    disposition = response.headers["Content-Disposition"]
    assert f"filename=tuanyuan-request-{public_id}.zip" in disposition
    assert "filename*=UTF-8''%E6%A0%B8%E5%AE%9E" in disposition
