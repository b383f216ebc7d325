"""Request-scoped database sessions and the health endpoint."""

from __future__ import annotations

import logging
import time

from flask import Flask, g, jsonify, request
from sqlalchemy import text
from sqlalchemy.orm import Session

access_log = logging.getLogger("evidence_app.access")


def db_session() -> Session:
    """The request's session; committed by the view, closed at teardown."""
    if "db" not in g:
        from evidence_app import get_runtime

        g.db = get_runtime().session()
    return g.db


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def _start_timer() -> None:
    g.started = time.perf_counter()


def _log_request(response):  # noqa: ANN001, ANN202
    started = g.get("started")
    if started is not None and request.endpoint != "static":
        user = g.get("api_user") or getattr(g, "_login_user", None)
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "user": getattr(user, "username", None),
                "remote": request.remote_addr,
            },
        )
    return response


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_session)
    app.before_request(_start_timer)
    app.after_request(_log_request)

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        try:
            db_session().execute(text("SELECT 1"))
        except Exception as e:  # report, do not crash
            return jsonify({"status": "error", "database": str(e.__class__.__name__)}), 503
        return jsonify({"status": "ok"})
