"""Login and logout; failed logins are throttled and audited."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user

from evidence_app.admin import audit
from evidence_app.auth.security import limiter
from evidence_app.auth.users import authenticate, end_sessions, get_user_by_name
from evidence_app.web import db_session, keep_changes
from evidence_app.webui.helpers import local_target

bp = Blueprint("auth", __name__)


def _login_key() -> str:
    return f"{request.remote_addr}|{request.form.get('username', '').strip().lower()}"


def _account_key() -> str:
    return request.form.get("username", "").strip().lower()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    "10 per minute",
    key_func=_login_key,
    methods=["POST"],
    error_message="登录失败次数过多，请一分钟后再试。",
)
@limiter.limit(  # one client trying many accounts
    "30 per minute",
    key_func=get_remote_address,
    methods=["POST"],
    error_message="此地址登录尝试过多，请一分钟后再试。",
)
@limiter.limit(  # many clients trying one account
    "30 per minute",
    key_func=_account_key,
    methods=["POST"],
    error_message="该账号登录尝试过多，请一分钟后再试。",
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    if request.method == "POST":
        session = db_session()
        username = request.form.get("username", "").strip()
        user = authenticate(session, username, request.form.get("password", ""))
        if user is None:
            audit.record(
                session,
                get_user_by_name(session, username),
                "login.failed",
                None,
                username=username[:80],
            )
            flash("用户名或密码错误。", "error")
            keep_changes()  # the failed attempt stays in the audit trail
            return render_template("auth/login.html", username=username), 401
        login_user(user, remember=bool(request.form.get("remember")))
        audit.record(session, user, "login", user)
        return redirect(local_target(request.args.get("next"), url_for("main.index")))
    return render_template("auth/login.html", username="")


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        session = db_session()
        user = current_user._get_current_object()
        audit.record(session, user, "logout", None)
        end_sessions(session, user, user, "logout")  # a copied cookie dies with this one
    logout_user()
    return redirect(url_for("auth.login"))
