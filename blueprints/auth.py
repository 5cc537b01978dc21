"""Login and logout."""

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from htmx_flask import make_response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from blueprints.common import audit
from db.accounts import User, spend_password_check
from db.base import utcnow
from extensions import limiter, login_manager

bp = Blueprint("auth", __name__)
security_log = logging.getLogger("tuanyuan.security")


class LoginForm(FlaskForm):
    username = StringField(
        _l("用户名"), validators=[DataRequired(_l("请输入用户名")), Length(max=50)]
    )
    password = PasswordField(
        _l("密码"), validators=[DataRequired(_l("请输入密码")), Length(max=200)]
    )


@login_manager.user_loader
def load_user(session_id):
    return User.from_session_id(session_id)


@login_manager.unauthorized_handler
def unauthorized():
    """Send the user to the login page, also when the session ran out mid-htmx.

    An htmx request gets HX-Redirect, so the browser leaves the page instead
    of swapping a login form into a fragment.
    """
    if request.htmx:
        current = urlsplit(request.htmx.current_url or "")
        target = current.path + (f"?{current.query}" if current.query else "")
        return make_response("", 401, redirect=url_for("auth.login", next=target))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def safe_next(target):
    """Return `target` if it is a path inside this app, else the home page."""
    home = url_for("main.index")
    if not target or "\\" in target or any(ord(ch) < 32 for ch in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return home
    if target.startswith("//"):
        return home
    return target


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _failed(response):
    # Only failed attempts count, so colleagues behind one proxy address do
    # not use up each other's logins.
    return response.status_code != 302


def _username_key():
    return "login-user:" + request.form.get("username", "").strip().lower()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(
    _login_limit, methods=["POST"], key_func=_username_key, deduct_when=_failed
)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = _authenticate(form.username.data.strip(), form.password.data)
        if user:
            return _start_session(user)
        form.password.errors.append(_l("用户名或密码不正确"))
    return render_template("auth/login.html", form=form)


def _authenticate(username, password):
    user = User.get_or_none(User.username == username)
    if user is None or not user.is_active_account:
        spend_password_check(password)
        security_log.warning("failed login for unknown or disabled account")
        audit("login_failed", attempted=username[:50])
        return None
    if not user.check_password(password):
        security_log.warning("failed login for user id %s", user.id)
        audit("login_failed", user=user)
        return None
    return user


def _start_session(user):
    # A fresh session at login, so a session id planted before login is useless.
    session.clear()
    login_user(user)
    session.permanent = True
    user.last_login_at = utcnow()
    user.save(only=[User.last_login_at])
    security_log.info("login of user id %s", user.id)
    audit("login", user=user)
    return redirect(safe_next(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    audit("logout")
    current_user.end_sessions()
    logout_user()
    session.clear()
    flash(str(_l("您已安全退出。")), "success")
    return redirect(url_for("auth.login"))
