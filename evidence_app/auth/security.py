"""Login, CSRF, rate limits, security headers, and the permission decorator."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, g, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from evidence_app.admin import audit
from evidence_app.auth.permissions import can
from evidence_app.web import db_session, keep_changes
from storage import User

login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def init_security(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_error)


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """The user of a login session ("id:generation"); None once the user's sessions were
    ended (logout, password or role change), the user was deactivated, or an expert's
    period ended: checked on every request."""
    user_id, _, generation = session_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit()) or len(user_id) > 18:
        return None
    user = db_session().get(User, int(user_id))
    if user is None or not user.is_active or user.session_generation != int(generation):
        return None
    return user


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static" and (
        acting_user() is not None or request.path.startswith(("/api/", "/documents/"))
    ):
        # nothing a signed-in user sees may stay in a shared or local cache
        response.headers["Cache-Control"] = "no-store"
    return response


def _csrf_error(e: CSRFError) -> Any:
    if wants_json():
        return jsonify({"error": "CSRF 校验失败，请刷新页面后重试"}), 400
    return render_template(
        "errors/error.html",
        code=400,
        message="表单已过期或来源无效（CSRF 校验失败），请刷新页面后重试。",
    ), 400


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def acting_user() -> User | None:
    """The API token's user or the logged-in user."""
    if g.get("api_only"):
        return g.get("api_user")
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def signed_in_user() -> User:
    """The acting user inside a route guarded by :func:`require`, which refuses anonymous calls."""
    user = acting_user()
    assert user is not None, "only for routes guarded by require()"
    return user


def forbid(permission: str) -> None:
    """Record the refusal in the audit trail and answer 403 (never data)."""
    user = acting_user()
    session = db_session()
    session.rollback()
    audit.record(
        session,
        user,
        "access.denied",
        None,
        permission=permission,
        path=request.path,
        method=request.method,
    )
    keep_changes()
    abort(403)


def require(permission: str) -> Callable:
    """Route decorator: the user must be logged in (or hold a token) and have ``permission``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = acting_user()
            if user is None:
                if wants_json():
                    return jsonify({"error": "未登录或令牌无效"}), 401
                return login_manager.unauthorized()
            if not can(user, permission):
                forbid(permission)
            return view(*args, **kwargs)

        wrapped.permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator
