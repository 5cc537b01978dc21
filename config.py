"""Settings read from environment variables, with a separate test profile."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


class Config:
    # SECRET_KEY must be set in a real deployment. Without it the app keeps a
    # random key in the instance folder, so sessions survive a restart of
    # `make run` but not a new checkout.
    SECRET_KEY = os.environ.get("SECRET_KEY")
    DATABASE_URL = os.environ.get("DATABASE_URL")
    UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER")
    FACES_HOME = os.environ.get("FACES_HOME")

    # One photo may be at most PHOTO_MAX_BYTES; a whole request (several
    # photos and the form) at most MAX_CONTENT_LENGTH, else a 413 page.
    PHOTO_MAX_BYTES = _env_int("PHOTO_MAX_BYTES", 20 * 1024 * 1024)
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 80 * 1024 * 1024)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE") == "1"
    PERMANENT_SESSION_LIFETIME = _env_int("SESSION_MINUTES", 8 * 60) * 60
    REMEMBER_COOKIE_DURATION = 0

    WTF_CSRF_TIME_LIMIT = None
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    RATELIMIT_HEADERS_ENABLED = True
    # Number of reverse proxies in front of the app whose X-Forwarded-For and
    # X-Forwarded-Proto are trusted; 0 when clients connect directly.
    TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
    MAX_PHOTOS_PER_UPLOAD = _env_int("MAX_PHOTOS_PER_UPLOAD", 10)

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"

    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

    # Background jobs (Huey): a SQLite queue in the instance folder, or Redis
    # at HUEY_REDIS_URL. HUEY_IN_PROCESS=1 runs a consumer thread in the web
    # process; gunicorn deployments run huey_consumer instead.
    HUEY_REDIS_URL = os.environ.get("HUEY_REDIS_URL")
    HUEY_SQLITE_PATH = os.environ.get("HUEY_SQLITE_PATH")
    HUEY_IN_PROCESS = os.environ.get("HUEY_IN_PROCESS") == "1"
    HUEY_IMMEDIATE = False
    HUEY_WORKERS = _env_int("HUEY_WORKERS", 1)
    # Bulk import: processes that embed photos (0 means the job's own thread),
    # and the folder whose sub-folders staff may import photos from.
    IMPORT_WORKERS = _env_int("IMPORT_WORKERS", os.cpu_count() or 1)
    IMPORT_FOLDER_ROOT = os.environ.get("IMPORT_FOLDER_ROOT")
    # Scheme and host in the QR links of printed documents, e.g.
    # http://tuanyuan.mzj.local; unset means the host of the request.
    DOCUMENT_LINK_BASE = os.environ.get("DOCUMENT_LINK_BASE")
    SEARCH_RESULTS = _env_int("SEARCH_RESULTS", 10)
    PAGE_SIZE = 20


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 (tests only)
    LOG_LEVEL = "WARNING"
    # Tests switch CSRF and rate limits on where they are the subject.
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    HUEY_IMMEDIATE = True
    HUEY_IN_PROCESS = False
    IMPORT_WORKERS = 0
