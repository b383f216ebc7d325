"""Review (verdicts, expert scores, comments), new versions, responsibility and tasks."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from evidence_app.coverage import assignments
from evidence_app.review import operations as review
from storage import AuditLog, CatalogEntry, DocumentReview, Indicator, User, UserAssignment
from tests.conftest import load_module

es = load_module(Path(__file__).with_name("_evidence_set.py"))


@pytest.fixture
def framework_id(make_framework) -> int:
    return make_framework()["framework_id"]


def _user(session, username: str, role: str, display_name: str = "") -> User:
    user = User(
        username=username, display_name=display_name or username, password_hash="x", role=role
    )
    session.add(user)
    session.flush()
    return user


def _entry(session, framework_id: int, code: str) -> CatalogEntry:
    return session.scalars(
        select(CatalogEntry).where(
            CatalogEntry.framework_id == framework_id, CatalogEntry.code == code
        )
    ).first()


def _indicator(session, framework_id: int, code: str, variant: int = 0) -> Indicator:
    return session.scalars(
        select(Indicator).where(
            Indicator.framework_id == framework_id,
            Indicator.code == code,
            Indicator.variant == variant,
        )
    ).one()


def _actions(session) -> list[str]:
    """Audit actions after the framework import."""
    return list(
        session.scalars(
            select(AuditLog.action)
            .where(AuditLog.action.not_like("framework.%"))
            .order_by(AuditLog.id)
        )
    )


def test_document_review_states_and_history(session, runtime, framework_id) -> None:
    expert = _user(session, "expert", "reviewer", "王专家")
    staff = _user(session, "staff1", "staff")
    doc = es.text_document(
        session,
        runtime,
        framework_id,
        "2.3.4-1 明细表.txt",
        es.random_text("r"),
        entry=_entry(session, framework_id, "2.3.4-1"),
    )
    with pytest.raises(review.ReviewPermissionError):
        review.review_document(session, doc, staff, "approved")
    with pytest.raises(review.ReviewError, match="审核状态"):
        review.review_document(session, doc, expert, "ok")
    with pytest.raises(review.ReviewError, match="需要补充什么"):
        review.review_document(session, doc, expert, "needs_more", "  ")
    review.review_document(session, doc, expert, "needs_more", "缺少2022级名单")
    assert doc.review_status == "needs_more"
    review.review_document(session, doc, expert, "approved", "齐全")
    assert doc.review_status == "approved"
    history = review.document_reviews(session, doc)
    assert [(r.status, r.comment, r.version_number) for r in history] == [
        ("approved", "齐全", 1),
        ("needs_more", "缺少2022级名单", 1),
    ]
    # a new version sends it back to 待审, with a row saying why
    review.on_new_version(session, doc, staff)
    assert doc.review_status == "pending"
    assert review.document_reviews(session, doc)[0].status == "pending"
    assert _actions(session) == [
        "document.review",
        "document.review",
        "document.review_reset",
    ]
    log = session.scalars(
        select(AuditLog).where(AuditLog.action == "document.review").order_by(AuditLog.id)
    ).all()
    assert log[0].detail == {
        "status": "needs_more",
        "previous": "pending",
        "version": 1,
        "comment": "缺少2022级名单",
    }
    assert (log[0].username, log[0].object_type, log[0].object_id) == (
        "expert",
        "document",
        doc.id,
    )


def test_expert_scores_are_validated_and_the_newest_counts(session, framework_id) -> None:
    expert = _user(session, "expert", "reviewer")
    other = _user(session, "expert2", "admin")
    auditor = _user(session, "audit", "auditor")
    ind = _indicator(session, framework_id, "2.3.4")  # 1.5 points
    for bad, message in [
        (-1, "负数"),
        (1.6, "不能超过指标分值 1.5 分"),
        ("abc", "须为数字"),
        ("nan", "须为数字"),
        (None, "请填写评分或意见"),
    ]:
        with pytest.raises(review.ReviewError, match=message):
            review.score_indicator(session, ind, expert, bad)
    with pytest.raises(review.ReviewPermissionError):
        review.score_indicator(session, ind, auditor, 1)
    review.score_indicator(session, ind, expert, "1.2", "订单班比例略低")
    review.score_indicator(session, ind, other, 1.5, "复核后给满分")
    current = review.current_indicator_review(session, ind)
    assert (current.expert_score, current.comment, current.reviewer_id) == (
        1.5,
        "复核后给满分",
        other.id,
    )
    review.score_indicator(session, ind, expert, None, "仅意见")
    scores = review.expert_scores(session, framework_id)
    assert scores[ind.id]["expert_score"] is None
    assert scores[ind.id]["comment"] == "仅意见"
    assert [r.expert_score for r in review.indicator_reviews(session, ind)] == [None, 1.5, 1.2]
    assert review.score_indicator(session, ind, expert, 0).expert_score == 0
    assert _actions(session).count("indicator.score") == 4


def test_comments(session, runtime, framework_id) -> None:
    auditor = _user(session, "audit", "auditor")
    ind = _indicator(session, framework_id, "1.1.1")
    doc = es.text_document(session, runtime, framework_id, "x.txt", es.random_text("c"))
    review.add_comment(session, auditor, "编号与目录不一致", document=doc)
    review.add_comment(session, auditor, " 请补充2021年数据 ", indicator=ind)
    with pytest.raises(review.ReviewError):
        review.add_comment(session, auditor, "", indicator=ind)
    with pytest.raises(review.ReviewError):
        review.add_comment(session, auditor, "x", document=doc, indicator=ind)
    assert [c.text for c in review.comments_for(session, indicator=ind)] == ["请补充2021年数据"]
    assert [c.text for c in review.comments_for(session, document=doc)] == ["编号与目录不一致"]
    assert _actions(session) == ["comment.add", "comment.add"]


def test_responsibility_and_my_tasks(session, runtime, framework_id) -> None:
    admin = _user(session, "admin", "admin")
    li = _user(session, "lisi", "staff", "李四")
    zhang = _user(session, "zhang", "staff", "张三")
    # the table named 李四 for 1.2.2; an entry of it is given to 张三
    ind = _indicator(session, framework_id, "1.2.2")
    changes = assignments.set_responsibility(
        session, ind, admin, department="招生办", owner="李四", due_date="2024-05-20"
    )
    assert changes == {
        "department": ["", "招生办"],
        "owner": ["", "李四"],
        "due_date": [None, "2024-05-20"],
    }
    assert assignments.set_responsibility(session, ind, admin, department="招生办") == {}
    e5 = _entry(session, framework_id, "1.2.2-5")
    assignments.set_responsibility(session, e5, admin, owner_user=zhang, due_date=date(2024, 7, 1))
    assert (e5.owner, e5.owner_user_id) == ("张三", zhang.id)
    with pytest.raises(assignments.AssignmentError, match="截止日期格式"):
        assignments.set_responsibility(session, ind, admin, due_date="明天")
    # 李四 is also assigned the level-2 node 4.3 (its subtree: 4.3.1, and the n/a 4.3.1 v1)
    assignments.assign_user(session, li, _indicator(session, framework_id, "4.3"), admin)
    assignments.assign_user(session, li, _indicator(session, framework_id, "4.3"), admin)
    assert session.query(UserAssignment).count() == 1
    # 1.2.2-1 is filled
    es.text_document(
        session,
        runtime,
        framework_id,
        "a.txt",
        es.random_text("t"),
        entry=_entry(session, framework_id, "1.2.2-1"),
    )
    session.flush()
    tasks = assignments.my_tasks(session, li, today=date(2024, 6, 1))
    assert [(t["code"], t["due_date"], t["overdue"], t["days_left"]) for t in tasks] == [
        ("1.2.2-2", "2024-05-20", True, -12),
        ("1.2.2-3", "2024-05-20", True, -12),
        ("1.2.2-4", "2024-05-20", True, -12),
        ("4.3.1", None, False, None),
    ]
    assert tasks[0]["department"] == "招生办"
    assert tasks[0]["link"] == f"/indicators/{ind.id}"
    zt = assignments.my_tasks(session, zhang, today=date(2024, 6, 1))
    assert [(t["code"], t["overdue"], t["days_left"]) for t in zt] == [("1.2.2-5", False, 30)]
    assert assignments.unassign_user(session, li, _indicator(session, framework_id, "4.3"), admin)
    assert [t["code"] for t in assignments.my_tasks(session, li)] == [
        "1.2.2-2",
        "1.2.2-3",
        "1.2.2-4",
    ]
    assert _actions(session) == [
        "indicator.responsibility",
        "entry.responsibility",
        "assignment.add",
        "assignment.remove",
    ]
    depts = {r["department"]: r for r in assignments.department_coverage(session, framework_id)}
    assert {k: depts["招生办"][k] for k in ("entries", "entries_filled", "entries_missing")} == {
        "entries": 5,
        "entries_filled": 1,
        "entries_missing": 4,
    }


def test_review_reset_on_new_version_keeps_pending_quiet(session, runtime, framework_id) -> None:
    doc = es.text_document(session, runtime, framework_id, "x.txt", es.random_text("q"))
    review.on_new_version(session, doc, None)
    assert doc.review_status == "pending"
    assert session.query(DocumentReview).count() == 0  # nothing to reset


def test_new_version_through_the_service(session, runtime, framework_id) -> None:
    from evidence_app.documents.ingest import UploadRejected
    from evidence_app.documents.versions import add_document_version

    expert = _user(session, "expert", "reviewer")
    staff = _user(session, "staff1", "staff")
    doc = es.text_document(
        session,
        runtime,
        framework_id,
        "2.3.4-1 明细表.txt",
        "第一版",
        entry=_entry(session, framework_id, "2.3.4-1"),
    )
    review.review_document(session, doc, expert, "approved")
    with pytest.raises(UploadRejected, match="相同"):
        add_document_version(session, runtime, doc, io.BytesIO("第一版".encode()), "v.txt", staff)
    with pytest.raises(UploadRejected, match="为空"):
        add_document_version(session, runtime, doc, io.BytesIO(b""), "v.txt", staff)
    version = add_document_version(
        session,
        runtime,
        doc,
        io.BytesIO("第二版".encode()),
        "2.3.4-1 明细表v2.txt",
        staff,
    )
    assert version.number == 2
    assert doc.current is version
    assert (doc.status, doc.review_status) == ("pending", "pending")
    assert runtime.blobs.exists(version.blob_sha256)
    assert _actions(session)[-2:] == ["document.new_version", "document.review_reset"]
    # the commit hands it to processing: the new text is extracted and indexed
    third = add_document_version(
        session, runtime, doc, io.BytesIO("第三版：企业订单学生明细".encode()), "v3.txt", staff
    )
    session.commit()
    session.refresh(doc)
    assert (third.number, doc.status, doc.page_count) == (3, "indexed", 1)
    assert "第三版" in doc.pages[0].text
    assert doc.id in runtime.index.doc_ids()
    with pytest.raises(UploadRejected, match="已删除"):
        doc.deleted = True
        add_document_version(session, runtime, doc, io.BytesIO(b"x"), "v.txt", staff)
