import json
import re

import pytest

from db.audit import AuditLog
from tests.conftest import PASSWORD, login


def test_login_page_is_chinese(app):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "登录" in page
    assert 'lang="zh-CN"' in page


def test_login_success_redirects_home(app, users):
    client = app.test_client()
    response = login(client, "staff")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "工作台" in client.get("/").get_data(as_text=True)


def test_login_wrong_password_shows_error(app, users):
    response = login(app.test_client(), "staff", "wrong")
    assert response.status_code == 200
    assert "用户名或密码不正确" in response.get_data(as_text=True)


def test_login_empty_form_shows_field_errors(app, users):
    response = app.test_client().post("/login", data={})
    page = response.get_data(as_text=True)
    assert "请输入用户名" in page
    assert "请输入密码" in page


def test_login_and_failure_are_audited(app, users):
    login(app.test_client(), "staff", "wrong")
    login(app.test_client(), "staff")
    with app.app_context():
        actions = [row.action for row in AuditLog.select().order_by(AuditLog.id)]
    assert actions == ["login_failed", "login"]


def test_disabled_account_cannot_log_in(app, users):
    with app.app_context():
        users["staff"].is_active_account = False
        users["staff"].save()
    assert login(app.test_client(), "staff").status_code == 200


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/cases/", "/cases/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_next_redirects_only_inside_app(app, users, target, expected):
    client = app.test_client()
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"username": "staff", "password": PASSWORD},
    )
    assert response.headers["Location"] == expected


def test_session_renewed_at_login(app, users):
    client = app.test_client()
    with client.session_transaction() as session:
        session["planted"] = "value from before login"
    login(client, "staff")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == users["staff"].get_id()


def test_anonymous_page_request_goes_to_login(app):
    response = app.test_client().get("/cases/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/cases/")


def test_expired_session_in_htmx_redirects_whole_page(app):
    response = app.test_client().get(
        "/cases/",
        headers={"HX-Request": "true", "HX-Current-URL": "http://x/cases/?page=2"},
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/cases/?page%3D2"
    assert "<form" not in response.get_data(as_text=True)


def test_logout_needs_post(staff_client):
    assert staff_client.get("/logout").status_code == 405
    assert staff_client.post("/logout").status_code == 302
    assert staff_client.get("/cases/").status_code == 302


def test_login_is_rate_limited(app_factory, users):
    app = app_factory(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    statuses = [login(client, "staff", "wrong").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "操作过于频繁" in login(client, "staff").get_data(as_text=True)


def test_csrf_required_on_forms_and_htmx(app_factory, users):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert login(client, "staff").status_code == 400
    response = client.post(
        "/login",
        data={"username": "staff", "password": PASSWORD, "csrf_token": token[1]},
    )
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', home)[1]
    hx = {"HX-Request": "true"}
    assert client.post("/reports/1/phone", headers=hx).status_code == 400
    forged = client.post("/reports/1/phone", headers={**hx, "X-CSRFToken": "x"})
    assert forged.status_code == 400
    toast = json.loads(forged.headers["HX-Trigger"])["toast"]
    assert "页面已过期" in toast["message"]
    accepted = client.post(
        "/reports/1/phone", headers={**hx, "X-CSRFToken": header_token}
    )
    assert accepted.status_code == 404


def test_logout_ends_copied_session_cookie(app, users):
    client = app.test_client()
    login(client, "staff")
    with client.session_transaction() as session:
        copied = dict(session)
    client.post("/logout")
    thief = app.test_client()
    with thief.session_transaction() as session:
        session.update(copied)
    response = thief.get("/cases/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_successful_logins_do_not_use_up_limit(app_factory, users):
    app = app_factory(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per minute")
    statuses = [login(app.test_client(), "staff").status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 302]


def test_expired_session_htmx_post_goes_to_login(app_factory, users):
    app = app_factory(WTF_CSRF_ENABLED=True)
    response = app.test_client().post(
        "/cases/1/photos/1/search",
        headers={"HX-Request": "true", "HX-Current-URL": "http://x/cases/1"},
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/cases/1"


def test_case_pages_not_cached(staff_client):
    response = staff_client.get("/cases/")
    assert "no-store" in response.headers["Cache-Control"]


def test_huge_ids_are_404(staff_client):
    for path in ("/cases/99999999999999999999", "/photos/99999999999999999999"):
        assert staff_client.get(path).status_code == 404
    assert staff_client.get("/cases/?page=99999999999999999999").status_code == 200


def test_request_id_made_by_server(app, users):
    response = app.test_client().get("/login", headers={"X-Request-ID": "forged"})
    assert response.headers["X-Request-ID"] != "forged"
    assert len(response.headers["X-Request-ID"]) == 32
