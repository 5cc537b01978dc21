"""Application factory: `flask --app app run`."""

import json
import logging
import secrets
import uuid
from pathlib import Path

from flask import Flask, g, request
from flask_babel import format_date, format_datetime
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

import db as models
from config import Config
from db.base import database, open_database
from extensions import babel, csrf, htmx, limiter, login_manager
from services import faces


class BoundedIntConverter(IntegerConverter):
    """`int` URL parts up to the largest 64-bit integer, so an absurd id is a
    404 instead of an overflow in the database driver."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:
            record.request_id = "-"
        return True


def create_app(config=None, instance_path=None):
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app.config.from_object(config or Config)
    app.url_map.converters["int"] = BoundedIntConverter
    if app.config["TRUSTED_PROXIES"]:
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    # The instance folder contains the database, photos and keys: owner only.
    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    Path(app.instance_path).chmod(0o700)
    _fill_instance_defaults(app)
    _configure_logging(app)

    open_database(
        app.config["DATABASE_URL"],
        Path(app.instance_path) / "tuanyuan.sqlite3",
    )
    # Request hooks first, so the request id exists when CSRF checks log.
    _register_request_hooks(app)
    _register_extensions(app)
    _register_blueprints(app)
    _register_tasks(app)
    _register_template_helpers(app)
    _register_commands(app)
    return app


def _fill_instance_defaults(app):
    instance = Path(app.instance_path)
    if not app.config.get("SECRET_KEY"):
        key_file = instance / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        app.config["SECRET_KEY"] = key_file.read_text().strip()
    app.config["UPLOAD_FOLDER"] = str(
        Path(app.config.get("UPLOAD_FOLDER") or instance / "uploads")
    )
    app.config["FACES_HOME"] = str(
        Path(app.config.get("FACES_HOME") or instance / "deepface")
    )
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)
    # Links the model files only; deepface itself is imported on first use.
    faces.ensure_weights(Path(app.config["FACES_HOME"]))


def _configure_logging(app):
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
        )
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("tuanyuan")
    root.handlers[:] = [handler]
    root.setLevel(app.config["LOG_LEVEL"])
    root.propagate = False
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(app.config["LOG_LEVEL"])


def _register_extensions(app):
    babel.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)


def _register_request_hooks(app):
    @app.before_request
    def start_request():
        # Made here, never taken from the client, so audit rows can trust it.
        g.request_id = uuid.uuid4().hex
        database.connect(reuse_if_open=True)

    @app.after_request
    def add_headers(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_user.is_authenticated and request.endpoint != "static":
            # Case data must not stay in the browser cache of a shared PC.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.teardown_appcontext
    def close_database(exc):
        if not database.is_closed():
            database.close()


def _register_blueprints(app):
    from blueprints import (
        auth,
        cases,
        commendations,
        documents,
        errors,
        escorts,
        imports,
        intake,
        interviews,
        main,
        matching,
        partners,
        photos,
        reports,
        reviews,
        stations,
        supervision,
        verification,
    )

    errors.register(app)
    for module in (
        auth,
        main,
        intake,
        cases,
        interviews,
        reports,
        imports,
        photos,
        matching,
        reviews,
        verification,
        stations,
        partners,
        escorts,
        supervision,
        documents,
        commendations,
    ):
        app.register_blueprint(module.bp)


def _register_tasks(app):
    import tasks

    # Points the queue at this app's storage. With HUEY_IN_PROCESS, starts a
    # consumer thread on the first request (make run).
    tasks.start_consumer_thread(app)


def _register_template_helpers(app):
    app.jinja_env.filters["date"] = lambda value: (
        format_date(value, "long") if value else ""
    )
    app.jinja_env.filters["datetime"] = lambda value: (
        format_datetime(value, "yyyy年M月d日 HH:mm") if value else ""
    )
    app.jinja_env.filters["fromjson"] = json.loads
    app.jinja_env.filters["percent"] = lambda value: f"{value * 100:.1f}%"


def _register_commands(app):
    from commands import register

    register(app)


__all__ = ["create_app", "models"]
