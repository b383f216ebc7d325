"""Template filters and globals: labels, sizes, dates, permissions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from flask import Flask, url_for
from markupsafe import Markup, escape

from evidence_app.auth.permissions import ROLE_LABELS, can
from evidence_app.auth.security import acting_user
from evidence_app.coverage.operations import STATE_LABELS as COVERAGE_STATE_LABELS
from evidence_app.documents.status import REVIEW_LABELS, STATUS_LABELS
from storage import User

BEIJING = timezone(timedelta(hours=8), "北京时间")

# one vocabulary for coverage states on every page (coverage.operations owns the words)
STATE_LABELS = {**COVERAGE_STATE_LABELS, "na": COVERAGE_STATE_LABELS["not_applicable"]}


def filesize(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def localtime(value: datetime | None) -> str:
    """A stored time (UTC) as the college reads it: Beijing time (the footer says so)."""
    return beijing(value)


def beijing(value: datetime | str | None) -> str:
    """A stored time (UTC, naive, or an ISO string with its offset) in Beijing time."""
    if not value:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def points(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def highlight(text: str, terms: list[str]) -> Markup:
    """HTML-escaped text with each term wrapped in <mark> (longest terms first)."""
    escaped = str(escape(text or ""))
    words = sorted({str(escape(t)) for t in terms if t and t.strip()}, key=len, reverse=True)
    if not words:
        return Markup(escaped)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    return Markup(pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped))


def indicator_url(user: User | None, indicator_id: int) -> str:
    """Where an indicator opens for this user: experts in their 网评 screen, staff in the tree."""
    if user is not None and user.role == "expert":
        return url_for("expert_review.indicator", indicator_id=indicator_id)
    return url_for("main.indicator", indicator_id=indicator_id)


def register(app: Flask) -> None:
    app.add_template_filter(highlight)
    app.add_template_filter(filesize)
    app.add_template_filter(localtime)
    app.add_template_filter(beijing)
    app.add_template_filter(points)

    @app.context_processor
    def inject():
        user = acting_user()
        return {
            "me": user,
            "can": lambda permission: can(user, permission),
            "status_labels": STATUS_LABELS,
            "review_labels": REVIEW_LABELS,
            "state_labels": STATE_LABELS,
            "role_labels": ROLE_LABELS,
            "url_rules": app.view_functions,
            "indicator_url": lambda indicator_id: indicator_url(user, indicator_id),
        }
