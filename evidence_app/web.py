"""The request's unit of work, access logging and the health endpoint."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from evidence_app import uow

access_log = logging.getLogger("evidence_app.access")


def db_session() -> Session:
    """The request's session: committed once when the request succeeds, closed at teardown."""
    if "db" not in g:
        g.db = current_app.extensions["evidence"].session()
    return g.db


def keep_changes() -> None:
    """Commit this request's changes even though it answers with an error (an audit record
    of a refused access or a failed login must stay)."""
    g.keep_changes = True


def _end_unit_of_work(response: Response) -> Response:
    """Commit what the request did if it succeeded; roll back if it answered an error."""
    session: Session | None = g.get("db")
    if session is not None:
        if response.status_code < 400 or g.get("keep_changes"):
            uow.commit(session)
        else:
            session.rollback()
    return response


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()  # an exception that escaped the view: rolled back here


def _start_timer() -> None:
    g.started = time.perf_counter()


def _log_request(response: Response) -> Response:
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


def exception_headers(e: HTTPException) -> list[tuple[str, str]]:
    """The headers an HTTP error carries besides its body's type (``Allow`` on a 405)."""
    return [(k, v) for k, v in e.get_headers() if k.lower() != "content-type"]


#: the largest id a database column holds: ids are INTEGER columns, and PostgreSQL refuses a
#: larger number in a comparison with one ("integer out of range", a 500); larger numbers
#: name nothing
MAX_ID = 2**31 - 1


def _decimal_at_most(limit: int) -> str:
    """A regular expression for the decimal numbers from 0 to ``limit`` (leading zeros
    allowed, as ``int()`` reads them): shorter numbers, or the same length with a smaller
    digit after a common prefix, or ``limit`` itself."""
    digits = str(limit)
    choices = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            choices.append(rf"{digits[:i]}[0-{int(digit) - 1}]\d{{{len(digits) - i - 1}}}")
    choices.append(digits)
    return "0*(?:" + "|".join(choices) + ")"


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a number beyond any database id does not match (404)
    instead of overflowing the database driver (500). The pattern itself stops at MAX_ID:
    Werkzeug picks a rule by pattern and method before it converts the value, so a number
    refused only on conversion answered 405 where another method shares the path
    (``DELETE /api/v1/documents/<huge>`` offered GET)."""

    regex = _decimal_at_most(MAX_ID)
    part_isolating = True

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.teardown_appcontext(_close_session)
    app.before_request(_start_timer)
    app.after_request(_log_request)
    app.after_request(_end_unit_of_work)  # after_request runs last-registered first

    @app.get("/healthz")
    def healthz() -> tuple[Response, int] | Response:
        try:
            db_session().execute(text("SELECT 1"))
        except Exception as e:  # report, do not crash
            return jsonify({"status": "error", "database": str(e.__class__.__name__)}), 503
        return jsonify({"status": "ok"})
