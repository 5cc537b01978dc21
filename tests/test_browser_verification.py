"""A verification request between two sub-stations, in Chromium.

The scenario runs in its own thread with its own Playwright instance:
Playwright's sync API refuses to start while another sync instance is open
in the same thread, and test_browser keeps one open for the whole session.
"""

import threading
from contextlib import contextmanager

import pytest

from db.accounts import Station, User
from db.base import database
from db.cases import Case
from tests.conftest import CHROMIUM, launch_chromium
from tests.test_browser import demo_server, log_in  # noqa: F401

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium package is not installed"
)

HAIZHU_PASSWORD = "Haizhu-Station-2026"


def add_haizhu_staff(app):
    with app.app_context():
        user = User(
            username="haizhu",
            full_name="陈海燕",
            role=User.STAFF,
            station=Station.get(Station.short_name == "海珠"),
        )
        user.set_password(HAIZHU_PASSWORD)
        user.save()
        case_id = Case.get(Case.name == "阿峰").id
        database.close()
    return case_id


def test_request_answered_by_other_station(demo_server, app):  # noqa: F811
    base, logins = demo_server
    case_id = add_haizhu_staff(app)
    failures = []

    def run():
        try:
            with browser_pages() as (page, other):
                answer_across_stations(page, other, base, logins, case_id)
        except Exception as error:  # noqa: BLE001 - re-raised in the test thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=180)
    assert not thread.is_alive(), "browser scenario timed out"
    if failures:
        raise failures[0]


@contextmanager
def browser_pages():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        pages = []
        for _ in range(2):
            context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
            page = context.new_page()
            page.set_default_timeout(20_000)
            pages.append(page)
        try:
            yield pages
        finally:
            browser.close()


def answer_across_stations(page, other, base, logins, case_id):
    log_in(page, base, "staff", logins["staff"])
    page.goto(f"{base}/cases/{case_id}")
    page.get_by_role("link", name="发起核实请求").click()
    page.get_by_label("发往站点").select_option(label="海珠区救助管理分站")
    page.get_by_label("请对方核实的内容").fill("本人说家附近有条河，请协助核实。")
    page.get_by_label("联系电话").fill("020-81000000")
    page.get_by_role("button", name="保存并发出").click()
    page.wait_for_url(f"{base}/verification/*")
    assert "核实请求已发出" in page.locator(".flash").inner_text()
    assert "已发出" in page.locator("#request-status").inner_text()

    log_in(other, base, "haizhu", HAIZHU_PASSWORD)
    other.get_by_role("link", name="身份核实").click()
    other.locator("table.list a").first.click()
    other.get_by_role("button", name="确认接收").click()
    other.get_by_role("button", name="开始办理").click()
    other.get_by_label("核实结果").select_option(label="身份已核实")
    other.get_by_label("核实情况").fill("经村委会辨认，系本区居民刘晓峰。")
    other.get_by_label("核实的姓名").fill("刘晓峰")
    other.get_by_role("button", name="提交答复").click()
    other.wait_for_selector("#answer")
    assert "身份已核实" in other.locator("#request-status").inner_text()

    page.goto(f"{base}/cases/{case_id}")
    timeline = page.locator("ol.timeline").inner_text()
    assert "海珠区救助管理分站 答复身份核实" in timeline
    assert "经村委会辨认，系本区居民刘晓峰" in timeline
    assert "已答复" in page.locator("#verification-panel").inner_text()
