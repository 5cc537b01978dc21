"""Helpers every blueprint uses: fragment-or-page rendering, toasts, auditing."""

import json

from flask import flash, g, render_template, request
from flask_login import current_user
from htmx_flask import make_response

from db.audit import AuditLog


def wants_fragment():
    """True for an htmx request that swaps part of a page.

    A history-restore request comes from the back button after htmx's cache
    missed, and needs the whole page.
    """
    return bool(request.htmx) and not request.htmx.history_restore_request


def render_view(page, fragment=None, status=200, /, **context):
    """Render `fragment` alone for htmx requests, else the full `page`."""
    template = fragment if fragment and wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    response.headers["Vary"] = "HX-Request"
    return response


MAX_PAGE = 10_000


def page_number():
    """Return the `page` query argument, clamped to 1..MAX_PAGE."""
    return min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)


def toast_header(message, level="info"):
    return json.dumps({"toast": {"message": str(message), "level": level}})


def notify(response, message, level="info"):
    """Show `message` as a toast after an htmx swap, or flash it for a full page."""
    if wants_fragment():
        response.headers["HX-Trigger"] = toast_header(message, level)
    else:
        flash(str(message), level)
    return response


def redirect_to(url, message=None, level="success"):
    """Redirect, as HX-Redirect for htmx requests, with an optional flash."""
    if message:
        flash(str(message), level)
    if request.htmx:
        return make_response("", 204, redirect=url)
    return make_response("", 303, {"Location": url})


def acting_user():
    """Return the logged-in User itself, not flask-login's proxy of it."""
    return current_user._get_current_object()


def audit(action, obj=None, user=None, **detail):
    if user is None and current_user.is_authenticated:
        user = acting_user()
    return AuditLog.append(
        action,
        user=user,
        obj=obj,
        detail=detail,
        ip=request.remote_addr or "",
        request_id=g.get("request_id", ""),
    )
