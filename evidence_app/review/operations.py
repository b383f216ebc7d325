"""Expert review: verdicts on documents (待审/通过/需补充), expert scores per indicator, comments.

Every change is a new row (the history is kept) plus an audit entry; the newest
IndicatorReview of an indicator is the one that counts. A new version of a document sends it
back to 待审 (``on_new_version``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.documents.status import REVIEW_LABELS
from storage import (
    REVIEW_STATUSES,
    Comment,
    Document,
    DocumentReview,
    Indicator,
    IndicatorReview,
    ReviewStatus,
    User,
)

REVIEWER_ROLES = ("reviewer", "admin")
COMMENTER_ROLES = ("reviewer", "admin", "staff", "auditor")
MAX_COMMENT = 5000


class ReviewError(ValueError):
    """Invalid review input; the message (Chinese) is for the person who entered it."""


class ReviewPermissionError(PermissionError):
    """The user's role may not do this."""


def _require(user: User | None, roles: tuple[str, ...], what: str) -> None:
    if user is not None and user.role not in roles:
        raise ReviewPermissionError(f"当前角色不能{what}")


def _clean_comment(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT:
        raise ReviewError(f"意见不能超过 {MAX_COMMENT} 字")
    return text


def _version_number(document: Document) -> int:
    current = document.current
    return current.number if current else 1


def review_document(
    session: Session, document: Document, user: User | None, status: str, comment: str = ""
) -> DocumentReview:
    """Set a document's review state (pending / approved / needs_more) with a comment.

    需补充 needs a comment saying what is missing."""
    _require(user, REVIEWER_ROLES, "审核材料")
    if status not in REVIEW_STATUSES:
        labels = "、".join(f"{k}（{v}）" for k, v in REVIEW_LABELS.items())
        raise ReviewError(f"审核状态必须是 {labels} 之一")
    comment = _clean_comment(comment)
    if status == "needs_more" and not comment:
        raise ReviewError("“需补充”须写明需要补充什么")
    if document.deleted:
        raise ReviewError("文件已删除，不能审核")
    previous = document.review_status
    review = DocumentReview(
        document_id=document.id,
        version_number=_version_number(document),
        reviewer_id=user.id if user else None,
        status=status,
        comment=comment,
    )
    session.add(review)
    document.review_status = status
    session.flush()
    audit.record(
        session,
        user,
        "document.review",
        document,
        status=status,
        previous=previous,
        version=review.version_number,
        comment=comment,
    )
    return review


def on_new_version(session: Session, document: Document, user: User | None) -> None:
    """A new version was uploaded: the earlier verdict no longer applies, back to 待审."""
    previous = document.review_status
    document.review_status = ReviewStatus.PENDING
    if previous != ReviewStatus.PENDING:
        session.add(
            DocumentReview(
                document_id=document.id,
                version_number=_version_number(document),
                reviewer_id=user.id if user else None,
                status=ReviewStatus.PENDING,
                comment="上传了新版本，需重新审核",
            )
        )
    session.flush()
    audit.record(
        session,
        user,
        "document.review_reset",
        document,
        previous=previous,
        version=_version_number(document),
    )


def document_reviews(session: Session, document: Document) -> list[DocumentReview]:
    """The review history of a document, newest first."""
    return list(
        session.scalars(
            select(DocumentReview)
            .where(DocumentReview.document_id == document.id)
            .order_by(DocumentReview.created_at.desc(), DocumentReview.id.desc())
        )
    )


def score_indicator(
    session: Session,
    indicator: Indicator,
    user: User | None,
    score: float | str | None,
    comment: str = "",
) -> IndicatorReview:
    """Record an expert score (0..max_points, or None for a comment only) and a comment."""
    _require(user, REVIEWER_ROLES, "给指标评分")
    comment = _clean_comment(comment)
    value: float | None
    if score is None or (isinstance(score, str) and not score.strip()):
        value = None
    else:
        try:
            value = float(score)
        except (TypeError, ValueError) as e:
            raise ReviewError("专家评分须为数字") from e
        if value != value or value in (float("inf"), float("-inf")):
            raise ReviewError("专家评分须为数字")
        if value < 0:
            raise ReviewError("专家评分不能为负数")
        if indicator.max_points is not None and value > indicator.max_points + 1e-9:
            raise ReviewError(
                f"专家评分不能超过指标分值 {indicator.max_points:g} 分（{indicator.code}）"
            )
        value = round(value, 2)
    if value is None and not comment:
        raise ReviewError("请填写评分或意见")
    review = IndicatorReview(
        indicator_id=indicator.id,
        reviewer_id=user.id if user else None,
        expert_score=value,
        comment=comment,
    )
    session.add(review)
    session.flush()
    audit.record(
        session,
        user,
        "indicator.score",
        indicator,
        code=indicator.code,
        expert_score=value,
        self_score=indicator.self_score,
        comment=comment,
    )
    return review


def current_indicator_review(session: Session, indicator: Indicator) -> IndicatorReview | None:
    """The newest expert review of an indicator (the one that counts)."""
    return session.scalars(
        select(IndicatorReview)
        .where(IndicatorReview.indicator_id == indicator.id)
        .order_by(IndicatorReview.created_at.desc(), IndicatorReview.id.desc())
        .limit(1)
    ).first()


def indicator_reviews(session: Session, indicator: Indicator) -> list[IndicatorReview]:
    return list(
        session.scalars(
            select(IndicatorReview)
            .where(IndicatorReview.indicator_id == indicator.id)
            .order_by(IndicatorReview.created_at.desc(), IndicatorReview.id.desc())
        )
    )


def expert_scores(session: Session, framework_id: int) -> dict[int, dict[str, Any]]:
    """indicator id -> the newest expert score and comment, for a whole framework (one query)."""
    out: dict[int, dict[str, Any]] = {}
    rows = session.execute(
        select(
            IndicatorReview.indicator_id,
            IndicatorReview.expert_score,
            IndicatorReview.comment,
            IndicatorReview.reviewer_id,
            IndicatorReview.created_at,
        )
        .join(Indicator, Indicator.id == IndicatorReview.indicator_id)
        .where(Indicator.framework_id == framework_id)
        .order_by(IndicatorReview.created_at.desc(), IndicatorReview.id.desc())
    )
    for indicator_id, score, comment, reviewer_id, at in rows:
        out.setdefault(
            indicator_id,
            {"expert_score": score, "comment": comment, "reviewer_id": reviewer_id, "at": at},
        )
    return out


def add_comment(
    session: Session,
    user: User | None,
    text: str,
    *,
    document: Document | None = None,
    indicator: Indicator | None = None,
) -> Comment:
    """A remark on a document or an indicator (exactly one of them)."""
    _require(user, COMMENTER_ROLES, "发表意见")
    if (document is None) == (indicator is None):
        raise ReviewError("意见须针对一个文件或一个指标")
    text = _clean_comment(text)
    if not text:
        raise ReviewError("意见不能为空")
    comment = Comment(
        document_id=document.id if document else None,
        indicator_id=indicator.id if indicator else None,
        user_id=user.id if user else None,
        text=text,
    )
    session.add(comment)
    session.flush()
    audit.record(
        session,
        user,
        "comment.add",
        document or indicator,
        comment_id=comment.id,
        text=text,
    )
    return comment


def comments_for(
    session: Session, *, document: Document | None = None, indicator: Indicator | None = None
) -> list[Comment]:
    """Comments on a document or an indicator, oldest first."""
    stmt = select(Comment).order_by(Comment.created_at, Comment.id)
    if document is not None:
        stmt = stmt.where(Comment.document_id == document.id)
    elif indicator is not None:
        stmt = stmt.where(Comment.indicator_id == indicator.id)
    else:
        raise ReviewError("意见须针对一个文件或一个指标")
    return list(session.scalars(stmt))
