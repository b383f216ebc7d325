"""网评 marks: outside experts mark the indicators they review, the group lead merges them.

For each indicator an expert sets one mark (kept up to date, every change audited):

* ``ok`` 句号（。）认可 — the evidence supports the claim;
* ``more`` 破折号（——）调阅 — more material is needed: the request text (what to send) is
  required and opens a 调阅 request (``requests``), unless the expert already has an open
  one with the same text there;
* ``question`` 问号（？）入校核查 — to check during the visit: the comment *is* the question
  (required), and it goes to the 入校问题清单;

plus a comment and a score (0 to the indicator's points, or none). Setting ``ok`` or
``question`` closes the expert's open and answered requests on the indicator; a new
``more`` closes the answered ones (the expert has looked at the answer and asks again).

Experts mark leaf indicators (level 3 in every framework seen: where evidence and scores
attach) inside their scope, except an alternative row that does not apply (公办/民办 rows
sharing a code, the one without a self-score), as the coverage figures count them.

The lead (``is_lead``) sees every expert's marks side by side, whether they agree and the
average score, and writes the group's mark (a ``final`` row: for ``more`` and ``question``
the comment says what to send or to check).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.auth.permissions import can, scoped_indicator_ids
from evidence_app.review.requests import (
    MAX_REQUEST,
    close_requests,
    iso,
    open_request,
    person,
)
from storage import MARKS, ExpertMark, Framework, Indicator, MaterialRequest, User

MARK_SYMBOLS = {"ok": "。", "more": "——", "question": "？"}
MARK_NAMES = {"ok": "句号", "more": "破折号", "question": "问号"}
MARK_LABELS = {"ok": "认可", "more": "调阅", "question": "入校核查"}
MAX_COMMENT = 5000


class MarkError(ValueError):
    """Invalid input (HTTP 400); the message (Chinese) is for the person who entered it."""


class MarkForbidden(PermissionError):
    """Not an expert, not the lead, or an indicator outside the expert's scope (HTTP 403)."""


class MarkNotFound(LookupError):
    """No such framework or indicator, or another framework than the expert's (HTTP 404)."""


def mark_text(mark: str | None) -> str:
    """“。 句号（认可）” for pages and workbooks."""
    if mark not in MARK_SYMBOLS:
        return ""
    return f"{MARK_SYMBOLS[mark]} {MARK_NAMES[mark]}（{MARK_LABELS[mark]}）"


# -- which indicators ---------------------------------------------------------------------------


def markable_indicators(
    session: Session, framework_id: int, scope: set[int] | None = None
) -> list[Indicator]:
    """The framework's leaf indicators that apply (within ``scope``), in table order."""
    parents = select(Indicator.parent_id).where(
        Indicator.framework_id == framework_id, Indicator.parent_id.is_not(None)
    )
    rows = list(
        session.scalars(
            select(Indicator)
            .where(Indicator.framework_id == framework_id, Indicator.id.not_in(parents))
            .order_by(Indicator.position, Indicator.id)
        )
    )
    shared = _shared_codes(session, framework_id)
    out = [r for r in rows if _applies(r, shared)]
    return out if scope is None else [r for r in out if r.id in scope]


def _shared_codes(session: Session, framework_id: int) -> set[str]:
    codes: dict[str, int] = defaultdict(int)
    for code in session.scalars(
        select(Indicator.code).where(Indicator.framework_id == framework_id)
    ):
        codes[code] += 1
    return {c for c, n in codes.items() if n > 1}


def _applies(indicator: Indicator, shared: set[str]) -> bool:
    alternative = indicator.variant > 0 or indicator.code in shared
    return not (alternative and indicator.self_score is None)


def is_markable(session: Session, indicator: Indicator) -> bool:
    if indicator.children:
        return False
    return _applies(indicator, _shared_codes(session, indicator.framework_id))


def expert_scope(session: Session, expert: User) -> set[int]:
    """Indicator ids the expert may mark (their framework, their indicators)."""
    return scoped_indicator_ids(session, expert) or set()


def check_expert(expert: User | None, *, lead: bool = False) -> User:
    if expert is None or not can(expert, "mark"):
        raise MarkForbidden("只有评估专家可以给指标打标记")
    if lead and not expert.is_lead:
        raise MarkForbidden("只有专家组组长可以写定稿意见")
    return expert


def framework_for(session: Session, user: User, framework_id: int) -> Framework:
    """The framework, when it exists and the user may see it: an expert only their own
    (another one is "not found", as if it did not exist)."""
    framework = session.get(Framework, framework_id)
    if framework is None or (user.role == "expert" and user.expert_framework_id != framework_id):
        raise MarkNotFound(f"指标体系 {framework_id} 不存在")
    return framework


def indicator_by_code(session: Session, user: User, framework_id: int, code: str) -> Indicator:
    """The indicator the API names by code. Alternatives sharing a code (公办/民办): the one
    in the user's scope that applies (has a self-score), else the first."""
    framework_for(session, user, framework_id)
    rows = list(
        session.scalars(
            select(Indicator)
            .where(Indicator.framework_id == framework_id, Indicator.code == code)
            .order_by(Indicator.variant)
        )
    )
    if not rows:
        raise MarkNotFound(f"指标体系中没有指标 {code}")
    scope = scoped_indicator_ids(session, user)
    rows.sort(key=lambda i: (scope is not None and i.id not in scope, i.self_score is None))
    return rows[0]


