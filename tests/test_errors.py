import json

import pytest
from flask import abort


@pytest.fixture
def failing_app(app_factory, users):
    app = app_factory()

    @app.route("/boom")
    def boom():
        raise RuntimeError("simulated failure")

    @app.route("/bad")
    def bad():
        abort(400)

    return app


@pytest.mark.parametrize(
    "path, status, text",
    [
        ("/no-such-page", 404, "未找到"),
        ("/boom", 500, "系统内部错误"),
        ("/bad", 400, "请求无效"),
    ],
)
def test_error_pages_in_chinese(failing_app, path, status, text):
    response = failing_app.test_client().get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert text in page
    assert "<html" in page
    assert "Traceback" not in page


def test_htmx_error_is_toast_not_page(failing_app):
    response = failing_app.test_client().get("/boom", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<html" not in page
    assert response.headers["HX-Reswap"] == "none"
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast["level"] == "error"
    assert "系统内部错误" in toast["message"]


def test_error_logged_with_request_id(failing_app, caplog):
    response = failing_app.test_client().get("/boom")
    record = next(r for r in caplog.records if r.name == "tuanyuan.errors")
    assert record.request_id == response.headers["X-Request-ID"]
    assert record.exc_info is not None


def test_forbidden_page(login_as):
    response = login_as("volunteer").get("/cases/")
    assert response.status_code == 403
    assert "没有权限" in response.get_data(as_text=True)
