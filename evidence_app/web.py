"""Request-scoped database sessions and the health endpoint."""

from __future__ import annotations

from flask import Flask, g, jsonify
from sqlalchemy import text
from sqlalchemy.orm import Session


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


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_session)

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        try:
            db_session().execute(text("SELECT 1"))
        except Exception as e:  # report, do not crash
            return jsonify({"status": "error", "database": str(e.__class__.__name__)}), 503
        return jsonify({"status": "ok"})