def check_markable(session: Session, expert: User, indicator: Indicator) -> None:
    """The indicator is in the expert's framework (else not found) and scope (else 403), and
    is one that experts mark (else 400)."""
    if indicator.framework_id != expert.expert_framework_id:
        raise MarkNotFound("指标不存在")
    if indicator.id not in expert_scope(session, expert):
        raise MarkForbidden(f"指标 {indicator.code} 不在您的评审范围内")
    if not is_markable(session, indicator):
        if indicator.children:
            raise MarkError(f"请给末级指标打标记：{indicator.code} 的分数由下级指标汇总")
        raise MarkError(f"指标 {indicator.code} 是不适用的二选一指标（无自评得分），无需评审")


# -- input -------------------------------------------------------------------------------------


def clean_mark(value: Any) -> str:
    if value not in MARKS:
        choices = "、".join(
            f"{k}（{MARK_SYMBOLS[k]} {MARK_NAMES[k]}，{MARK_LABELS[k]}）" for k in MARKS
        )
        raise MarkError(f"标记必须是 {choices} 之一")
    return str(value)


def clean_text(value: Any, what: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MarkError(f"{what}须为文字")
    text = value.strip()
    if len(text) > limit:
        raise MarkError(f"{what}不能超过 {limit} 字")
    return text


def clean_score(value: Any, indicator: Indicator) -> float | None:
    """None, or a number from 0 to the indicator's points, rounded to 0.01."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise MarkError("评分须为数字")
    try:
        score = float(value)
    except (TypeError, ValueError) as e:
        raise MarkError("评分须为数字") from e
    if not math.isfinite(score):
        raise MarkError("评分须为数字")
    if score < 0:
        raise MarkError("评分不能为负数")
    if indicator.max_points is not None and score > indicator.max_points + 1e-9:
        raise MarkError(f"评分不能超过指标分值 {indicator.max_points:g} 分（{indicator.code}）")
    return round(score, 2)


# -- setting marks -----------------------------------------------------------------------------


@dataclass
class MarkChange:
    """What a mark did: the mark, the request it opened or kept open, requests it closed."""

    mark: ExpertMark
    request: MaterialRequest | None = None
    request_created: bool = False
    closed: list[MaterialRequest] = field(default_factory=list)


def set_mark(
    session: Session,
    expert: User | None,
    indicator: Indicator,
    mark: Any,
    comment: Any = "",
    score: Any = None,
    request_text: Any = "",
) -> MarkChange:
    """Set the expert's mark on the indicator (see the module's docstring); flushes."""
    expert = check_expert(expert)
    check_markable(session, expert, indicator)
    mark = clean_mark(mark)
    comment = clean_text(comment, "意见", MAX_COMMENT)
    value = clean_score(score, indicator)
    text = clean_text(request_text, "调阅内容", MAX_REQUEST) if mark == "more" else ""
    if mark == "more" and not text:
        raise MarkError("破折号（调阅）须写明需要调阅的材料")
    if mark == "question" and not comment:
        raise MarkError("问号（入校核查）须在意见中写明入校时要核查的问题")
    row, previous = _upsert(session, expert, indicator, False, mark, comment, value)
    session.flush()
    change = MarkChange(row)
    if mark == "more":
        change.request, change.request_created = open_request(session, expert, indicator, text)
        change.closed = close_requests(session, expert, indicator, ("answered",), change.request)
    else:
        change.closed = close_requests(session, expert, indicator, ("open", "answered"))
    audit.record(
        session,
        expert,
        "mark.set",
        indicator,
        code=indicator.code,
        mark=mark,
        comment=comment,
        score=value,
        request=change.request.id if change.request else None,
        closed=[r.id for r in change.closed],
        previous=previous,
    )
    return change


def set_final_mark(
    session: Session,
    lead: User | None,
    indicator: Indicator,
    mark: Any,
    comment: Any = "",
    score: Any = None,
) -> ExpertMark:
    """The lead's merged mark for the group (``final``); flushes."""
    lead = check_expert(lead, lead=True)
    check_markable(session, lead, indicator)
    mark = clean_mark(mark)
    comment = clean_text(comment, "意见", MAX_COMMENT)
    value = clean_score(score, indicator)
    if mark == "more" and not comment:
        raise MarkError("定稿为破折号（调阅）时，须在意见中写明需要调阅的材料")
    if mark == "question" and not comment:
        raise MarkError("定稿为问号（入校核查）时，须在意见中写明入校时要核查的问题")
    row, previous = _upsert(session, lead, indicator, True, mark, comment, value)
    session.flush()
    audit.record(
        session,
        lead,
        "mark.final",
        indicator,
        code=indicator.code,
        mark=mark,
        comment=comment,
        score=value,
        previous=previous,
    )
    return row


