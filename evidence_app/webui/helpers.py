"""Small helpers shared by the views."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, request

from evidence_app.web import MAX_ID, db_session

T = TypeVar("T")


def get_or_404(model: type[T], ident: Any) -> T:
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < ident <= MAX_ID:
        abort(404)
    obj = db_session().get(model, ident)
    if obj is None:
        abort(404)
    return obj


def int_arg(name: str, default: int | None = None, *, minimum: int | None = None) -> int | None:
    value = request.values.get(name, "")
    try:
        number = int(value[:30])  # no digits beyond what any id or count can have
    except ValueError:
        return default
    if (minimum is not None and number < minimum) or abs(number) > MAX_ID:
        return default
    return number


def local_target(value: str | None, fallback: str) -> str:
    """``value`` when it is a path on this site, else ``fallback``: redirects never leave the
    site (no scheme, no host, no ``//host`` or ``/\\host`` that browsers read as a host)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return fallback
    return value
