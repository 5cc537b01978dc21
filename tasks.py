"""The Huey task queue and the background tasks that run on it.

The queue is a SQLite file in the instance folder unless HUEY_REDIS_URL is
set. With HUEY_IMMEDIATE (the tests) a task runs at once in the caller's
thread. Tasks run in one of two places:

- a separate consumer, for gunicorn deployments, started from the project
  folder with the same environment as the web server:
  `.venv/bin/huey_consumer tasks.huey --workers 1 --worker-type thread`.
  One thread worker is enough: a bulk import embeds faces in its own
  process pool (IMPORT_WORKERS), so two imports at once only compete for
  the same cores.
- threads inside the web process, for `make run`, when HUEY_IN_PROCESS is
  set and the app factory calls start_consumer_thread.
"""

import logging
import threading
from contextlib import contextmanager
from pathlib import Path

from flask import has_app_context
from huey import Huey
from huey.consumer import Consumer
from huey.storage import RedisStorage, SqliteStorage

from config import BASE_DIR, Config
from db.base import database

logger = logging.getLogger("tuanyuan.tasks")

QUEUE_NAME = "tuanyuan"
QUEUE_FILE = "huey.sqlite3"
# Flask's instance folder for app.py in the project folder, where a consumer
# started without an app looks for the queue file.
DEFAULT_INSTANCE = BASE_DIR / "instance"


class LazySqliteStorage(SqliteStorage):
    """SqliteStorage that creates its folder, file and tables on first use.

    huey 3.5's SqliteStorage creates them when it is constructed, which here
    is at import time, possibly before the instance folder exists.
    """

    def __init__(self, *args, **kwargs):
        kwargs["create_tables"] = False
        super().__init__(*args, **kwargs)

    def _create_connection(self):
        Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
        connection = super()._create_connection()
        for statement in self.ddl:
            connection.execute(statement)
        return connection


def queue_settings(config, instance_path):
    """Return (storage class, storage options, immediate) for a config mapping."""
    immediate = bool(config.get("HUEY_IMMEDIATE", False))
    redis_url = config.get("HUEY_REDIS_URL")
    if redis_url:
        return RedisStorage, {"url": redis_url}, immediate
    path = config.get("HUEY_SQLITE_PATH") or Path(instance_path) / QUEUE_FILE
    return LazySqliteStorage, {"filename": str(path)}, immediate


def _config_mapping(config_class):
    return {
        name: getattr(config_class, name)
        for name in dir(config_class)
        if name.isupper()
    }


# Built from the environment at import, so that `huey_consumer tasks.huey`
# reads the same queue as a web server started with the same environment.
_storage_class, _storage_options, _immediate = queue_settings(
    _config_mapping(Config), DEFAULT_INSTANCE
)
huey = Huey(
    QUEUE_NAME,
    results=False,
    immediate=_immediate,
    storage_class=_storage_class,
    **_storage_options,
)
_settings = (_storage_class, _storage_options, _immediate)
_app = None
_app_lock = threading.Lock()


def init_app(app):
    """Point the queue at the storage `app` is configured for, and keep `app`
    for the tasks that a consumer in this process runs."""
    global _app, _settings
    settings = queue_settings(app.config, app.instance_path)
    with _app_lock:
        _app = app
        if settings != _settings:
            storage_class, options, immediate = settings
            huey.storage_class = storage_class
            huey.storage_kwargs = options
            huey.immediate = immediate
            huey.storage = huey.create_storage()
            _settings = settings
    app.extensions["huey"] = huey


def _task_app():
    """Return the app whose context tasks run in, creating it in a consumer
    process that has none."""
    global _app
    with _app_lock:
        app = _app
    if app is None:
        from app import create_app

        app = create_app()
        init_app(app)
    return app


@contextmanager
def app_context():
    """Run a task in an app context with an open database connection.

    An immediate task runs inside the caller's context and connection.
    """
    if has_app_context():
        yield
        return
    with _task_app().app_context():
        database.connect(reuse_if_open=True)
        try:
            yield
        finally:
            database.close()


@huey.task()
def run_import(job_id):
    from services import bulk_import

    with app_context():
        bulk_import.run_job(job_id)


@huey.task()
def reembed_gallery():
    from services import reembed

    with app_context():
        reembed.reembed_all()


@huey.task()
def render_documents(batch_id):
    from services import document_batches

    with app_context():
        document_batches.run(batch_id)


def enqueue_import(job_id):
    """Queue the import job `job_id`; return False when the queue is unreachable.

    The job stays queued in the database, and can be resumed later.
    """
    try:
        run_import(job_id)
    # The storage may be Redis or SQLite, each with its own connection errors.
    except Exception:  # noqa: BLE001
        logger.exception("could not queue import job %s", job_id)
        return False
    return True


def resume_unfinished(stale_seconds=None):
    """Queue again the import jobs that a dead worker left queued or running.

    A job counts as left behind when its heartbeat is older than
    `stale_seconds` (default IMPORT_STALE_SECONDS). Call it in an app context.
    Returns the ids of the jobs queued.
    """
    from services import bulk_import

    job_ids = bulk_import.unfinished_job_ids(stale_seconds)
    for job_id in job_ids:
        logger.info("resuming import job %s", job_id)
        enqueue_import(job_id)
    return job_ids


class InProcessConsumer(Consumer):
    """A consumer whose threads run inside the web server's process.

    It leaves the server's signal handlers in place, so Ctrl-C still stops the
    server. Worker threads are daemon threads: a job they were running when
    the server stopped stays "running" until it is resumed.
    """

    def _set_signal_handlers(self):
        pass


def start_consumer_thread(app):
    """Start a consumer with thread workers in this process when HUEY_IN_PROCESS
    is set and tasks are not immediate.

    The consumer starts with the first request the process serves, so a CLI
    command that builds the app, such as `flask db upgrade`, starts none and
    cannot be stopped in the middle of a job. Returns whether a consumer will
    start.
    """
    init_app(app)
    if not app.config.get("HUEY_IN_PROCESS") or huey.immediate:
        return False
    started = threading.Event()
    lock = threading.Lock()

    @app.before_request
    def start_consumer_once():
        if started.is_set():
            return
        with lock:
            if started.is_set():
                return
            consumer = InProcessConsumer(
                huey,
                workers=app.config.get("HUEY_WORKERS", 1),
                worker_type="thread",
                periodic=False,
            )
            consumer.start()
            app.extensions["huey_consumer"] = consumer
            started.set()
            logger.info("in-process task consumer started")

    return True
