"""End-to-end tests in Debian's Chromium, driven by Playwright."""

import threading

import pytest
from werkzeug.serving import make_server

from services import demo
from tests.conftest import CHROMIUM, face_path

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium package is not installed"
)


@pytest.fixture
def demo_server(app):
    with app.app_context():
        logins = {item["username"]: item["password"] for item in demo.load(app)}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", logins
    server.shutdown()
    thread.join(timeout=5)


def log_in(page, base, username, password):
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/")


def test_register_and_search_finds_right_report(page, demo_server):
    base, logins = demo_server
    log_in(page, base, "staff", logins["staff"])

    page.get_by_role("link", name="受助登记").first.click()
    page.get_by_label("姓名").fill("老王")
    page.get_by_label("性别").select_option("male")
    page.get_by_label("估计年龄（最小）").fill("65")
    page.get_by_label("估计年龄（最大）").fill("75")
    page.get_by_label("发现地点").fill("天河客运站")
    page.get_by_label("照片").set_input_files(str(face_path("biden_2.jpg")))
    page.get_by_role("button", name="保存登记").click()

    page.wait_for_url(f"{base}/cases/*")
    assert "已登记" in page.locator(".flash").inner_text()
    page.get_by_role("button", name="一照寻亲").click()
    first = page.locator(".candidate").first
    first.wait_for()
    assert "王德顺" in first.inner_text()
    assert "很可能是同一人" in first.inner_text()
    assert page.locator(".candidate").count() == 6


def test_bad_photo_shows_message_in_form(page, demo_server, tmp_path):
    base, logins = demo_server
    log_in(page, base, "staff", logins["staff"])
    fake = tmp_path / "不是照片.jpg"
    fake.write_text("这只是一个文本文件")

    page.goto(f"{base}/cases/new")
    page.get_by_label("发现地点").fill("天河客运站")
    page.get_by_label("照片").set_input_files(str(fake))
    page.get_by_role("button", name="保存登记").click()

    error = page.locator("#case-form .error")
    error.first.wait_for()
    assert "不是照片.jpg" in error.first.inner_text()
    assert page.url == f"{base}/cases/new"


def test_expired_session_during_htmx_goes_to_login(page, demo_server):
    base, logins = demo_server
    log_in(page, base, "staff", logins["staff"])
    page.goto(f"{base}/cases/")
    page.locator("table.list a").first.click()
    page.wait_for_url(f"{base}/cases/*")
    page.context.clear_cookies()
    page.get_by_role("button", name="一照寻亲").click()
    page.wait_for_url(lambda url: url.startswith(f"{base}/login?next=/cases/"))
    assert page.get_by_role("heading", name="登录").is_visible()
    assert page.locator("#search-results form").count() == 0


def test_case_search_survives_back_and_refresh(page, demo_server):
    base, logins = demo_server
    log_in(page, base, "staff", logins["staff"])
    page.goto(f"{base}/cases/")
    rows = page.locator("#case-list table.list tbody tr")
    assert rows.count() == 2

    page.get_by_label("搜索").fill("afeng")
    page.wait_for_url(lambda url: "q=afeng" in url)
    page.wait_for_function(
        "document.querySelectorAll('#case-list tbody tr').length === 1"
    )
    assert "阿峰" in rows.first.inner_text()

    rows.first.locator("a").click()
    page.wait_for_url(f"{base}/cases/*")
    page.go_back()
    page.wait_for_url(lambda url: "q=afeng" in url)
    page.wait_for_function(
        "document.querySelectorAll('#case-list tbody tr').length === 1"
    )
    assert page.get_by_label("搜索").input_value() == "afeng"

    page.reload()
    assert rows.count() == 1
    assert "阿峰" in rows.first.inner_text()
    assert page.get_by_label("搜索").input_value() == "afeng"


