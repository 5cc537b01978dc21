"""Shared fixtures: an app on a fresh database per test, users of each role,
logged-in clients and photo files.

The suite runs on SQLite by default and on PostgreSQL when DATABASE_URL is
set. SQLite tests copy a migrated template file; PostgreSQL tests migrate
once, then empty every table before each test.
"""

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

import db as models
from app import create_app
from config import TestConfig
from db.accounts import Station, User
from db.base import database

ROOT = Path(__file__).resolve().parent.parent
FACES_DIR = ROOT / "demo" / "faces"
PASSWORD = "Correct-Horse-42"
CHROMIUM = Path("/usr/bin/chromium")
DATABASE_URL = os.environ.get("DATABASE_URL")


def face_path(name):
    return FACES_DIR / name


def face_bytes(name):
    return face_path(name).read_bytes()


def image_bytes(size=(400, 300), color=(200, 180, 160), fmt="JPEG", mode="RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def faces_home(tmp_path_factory):
    return tmp_path_factory.mktemp("deepface")


@pytest.fixture(scope="session")
def password_hash():
    user = User()
    user.set_password(PASSWORD)
    return user.password_hash


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory, faces_home):
    """A migrated SQLite file to copy, or a migrated PostgreSQL database."""
    folder = tmp_path_factory.mktemp("template")
    app = _make_app(folder, faces_home)
    with app.app_context():
        if DATABASE_URL:
            database.execute_sql("DROP SCHEMA public CASCADE")
            database.execute_sql("CREATE SCHEMA public")
        from commands import run_migrations

        run_migrations()
        database.close()
    return folder / "tuanyuan.sqlite3"


def _make_app(instance, faces_home, **overrides):
    class Config(TestConfig):
        UPLOAD_FOLDER = str(instance / "uploads")
        FACES_HOME = str(faces_home)

    for key, value in overrides.items():
        setattr(Config, key, value)
    return create_app(Config, instance_path=str(instance))


def _empty_postgres_tables():
    tables = ", ".join(f'"{m._meta.table_name}"' for m in models.MODELS)
    database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def app_factory(tmp_path, faces_home, migrated_template):
    """Build an app on this test's database, with config overrides."""

    def build(**overrides):
        instance = tmp_path / "instance"
        instance.mkdir(exist_ok=True)
        target = instance / "tuanyuan.sqlite3"
        if not DATABASE_URL and not target.exists():
            shutil.copy(migrated_template, target)
        return _make_app(instance, faces_home, **overrides)

    return build


@pytest.fixture
def app(app_factory):
    app = app_factory()
    with app.app_context():
        if DATABASE_URL:
            _empty_postgres_tables()
        database.close()
    yield app
    if not database.is_closed():
        database.close()


@pytest.fixture
def stations(app):
    with app.app_context():
        city = Station.create(
            name="广州市救助管理站", short_name="穗", kind=Station.CITY
        )
        yuexiu = Station.create(
            name="越秀区救助管理分站", short_name="越秀", parent=city
        )
        haizhu = Station.create(
            name="海珠区救助管理分站", short_name="海珠", parent=city
        )
        database.close()
    return {"city": city, "yuexiu": yuexiu, "haizhu": haizhu}


@pytest.fixture
def make_user(app, stations, password_hash):
    def make(username, role=User.STAFF, station="yuexiu"):
        with app.app_context():
            user = User.create(
                username=username,
                full_name=f"测试{username}",
                role=role,
                station=stations[station],
                password_hash=password_hash,
            )
            database.close()
        return user

    return make


@pytest.fixture
def users(make_user):
    return {
        "staff": make_user("staff"),
        "other_staff": make_user("haizhu_staff", station="haizhu"),
        "supervisor": make_user("supervisor", User.SUPERVISOR),
        "coordinator": make_user("coordinator", User.COORDINATOR, "city"),
        "volunteer": make_user("volunteer", User.VOLUNTEER, "city"),
        "admin": make_user("admin", User.ADMIN, "city"),
    }


def login(client, username, password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def login_as(app, users):
    def make(role):
        client = app.test_client()
        response = login(client, users[role].username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def staff_client(login_as):
    return login_as("staff")


# Browser tests share one Chromium for the whole run.
@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


def launch_chromium(playwright):
    """Start Debian's Chromium with no background connections."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-gpu",
        ],
    )


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()
