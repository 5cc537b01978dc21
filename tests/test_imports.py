import csv
import io
import time
import zipfile
from datetime import date, datetime, timedelta

import openpyxl
import pytest
from PIL import Image, ImageEnhance
from werkzeug.datastructures import FileStorage

import tasks
from db.audit import AuditLog
from db.base import database, utcnow
from db.jobs import ImportItem, ImportJob
from db.photos import FaceVector, GalleryRevision, Photo
from db.reports import MissingReport
from services import bulk_import, search
from tests.conftest import face_bytes

HEADER = [
    "照片文件",
    "被寻人姓名",
    "性别",
    "走失时年龄",
    "走失日期",
    "最后出现地点",
    "登记人",
    "关系",
    "联系电话",
    "备注",
]


def row(photo, name="王德顺", phone="13912345678", **overrides):
    values = {
        "照片文件": photo,
        "被寻人姓名": name,
        "性别": "男",
        "走失时年龄": "71",
        "走失日期": "2022-10-18",
        "最后出现地点": "河南省周口市郸城县",
        "登记人": "王海涛",
        "关系": "儿子",
        "联系电话": phone,
        "备注": "",
    }
    values.update(overrides)
    return [values[column] for column in HEADER]


def csv_bytes(rows, encoding="utf-8-sig", header=HEADER):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def zip_bytes(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def varied_face(name, brightness=1.03):
    """A demo face re-encoded with another brightness, so its hash is new."""
    with Image.open(io.BytesIO(face_bytes(name))) as image:
        changed = ImageEnhance.Brightness(image.convert("RGB")).enhance(brightness)
        buffer = io.BytesIO()
        changed.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def post_import(client, sheet, archive=None, sheet_name="名单.csv", **form):
    data = {"sheet": (io.BytesIO(sheet), sheet_name), **form}
    if archive is not None:
        data["archive"] = (io.BytesIO(archive), "照片.zip")
    return client.post("/imports/new", data=data, content_type="multipart/form-data")


def last_job():
    return ImportJob.select().order_by(ImportJob.id.desc()).get()


def items_by_row(job):
    return {
        item.row_number: item
        for item in ImportItem.select().where(ImportItem.job == job)
    }


def create_job(user, sheet, archive):
    """Create a job through the service, without queueing it."""
    return bulk_import.create_job(
        user,
        FileStorage(io.BytesIO(sheet), filename="名单.csv"),
        archive=FileStorage(io.BytesIO(archive), filename="照片.zip"),
    )


THREE_FACES = {
    "photos/biden.jpg": face_bytes("biden_1.jpg"),
    "photos/obama.jpg": face_bytes("obama_1.jpg"),
    "photos/kit.jpg": face_bytes("kit_harington_1.jpg"),
}
THREE_ROWS = [
    row("biden.jpg", "王德顺"),
    row("obama.jpg", "李秀英", "13800001111", 性别="女"),
    row("photos/kit.jpg", "张建国", "0371-8888777", 走失时年龄="9岁"),
]


def test_import_creates_searchable_reports(app, staff_client, users):
    revision_before = ""
    response = post_import(staff_client, csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))
    assert response.status_code == 303

    with app.app_context():
        job = last_job()
        assert response.headers["Location"].endswith(f"/imports/{job.id}")
        assert job.status == ImportJob.DONE
        assert (job.total, job.imported, job.skipped, job.failed) == (3, 3, 0, 0)
        assert job.finished_at is not None
        reports = {r.sought_name: r for r in MissingReport.select()}
        assert set(reports) == {"王德顺", "李秀英", "张建国"}
        assert reports["李秀英"].sex == "female"
        assert reports["张建国"].age_at_missing == 9
        assert reports["王德顺"].last_seen_on == date(2022, 10, 18)
        assert reports["王德顺"].station_id == users["staff"].station_id
        assert Photo.select().count() == 3
        assert FaceVector.select().count() == 3
        assert GalleryRevision.current() != revision_before
        found = search.search_reports("王德顺").items
        assert [r.id for r in found] == [reports["王德顺"].id]
        imported = AuditLog.select().where(AuditLog.action == "report_imported")
        assert imported.count() == 3
        assert not bulk_import.job_folder(job).exists()