def test_review_and_sign_off_identity(page, demo_server, browser):
    base, logins = demo_server
    log_in(page, base, "staff", logins["staff"])
    page.goto(f"{base}/cases/")
    page.get_by_role("link", name="越秀-2026-0001").click()
    page.get_by_role("button", name="一照寻亲").click()
    first = page.locator(".candidate").first
    first.wait_for()
    assert "黄建国" in first.inner_text()
    first.get_by_role("link", name="逐项对比并审查").click()
    page.wait_for_url(f"{base}/cases/*/reports/*/review")
    assert page.locator(".facts-table tbody tr").count() == 6
    page.get_by_label("是同一人（提交审核人签批）").check()
    page.get_by_label("理由").fill("面部特征一致，自述姓黄")
    page.get_by_role("button", name="保存审查结论").click()
    page.wait_for_selector("text=同一人，待签批")

    supervisor = browser.new_context(locale="zh-CN").new_page()
    supervisor.set_default_timeout(20_000)
    log_in(supervisor, base, "supervisor", logins["supervisor"])
    supervisor.goto(f"{base}/inbox")
    supervisor.get_by_role("link", name="打开").first.click()
    supervisor.get_by_label("请再次输入您的登录密码以签批").fill(logins["supervisor"])
    supervisor.get_by_role("button", name="签批确认身份").click()
    supervisor.wait_for_url(f"{base}/cases/*")
    assert "身份已确认" in supervisor.locator(".heading").inner_text()
    supervisor.context.close()


def group_photo(path):
    from PIL import Image

    left = Image.open(face_path("biden_2.jpg")).convert("RGB")
    right = Image.open(face_path("kit_harington_3.jpg")).convert("RGB")
    height = 500
    left = left.resize((round(left.width * height / left.height), height))
    right = right.resize((round(right.width * height / right.height), height))
    group = Image.new("RGB", (left.width + right.width, height), "white")
    group.paste(left, (0, 0))
    group.paste(right, (left.width, 0))
    group.save(path, "JPEG")
    return path


def test_pick_one_face_in_group_photo(page, demo_server, tmp_path):
    base, logins = demo_server
    log_in(page, base, "staff", logins["staff"])
    page.goto(f"{base}/cases/")
    page.get_by_role("link", name="越秀-2026-0002").click()
    page.get_by_label("合影或多人照片").set_input_files(
        str(group_photo(tmp_path / "合影.jpg"))
    )
    page.get_by_role("button", name="上传并选择人脸").click()
    page.wait_for_url(f"{base}/cases/*/group-photo/*")
    boxes = page.locator(".face-box")
    assert boxes.count() == 2
    boxes.nth(1).click()
    page.wait_for_url(f"{base}/cases/*")
    assert page.locator(".photos figure").count() == 2
    page.get_by_role("button", name="一照寻亲").nth(1).click()
    first = page.locator(".candidate").first
    first.wait_for()
    assert "刘晓峰" in first.inner_text()


def test_bulk_import_shows_progress_and_skips(page, demo_server, tmp_path):
    from tests.test_imports import csv_bytes, row, varied_face, zip_bytes

    base, logins = demo_server
    archive = tmp_path / "照片.zip"
    archive.write_bytes(
        zip_bytes(
            {
                "a.jpg": varied_face("alex_lacamoire_3.jpg"),
                "b.jpg": varied_face("rose_leslie_2.jpg"),
                "dup.jpg": face_path("biden_1.jpg").read_bytes(),
            }
        )
    )
    sheet = tmp_path / "名单.csv"
    sheet.write_bytes(
        csv_bytes(
            [
                row("a.jpg", name="陈志新"),
                row("b.jpg", name="林雪芳"),
                row("dup.jpg", name="王德顺"),
                row("missing.jpg", name="赵某"),
            ]
        )
    )
    log_in(page, base, "staff", logins["staff"])
    page.get_by_role("link", name="批量导入").click()
    page.get_by_label("照片压缩包").set_input_files(str(archive))
    page.get_by_label("登记表").set_input_files(str(sheet))
    page.get_by_role("button", name="开始导入").click()
    progress = page.locator("#import-progress")
    progress.wait_for()
    page.wait_for_function(
        "document.querySelector('#import-progress progress')?.value === 4"
    )
    text = progress.inner_text()
    assert "已处理 4 / 4 行" in text
    stats = [s.inner_text() for s in page.locator("#import-progress .stat b").all()]
    assert stats == ["2", "1", "1"]
    assert "missing.jpg" in text
