"""One error handler for the whole app: Chinese pages, or a toast for htmx."""

import logging

from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from htmx_flask import make_response
from werkzeug.exceptions import HTTPException, InternalServerError

from blueprints.common import toast_header, wants_fragment
from extensions import login_manager

logger = logging.getLogger("tuanyuan.errors")
security_log = logging.getLogger("tuanyuan.security")

MESSAGES = {
    400: _l("请求无效，请检查填写的内容后重试。"),
    401: _l("登录已过期，请重新登录。"),
    403: _l("您没有权限执行此操作。"),
    404: _l("未找到该页面或记录，它可能已被删除，或不属于您所在的站点。"),
    405: _l("不支持此操作方式。"),
    413: _l("提交的内容过大，请压缩照片或分批上传。"),
    429: _l("操作过于频繁，请一分钟后再试。"),
    500: _l("系统内部错误，已记录，请稍后重试或联系管理员。"),
}
CSRF_MESSAGE = _l("页面已过期或来源不明，请刷新页面后重新提交。")


def _respond(status, message):
    if wants_fragment():
        response = make_response(
            render_template("errors/_fragment.html", status=status, message=message),
            status,
        )
        response.headers["HX-Trigger"] = toast_header(message, "error")
        response.headers["HX-Reswap"] = "none"
        return response
    return render_template("errors/page.html", status=status, message=message), status


def handle_http_error(error):
    status = error.code or 500
    if status == 429:
        security_log.warning("rate limit hit on %s", request.path)
    if status >= 500:
        logger.error("HTTP %s on %s %s", status, request.method, request.path)
    return _respond(status, MESSAGES.get(status, MESSAGES[400]))


def handle_csrf_error(error):
    if not current_user.is_authenticated and request.endpoint != "auth.login":
        # The session ran out, which also drops its CSRF token: send the user
        # to the login page rather than report a forged request.
        return login_manager.unauthorized()
    logger.warning("CSRF check failed on %s: %s", request.path, error.description)
    return _respond(400, CSRF_MESSAGE)


def handle_unexpected_error(error):
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return _respond(500, MESSAGES[500])


def register(app):
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_unexpected_error)
    app.register_error_handler(Exception, handle_unexpected_error)
