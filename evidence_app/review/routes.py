"""Expert review in the pages: verdicts and comments on documents, expert scores, comments
and responsibility on indicators. Every form posts here and is sent back to its page.

Responsibility (department, person, due date) is set by admins (permission ``users``): it
decides whose task list an entry lands on, which is managing people, not judging evidence.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from sqlalchemy import select

from evidence_app.auth.permissions import can, can_read_document
from evidence_app.auth.security import acting_user, forbid, require
from evidence_app.coverage import assignments
from evidence_app.review import operations as review_service
from evidence_app.web import db_session
from evidence_app.webui.helpers import get_or_404
from storage import Document, Indicator, User

bp = Blueprint("review", __name__, url_prefix="/review")

REVIEW_LABELS = review_service.REVIEW_LABELS


def _document(document_id: int) -> Document:
    document = get_or_404(Document, document_id)
    if not can_read_document(db_session(), acting_user(), document):
        forbid("read_document")
    return document


def _back_to_document(document: Document) -> Any:
    return redirect(url_for("documents.detail", document_id=document.id, _anchor="review"))


def _back_to_indicator(indicator: Indicator, anchor: str = "review") -> Any:
    return redirect(url_for("main.indicator", indicator_id=indicator.id, _anchor=anchor))


@bp.post("/documents/<int:document_id>")
@require("review")
def document(document_id: int):
    """Set a document's review state (待审 / 通过 / 需补充) with a comment."""
    session = db_session()
    doc = _document(document_id)
    status = request.form.get("status", "")
    try:
        review_service.review_document(
            session, doc, acting_user(), status, request.form.get("comment", "")
        )
    except (review_service.ReviewError, review_service.ReviewPermissionError) as e:
        session.rollback()
        flash(str(e), "error")
        return _back_to_document(doc)
    flash(f"已将审核状态设为“{REVIEW_LABELS[status]}”。", "success")
    return _back_to_document(doc)


@bp.post("/documents/<int:document_id>/comments")
@require("comment")
def document_comment(document_id: int):
    session = db_session()
    doc = _document(document_id)
    try:
        review_service.add_comment(
            session, acting_user(), request.form.get("text", ""), document=doc
        )
    except (review_service.ReviewError, review_service.ReviewPermissionError) as e:
        session.rollback()
        flash(str(e), "error")
        return _back_to_document(doc)
    flash("已发表意见。", "success")
    return _back_to_document(doc)


@bp.post("/indicators/<int:indicator_id>")
@require("review")
def indicator(indicator_id: int):
    """Record an expert score (0..max_points) and a comment for an indicator."""
    session = db_session()
    node = get_or_404(Indicator, indicator_id)
    raw = request.form.get("score", "").strip()
    if node.children:
        flash("专家评分给到末级指标（如三级指标），本指标的分数由下级指标汇总。", "error")
        return _back_to_indicator(node)
    if not raw:
        # a review without a score would replace the standing score (the newest counts);
        # remarks without a score go to the comments
        limit = f"（0–{node.max_points:g} 分）" if node.max_points is not None else ""
        flash(f"请填写专家评分{limit}；只写意见请用“意见”一栏。", "error")
        return _back_to_indicator(node)
    try:
        result = review_service.score_indicator(
            session, node, acting_user(), raw, request.form.get("comment", "")
        )
    except (review_service.ReviewError, review_service.ReviewPermissionError) as e:
        session.rollback()
        flash(str(e), "error")
        return _back_to_indicator(node)
    flash(f"已保存专家评分 {result.expert_score:g} 分。", "success")
    return _back_to_indicator(node)


@bp.post("/indicators/<int:indicator_id>/comments")
@require("comment")
def indicator_comment(indicator_id: int):
    session = db_session()
    node = get_or_404(Indicator, indicator_id)
    try:
        review_service.add_comment(
            session, acting_user(), request.form.get("text", ""), indicator=node
        )
    except (review_service.ReviewError, review_service.ReviewPermissionError) as e:
        session.rollback()
        flash(str(e), "error")
        return _back_to_indicator(node, "comments")
    flash("已发表意见。", "success")
    return _back_to_indicator(node, "comments")


@bp.post("/indicators/<int:indicator_id>/responsibility")
@require("users")
def responsibility(indicator_id: int):
    """Set the indicator's department, responsible person and due date."""
    session = db_session()
    node = get_or_404(Indicator, indicator_id)
    form = request.form
    raw_user = form.get("owner_user_id", "").strip()
    kwargs: dict[str, Any] = {
        "department": form.get("department", ""),
        "due_date": form.get("due_date", ""),
    }
    if raw_user:
        try:
            kwargs["owner_user"] = int(raw_user)
        except ValueError:
            flash("责任人选择无效。", "error")
            return _back_to_indicator(node, "responsibility")
    else:
        kwargs["owner_user"] = None
        kwargs["owner"] = form.get("owner", "")
    try:
        changes = assignments.set_responsibility(session, node, acting_user(), **kwargs)
    except assignments.AssignmentError as e:
        session.rollback()
        flash(str(e), "error")
        return _back_to_indicator(node, "responsibility")
    if not changes:
        flash("责任信息没有变化。", "info")
    else:
        parts = [
            f"部门：{node.department or '未指定'}",
            f"责任人：{node.owner or '未指定'}",
            f"截止日期：{node.due_date.isoformat() if node.due_date else '未定'}",
        ]
        flash("已保存责任信息（" + "，".join(parts) + "）。", "success")
    return _back_to_indicator(node, "responsibility")


# -- what the page sections show ------------------------------------------------------------


@bp.app_template_global()
def document_review_panel(doc: Document) -> dict[str, Any]:
    """The review history and the comments of a document (templates/documents/_review.html)."""
    session = db_session()
    return {
        "history": review_service.document_reviews(session, doc),
        "comments": review_service.comments_for(session, document=doc),
    }


@bp.app_template_global()
def indicator_review_panel(node: Indicator) -> dict[str, Any]:
    """The newest expert score, earlier ones, comments and (for admins) the people to choose
    as responsible (templates/review/_indicator.html)."""
    session = db_session()
    reviews = review_service.indicator_reviews(session, node)
    panel: dict[str, Any] = {
        # the newest review counts (as in the coverage page and the workbook)
        "current": reviews[0] if reviews else None,
        "reviews": reviews,
        "comments": review_service.comments_for(session, indicator=node),
        "people": [],
    }
    if can(acting_user(), "users"):
        panel["people"] = list(
            session.scalars(
                select(User)
                .where(User.active.is_(True), User.role.in_(("staff", "admin")))
                .order_by(User.role.desc(), User.username)
            )
        )
    return panel