def test_job_page_shows_summary(app, staff_client):
    post_import(staff_client, csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))
    with app.app_context():
        job = last_job()
    page = staff_client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert "已完成" in page
    assert "已处理 3 / 3 行" in page
    assert "every 1s" not in page


def test_bad_rows_reported(app, staff_client):
    rows = [
        row("biden.jpg"),
        row("obama.jpg", name=""),
        row("obama.jpg", name="李秀英", phone="call me"),
        row("nope.jpg", name="赵四"),
        row("readme.txt", name="钱五"),
        row("biden.jpg", name="孙六", 走失日期="2022-02-30", 性别="保密"),
    ]
    archive = zip_bytes(
        {
            "biden.jpg": face_bytes("biden_1.jpg"),
            "obama.jpg": face_bytes("obama_1.jpg"),
            "readme.txt": "这不是照片".encode(),
        }
    )
    post_import(staff_client, csv_bytes(rows), archive)

    with app.app_context():
        job = last_job()
        items = items_by_row(job)
        assert job.status == ImportJob.DONE
        assert (job.imported, job.failed) == (1, 5)
        assert items[2].status == ImportItem.IMPORTED
        assert "请填写被寻人姓名" in items[3].message
        assert "电话号码格式不正确" in items[4].message
        assert "照片来源中没有这个文件" in items[5].message
        assert "无法识别的文件内容" in items[6].message
        assert "走失日期" in items[7].message
        assert "性别" in items[7].message
        assert MissingReport.select().count() == 1
    page = staff_client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert "电话号码格式不正确" in page
    assert "Traceback" not in page


def test_photo_in_gallery_skipped(app, staff_client):
    staff_client.post(
        "/reports/new",
        data={
            "sought_name": "王德顺",
            "sex": "male",
            "reporter_name": "王海涛",
            "reporter_phone": "13912345678",
            "photos": [(io.BytesIO(face_bytes("biden_1.jpg")), "照片.jpg")],
        },
        content_type="multipart/form-data",
    )
    rows = [row("biden.jpg", "另一人", "13700000000")]
    post_import(staff_client, csv_bytes(rows), zip_bytes(THREE_FACES))

    with app.app_context():
        item = ImportItem.get()
        assert item.status == ImportItem.SKIPPED
        assert "已在比对库中" in item.message
        assert MissingReport.select().count() == 1


def test_same_rows_skipped_on_reimport(app, staff_client):
    post_import(staff_client, csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))
    post_import(staff_client, csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))

    with app.app_context():
        job = last_job()
        assert (job.imported, job.skipped) == (0, 3)
        for item in ImportItem.select().where(ImportItem.job == job):
            assert "此前已导入" in item.message
        assert MissingReport.select().count() == 3
        assert Photo.select().count() == 3


def test_repeated_row_in_sheet_skipped(app, staff_client):
    rows = [row("biden.jpg"), row("obama.jpg"), row("kit.jpg", name="张建国")]
    post_import(staff_client, csv_bytes(rows), zip_bytes(THREE_FACES))

    with app.app_context():
        items = items_by_row(last_job())
        assert items[3].status == ImportItem.SKIPPED
        assert "与第 2 行内容相同" in items[3].message
        assert items[4].status == ImportItem.IMPORTED


def test_row_with_some_bad_photos_imported(app, staff_client):
    archive = zip_bytes(
        {"biden.jpg": face_bytes("biden_1.jpg"), "blank.png": photos_blank()}
    )
    post_import(staff_client, csv_bytes([row("biden.jpg；blank.png")]), archive)

    with app.app_context():
        item = ImportItem.get()
        assert item.status == ImportItem.IMPORTED
        assert "部分照片未导入" in item.message
        assert "blank.png：未检测到人脸" in item.message
        assert Photo.select().count() == 1


