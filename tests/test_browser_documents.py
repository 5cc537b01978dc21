"""A handover record made, downloaded and verified by its QR code, in Chromium."""

import numpy as np
import pytest

from db.base import database
from db.documents import Document
from services import documents, pdf
from tests.conftest import CHROMIUM
from tests.test_browser import demo_server, log_in  # noqa: F401

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium package is not installed"
)


def read_qr(pdf_bytes):
    import cv2

    jpeg = pdf.page_image(pdf_bytes, dpi=200)
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text


def test_handover_downloaded_and_verified(app, page, demo_server):  # noqa: F811
    base, logins = demo_server
    log_in(page, base, "staff", logins["staff"])

    page.goto(f"{base}/cases/")
    page.locator("table.list a").first.click()
    page.wait_for_url(f"{base}/cases/*")
    page.get_by_role("link", name="生成交接单").click()
    page.get_by_label("接收人或单位").fill("吉𠮷明")
    page.get_by_label("与受助人关系").fill("儿子")
    page.get_by_label("交接地点").fill("越秀区救助管理分站接待室")
    page.get_by_label("随身物品（每行一件）").fill("身份证 1 张\n旧手机 1 部")
    page.get_by_role("button", name="生成 PDF").click()
    page.wait_for_url(f"{base}/documents/*")
    assert "已生成交接单" in page.locator(".flash").first.inner_text()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="下载 PDF").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    data = open(download.path(), "rb").read()
    assert data.startswith(b"%PDF")

    link = read_qr(data)
    assert link.startswith(base + "/documents/verify/")
    page.goto(link)
    result = page.locator("#verify-result")
    assert "真实有效" in result.inner_text()
    serial = page.locator("#verify-serial").inner_text()
    assert serial.startswith("越秀救交〔")

    # The file on the server is changed behind the app's back.
    with app.app_context():
        document = Document.get(Document.serial == serial)
        path = documents.path_of(document)
        path.write_bytes(path.read_bytes().replace(b"%%EOF", b"%%EOF\n% edit"))
        database.close()
    page.reload()
    assert "存档文件已被改动" in page.locator("#verify-result").inner_text()
    page.get_by_role("link", name="打开文书").click()
    assert page.get_by_role("link", name="下载 PDF").count() == 0
    assert "已停止下载" in page.locator(".flash-error").first.inner_text()