def _upsert(
    session: Session,
    expert: User,
    indicator: Indicator,
    final: bool,
    mark: str,
    comment: str,
    score: float | None,
) -> tuple[ExpertMark, dict[str, Any] | None]:
    """The expert's (final) mark row set to these values, and what it held before (None for a
    new row). Two saves at once (a double click) meet at the unique key: the second updates
    the row the first inserted."""

    def existing() -> ExpertMark | None:
        return session.scalars(
            select(ExpertMark).where(
                ExpertMark.indicator_id == indicator.id,
                ExpertMark.expert_id == expert.id,
                ExpertMark.final.is_(final),
            )
        ).first()

    row = existing()
    if row is None:
        row = ExpertMark(
            framework_id=indicator.framework_id,
            indicator_id=indicator.id,
            expert_id=expert.id,
            final=final,
            mark=mark,
            comment=comment,
            score=score,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            row = existing()
            assert row is not None
        else:
            return row, None
    previous = {"mark": row.mark, "comment": row.comment, "score": row.score}
    row.mark, row.comment, row.score = mark, comment, score
    session.flush()
    return row, previous


# -- reading marks -----------------------------------------------------------------------------


def own_marks(session: Session, expert: User) -> dict[int, ExpertMark]:
    """indicator id -> the expert's own (not final) mark."""
    return {
        m.indicator_id: m
        for m in session.scalars(
            select(ExpertMark).where(ExpertMark.expert_id == expert.id, ExpertMark.final.is_(False))
        )
    }


def sees_all_marks(user: User, framework_id: int) -> bool:
    """Admins, reviewers and auditors see every expert's marks; a lead those of their group."""
    if can(user, "marks_overview"):
        return True
    return can(user, "mark") and user.is_lead and user.expert_framework_id == framework_id


@dataclass
class OverviewRow:
    indicator: Indicator
    marks: dict[int, ExpertMark]  # expert id -> mark
    final: ExpertMark | None

    @property
    def agreement(self) -> bool | None:
        """All experts who marked gave the same mark (None below two marks)."""
        given = {m.mark for m in self.marks.values()}
        if len(self.marks) < 2:
            return None
        return len(given) == 1

    @property
    def average(self) -> float | None:
        scores = [m.score for m in self.marks.values() if m.score is not None]
        return round(sum(scores) / len(scores), 2) if scores else None


@dataclass
class Overview:
    framework: Framework
    experts: list[User]
    rows: list[OverviewRow]

    @property
    def marked(self) -> int:
        return sum(1 for r in self.rows if r.marks)

    @property
    def finalized(self) -> int:
        return sum(1 for r in self.rows if r.final is not None)


def overview(session: Session, framework: Framework, scope: set[int] | None = None) -> Overview:
    """Every expert's marks per markable indicator (within ``scope``), the lead's final mark,
    agreement and average score."""
    indicators = markable_indicators(session, framework.id, scope)
    marks: dict[int, dict[int, ExpertMark]] = defaultdict(dict)
    finals: dict[int, ExpertMark] = {}
    for m in session.scalars(select(ExpertMark).where(ExpertMark.framework_id == framework.id)):
        if m.final:
            finals[m.indicator_id] = m
        else:
            marks[m.indicator_id][m.expert_id] = m
    marking = {e for by_expert in marks.values() for e in by_expert}
    experts = [
        u
        for u in session.scalars(
            select(User)
            .where(User.role == "expert", User.expert_framework_id == framework.id)
            .order_by(User.is_lead.desc(), User.id)
        )
        if u.id in marking or u.is_active
    ]
    rows = [OverviewRow(i, marks.get(i.id, {}), finals.get(i.id)) for i in indicators]
    return Overview(framework, experts, rows)


def mark_json(m: ExpertMark) -> dict[str, Any]:
    return {
        "id": m.id,
        "framework_id": m.framework_id,
        "indicator": {"id": m.indicator.id, "code": m.indicator.code, "name": m.indicator.name},
        "expert": person(m.expert),
        "expert_id": m.expert_id,
        "final": m.final,
        "mark": m.mark,
        "symbol": MARK_SYMBOLS.get(m.mark, ""),
        "label": MARK_LABELS.get(m.mark, ""),
        "comment": m.comment,
        "score": m.score,
        "max_points": m.indicator.max_points,
        "updated_at": iso(m.updated_at),
    }


def marks_for(session: Session, user: User, framework: Framework) -> list[ExpertMark]:
    """The marks ``user`` may read: an expert their own, a lead and the college's reviewers
    every expert's (and the final ones), within their scope; in table order."""
    order = {i.id: n for n, i in enumerate(markable_indicators(session, framework.id))}
    stmt = select(ExpertMark).where(ExpertMark.framework_id == framework.id)
    if not sees_all_marks(user, framework.id):
        stmt = stmt.where(ExpertMark.expert_id == user.id, ExpertMark.final.is_(False))
    scope = scoped_indicator_ids(session, user)
    rows = [m for m in session.scalars(stmt) if scope is None or m.indicator_id in scope]
    rows.sort(key=lambda m: (order.get(m.indicator_id, len(order)), m.final, m.expert_id))
    return rows