def photos_blank():
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), "white").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "entry",
    ["../evil.jpg", "photos/../../evil.jpg", "/etc/evil.jpg", "C:/evil.jpg"],
)
def test_zip_with_unsafe_path_rejected(app, staff_client, entry):
    archive = zip_bytes({entry: face_bytes("biden_1.jpg")})
    response = post_import(staff_client, csv_bytes([row("evil.jpg")]), archive)

    assert response.status_code == 422
    assert "不安全的文件路径" in response.get_data(as_text=True)
    with app.app_context():
        assert ImportJob.select().count() == 0
        assert not any(bulk_import.imports_folder().iterdir())


def test_zip_bomb_rejected(app, staff_client):
    archive = zip_bytes({"bomb.jpg": bytes(5 * 1024 * 1024)})
    response = post_import(staff_client, csv_bytes([row("bomb.jpg")]), archive)

    assert response.status_code == 422
    assert "压缩炸弹" in response.get_data(as_text=True)


def test_zip_with_too_many_entries_rejected(app, staff_client):
    app.config["IMPORT_MAX_ENTRIES"] = 2
    response = post_import(
        staff_client, csv_bytes([row("biden.jpg")]), zip_bytes(THREE_FACES)
    )

    assert response.status_code == 422
    assert "超过上限 2 个" in response.get_data(as_text=True)


def test_zip_over_size_limit_rejected(app, staff_client):
    app.config["IMPORT_MAX_UNCOMPRESSED_BYTES"] = 100 * 1024
    response = post_import(
        staff_client, csv_bytes([row("biden.jpg")]), zip_bytes(THREE_FACES)
    )

    assert response.status_code == 422
    assert "解压后共" in response.get_data(as_text=True)


def test_archive_not_zip_rejected(app, staff_client):
    response = post_import(
        staff_client, csv_bytes([row("biden.jpg")]), face_bytes("biden_1.jpg")
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "不是有效的 ZIP 压缩包" in page


def test_gbk_zip_names_matched(app, staff_client):
    # Archivers on Chinese Windows write GBK names without the UTF-8 flag.
    # zipfile writes UTF-8 names, so write an ASCII name of the same length
    # and put the GBK bytes in its place.
    gbk_name = "王德顺.jpg".encode("gbk")
    placeholder = b"x" * (len(gbk_name) - 4) + b".jpg"
    ascii_zip = zip_bytes({placeholder.decode(): face_bytes("biden_1.jpg")})
    data = ascii_zip.replace(placeholder, gbk_name)

    post_import(staff_client, csv_bytes([row("王德顺.jpg")]), data)

    with app.app_context():
        assert ImportItem.get().status == ImportItem.IMPORTED


def test_gb18030_csv_imported(app, staff_client):
    rows = [row("biden.jpg", "𠮷丽", 最后出现地点="广东省广州市越秀区")]
    sheet = csv_bytes(rows, encoding="gb18030")
    post_import(staff_client, sheet, zip_bytes(THREE_FACES))

    with app.app_context():
        report = MissingReport.get()
        assert report.sought_name == "𠮷丽"
        assert report.last_seen_place == "广东省广州市越秀区"


def test_xlsx_imported(app, staff_client):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["2024年第三批寻亲名单"])
    sheet.append(["序号", *HEADER])
    sheet.append(
        [
            1,
            "obama.jpg;kit.jpg",
            "李秀英",
            "女",
            62,
            datetime(2021, 3, 5),
            "湖南省长沙市",
            "李明",
            "女儿",
            13912345678,
            None,
        ]
    )
    buffer = io.BytesIO()
    workbook.save(buffer)

    response = post_import(
        staff_client,
        buffer.getvalue(),
        zip_bytes(THREE_FACES),
        sheet_name="名单.xlsx",
    )

    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        report = MissingReport.get()
        assert report.reporter_phone == "13912345678"
        assert report.age_at_missing == 62
        assert report.last_seen_on == date(2021, 3, 5)
        assert Photo.select().where(Photo.report == report).count() == 2
        assert ImportItem.get().row_number == 3


def test_old_xls_rejected(app, staff_client):
    sheet = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(512)
    response = post_import(staff_client, sheet, zip_bytes(THREE_FACES))

    assert response.status_code == 422
    assert "旧版 Excel" in response.get_data(as_text=True)


def test_missing_columns_shown_at_sheet(app, staff_client):
    header = [column for column in HEADER if column != "联系电话"]
    sheet = csv_bytes([row("biden.jpg")[:8]], header=header)
    response = post_import(staff_client, sheet, zip_bytes(THREE_FACES))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "登记表缺少必需的列：联系电话" in page


def test_photo_source_required(app, staff_client):
    response = post_import(staff_client, csv_bytes([row("biden.jpg")]))

    assert response.status_code == 422
    assert "请上传照片压缩包" in response.get_data(as_text=True)


def test_server_folder_imported(app, staff_client, tmp_path):
    root = tmp_path / "drop"
    (root / "第一批").mkdir(parents=True)
    (root / "第一批" / "biden.jpg").write_bytes(face_bytes("biden_1.jpg"))
    app.config["IMPORT_FOLDER_ROOT"] = str(root)

    page = staff_client.get("/imports/").get_data(as_text=True)
    assert "第一批" in page
    post_import(staff_client, csv_bytes([row("biden.jpg")]), folder="第一批")

    with app.app_context():
        job = last_job()
        assert job.folder_name == "第一批"
        assert job.imported == 1
    assert (root / "第一批" / "biden.jpg").exists()


@pytest.mark.parametrize("folder", ["../", "..", "第一批/../..", "不存在"])
def test_folder_outside_root_rejected(app, staff_client, tmp_path, folder):
    (tmp_path / "drop" / "第一批").mkdir(parents=True)
    app.config["IMPORT_FOLDER_ROOT"] = str(tmp_path / "drop")

    response = post_import(staff_client, csv_bytes([row("x.jpg")]), folder=folder)

    assert response.status_code == 422
    with app.app_context():
        assert ImportJob.select().count() == 0


class SimulatedCrash(BaseException):
    """Stands for the worker process being killed: no handler catches it."""


def test_resume_after_crash(app, users, monkeypatch):
    app.config["IMPORT_BATCH_ROWS"] = 1
    write_row = bulk_import.JobRun.write_row

    def crash_at_row_3(self, work, in_gallery, files):
        if work.item.row_number == 3:
            raise SimulatedCrash()
        return write_row(self, work, in_gallery, files)

    monkeypatch.setattr(bulk_import.JobRun, "write_row", crash_at_row_3)
    with app.app_context():
        database.connect(reuse_if_open=True)
        job = create_job(users["staff"], csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))
        with pytest.raises(SimulatedCrash):
            bulk_import.run_job(job.id)
        job = ImportJob.get_by_id(job.id)
        first_report = ImportItem.get(ImportItem.row_number == 2).report_id
        assert job.status == ImportJob.RUNNING
        assert (job.imported, job.total) == (1, 3)
        # A live worker's job is not taken over.
        assert tasks.resume_unfinished() == []

        monkeypatch.setattr(bulk_import.JobRun, "write_row", write_row)
        ImportJob.update(heartbeat_at=utcnow() - timedelta(hours=1)).execute()
        assert tasks.resume_unfinished() == [job.id]

        job = ImportJob.get_by_id(job.id)
        assert job.status == ImportJob.DONE
        assert (job.imported, job.skipped, job.failed) == (3, 0, 0)
        assert ImportItem.get(ImportItem.row_number == 2).report_id == first_report
        assert MissingReport.select().count() == 3
        assert Photo.select().count() == 3
        imported = AuditLog.select().where(AuditLog.action == "report_imported")
        assert imported.count() == 3
        database.close()


def test_stale_job_resumed_from_page(app, users, staff_client):
    with app.app_context():
        job = create_job(users["staff"], csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))
        ImportJob.update(
            status=ImportJob.RUNNING, heartbeat_at=utcnow() - timedelta(hours=1)
        ).execute()
    page = staff_client.get(f"/imports/{job.id}").get_data(as_text=True)
    assert "继续导入" in page
    assert "every 1s" not in page

    response = staff_client.post(
        f"/imports/{job.id}/resume", headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert "已完成" in response.get_data(as_text=True)
    with app.app_context():
        assert ImportJob.get_by_id(job.id).imported == 3


def test_cancel_then_resume(app, users, staff_client):
    with app.app_context():
        job = create_job(users["staff"], csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))

    response = staff_client.post(f"/imports/{job.id}/cancel")
    assert response.status_code == 303
    with app.app_context():
        assert ImportJob.get_by_id(job.id).status == ImportJob.CANCELLED
        assert AuditLog.select().where(AuditLog.action == "import_cancelled").count()

    staff_client.post(f"/imports/{job.id}/resume")
    with app.app_context():
        job = ImportJob.get_by_id(job.id)
        assert job.status == ImportJob.DONE
        assert job.imported == 3


def test_cancelled_running_job_stops(app, users, monkeypatch):
    app.config["IMPORT_BATCH_ROWS"] = 1
    write_row = bulk_import.JobRun.write_row

    def cancel_at_row_3(self, work, in_gallery, files):
        if work.item.row_number == 3:
            ImportJob.update(status=ImportJob.CANCELLED).execute()
        return write_row(self, work, in_gallery, files)

    monkeypatch.setattr(bulk_import.JobRun, "write_row", cancel_at_row_3)
    with app.app_context():
        job = create_job(users["staff"], csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))
        bulk_import.run_job(job.id)
        job = ImportJob.get_by_id(job.id)
        # The cancel came inside row 3's transaction, after its ownership
        # check, so row 3 is written and row 4 is not.
        assert job.status == ImportJob.CANCELLED
        assert job.imported == 2
        assert items_by_row(job)[4].status == ImportItem.PENDING
        assert MissingReport.select().count() == 2
        assert bulk_import.job_folder(job).exists()


def test_progress_partial_polls_while_running(app, users, staff_client):
    with app.app_context():
        job = create_job(users["staff"], csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))
        ImportJob.update(status=ImportJob.RUNNING, total=10, imported=4).execute()
    url = f"/imports/{job.id}/progress"

    response = staff_client.get(url, headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<section id="import-progress"')
    assert 'hx-trigger="every 1s"' in fragment
    assert '<progress max="10" value="4">' in fragment
    assert "取消导入" in fragment

    with app.app_context():
        ImportJob.update(status=ImportJob.DONE, imported=10).execute()
    fragment = staff_client.get(url, headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "every 1s" not in fragment
    assert "已处理 10 / 10 行（100%）" in fragment


def test_problem_list_exported(app, staff_client):
    rows = [row("biden.jpg"), row("nope.jpg", name="赵四")]
    post_import(staff_client, csv_bytes(rows), zip_bytes(THREE_FACES))
    with app.app_context():
        job = last_job()

    response = staff_client.get(f"/imports/{job.id}/problems.csv")

    text = response.get_data().decode("utf-8-sig")
    assert response.status_code == 200
    assert "赵四" in text
    assert "王德顺" not in text
    with app.app_context():
        exported = AuditLog.select().where(
            AuditLog.action == "import_problems_exported"
        )
        assert exported.count() == 1


def test_template_has_every_column(app, staff_client):
    response = staff_client.get("/imports/template.csv")

    text = response.get_data().decode("utf-8-sig")
    assert next(csv.reader(io.StringIO(text))) == HEADER


def test_volunteer_forbidden(login_as):
    client = login_as("volunteer")

    assert client.get("/imports/").status_code == 403
    assert client.post("/imports/new").status_code == 403


def test_other_station_job_not_found(app, users, login_as):
    with app.app_context():
        job = create_job(users["staff"], csv_bytes(THREE_ROWS), zip_bytes(THREE_FACES))
    other = login_as("other_staff")

    for url in (
        f"/imports/{job.id}",
        f"/imports/{job.id}/progress",
        f"/imports/{job.id}/problems.csv",
    ):
        assert other.get(url).status_code == 404
    assert other.post(f"/imports/{job.id}/cancel").status_code == 404
    assert f"/imports/{job.id}" not in other.get("/imports/").get_data(as_text=True)
    assert login_as("coordinator").get(f"/imports/{job.id}").status_code == 200


def test_process_pool_imports(app, staff_client):
    app.config["IMPORT_WORKERS"] = 2
    archive = zip_bytes(
        {"biden.jpg": varied_face("biden_1.jpg"), "blank.png": photos_blank()}
    )
    rows = [row("biden.jpg"), row("blank.png", name="李秀英")]
    post_import(staff_client, csv_bytes(rows), archive)

    with app.app_context():
        job = last_job()
        assert (job.imported, job.failed) == (1, 1)
        assert "未检测到人脸" in items_by_row(job)[3].message


def test_in_process_consumer_runs_job(app, login_as, tmp_path):
    app.config.update(
        HUEY_IMMEDIATE=False,
        HUEY_IN_PROCESS=True,
        HUEY_SQLITE_PATH=str(tmp_path / "queue.sqlite3"),
    )
    # Before the app's first request, as the app factory would call it.
    assert tasks.start_consumer_thread(app)
    try:
        client = login_as("staff")
        assert "huey_consumer" in app.extensions
        post_import(client, csv_bytes(THREE_ROWS[:1]), zip_bytes(THREE_FACES))
        with app.app_context():
            job = last_job()
            deadline = time.monotonic() + 60
            while job.status != ImportJob.DONE and time.monotonic() < deadline:
                time.sleep(0.2)
                job = ImportJob.get_by_id(job.id)
            assert job.status == ImportJob.DONE
            assert job.imported == 1
    finally:
        consumer = app.extensions.get("huey_consumer")
        if consumer is not None:
            consumer.stop(graceful=True)


def test_queue_storage_follows_config(tmp_path):
    storage, options, immediate = tasks.queue_settings(
        {"HUEY_REDIS_URL": "redis://127.0.0.1:6399/0"}, tmp_path
    )
    assert storage is tasks.RedisStorage
    assert options == {"url": "redis://127.0.0.1:6399/0"}
    assert immediate is False

    storage, options, _ = tasks.queue_settings({}, tmp_path)
    assert storage is tasks.LazySqliteStorage
    assert options == {"filename": str(tmp_path / "huey.sqlite3")}


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"走失日期": "2022/10/18"}, date(2022, 10, 18)),
        ({"走失日期": "2022年10月8日"}, date(2022, 10, 8)),
        ({"走失日期": "2022.1.8"}, date(2022, 1, 8)),
        ({"走失日期": "20221018"}, date(2022, 10, 18)),
        ({"走失日期": ""}, None),
    ],
)
def test_row_dates_parsed(app, cells, expected):
    with app.app_context():
        checked = check(row("a.jpg", **cells))
    assert checked.errors == []
    assert checked.data["last_seen_on"] == (expected.isoformat() if expected else None)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"走失时年龄": "一百"}, "走失时年龄"),
        ({"走失时年龄": "130"}, "年龄应在 0 到 120 岁之间"),
        ({"走失日期": "2999-01-01"}, "时间不能晚于现在"),
        ({"被寻人姓名": "名" * 101}, "被寻人姓名：超过 100 个字"),
        ({"照片文件": ""}, "请填写照片文件名"),
        ({"照片文件": ";".join(f"{n}.jpg" for n in range(11))}, "每行最多 10 张"),
        ({"登记人": ""}, "请填写登记人姓名"),
    ],
)
def test_row_errors(app, cells, message):
    with app.app_context():
        checked = check(row("a.jpg", **cells))
    assert any(message in error for error in checked.errors), checked.errors


def check(values):
    cells = dict(zip(bulk_import.COLUMNS, _by_column(values), strict=True))
    return bulk_import.check_row(bulk_import.SheetRow(2, cells))


def _by_column(values):
    by_header = dict(zip(HEADER, values, strict=True))
    return [by_header[headers[0]] for headers in bulk_import.COLUMNS.values()]


def test_row_key_ignores_notes(app):
    with app.app_context():
        first = check(row("a.jpg", phone="139-1234-5678", 备注="第一次"))
        second = check(row("b.jpg", phone="13912345678", 备注="更正后"))
        other = check(row("a.jpg", name="王德全"))
    assert first.row_key == second.row_key
    assert first.row_key != other.row_key


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_csv_encodings_read(tmp_path, encoding):
    path = tmp_path / "sheet"
    path.write_bytes(csv_bytes([row("a.jpg")], encoding=encoding))

    rows = bulk_import.read_sheet(path, max_rows=10)

    assert [r.cells["sought_name"] for r in rows] == ["王德顺"]
    assert rows[0].number == 2
