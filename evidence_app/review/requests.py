"""调阅 requests: an expert asks for more material on an indicator (a ``more`` mark), the
college's staff answer by uploading, the expert sees the answer as new and marks again.

States: ``open`` (a task for the staff responsible for the indicator), ``answered`` (files
were uploaded in answer; new to the expert until they open the indicator), ``closed`` (the
expert marked the indicator again: ``ok``/``question`` close the open and answered ones, a
new ``more`` closes the answered ones it follows up). Staff see the requests of the
indicators in their scope (``scoped_indicator_ids``: limited staff only theirs).

An upload with ``request_id`` answers a request: the files go to the request's indicator
(unless a file's name carries another code the expert may read, then it goes there), are
listed on the request, and every answering file is readable by the expert (a file that was
already stored elsewhere gets a link to the request's indicator).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from evidence_app.admin import audit
from evidence_app.auth.permissions import can, readable_document_ids, scoped_indicator_ids
from storage import (
    Document,
    DocumentLink,
    Indicator,
    MaterialRequest,
    MaterialRequestDocument,
    User,
    utcnow,
)

REQUEST_LABELS = {"open": "待答复", "answered": "已答复", "closed": "已关闭"}
MAX_REQUEST = 2000
MAX_NOTE = 2000


class RequestError(Exception):
    """A request that cannot be answered: the message (Chinese) and the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def iso(value: datetime | None) -> str | None:
    """A stored time (naive UTC) as ISO 8601 with its offset, for JSON."""
    return value.replace(tzinfo=UTC).isoformat() if value is not None else None


def person(user: User | None) -> str:
    if user is None:
        return ""
    return user.display_name or user.username


def is_new(req: MaterialRequest) -> bool:
    """An answer the expert has not looked at yet."""
    return (
        req.status == "answered"
        and req.answered_at is not None
        and (req.seen_at is None or req.answered_at > req.seen_at)
    )


# -- opening and closing (called by the marks) -------------------------------------------------


def open_request(
    session: Session, expert: User, indicator: Indicator, text: str
) -> tuple[MaterialRequest, bool]:
    """The expert's open request with this text on the indicator, or a new one (created)."""
    existing = session.scalars(
        select(MaterialRequest).where(
            MaterialRequest.indicator_id == indicator.id,
            MaterialRequest.expert_id == expert.id,
            MaterialRequest.status == "open",
            MaterialRequest.text == text,
        )
    ).first()
    if existing is not None:
        return existing, False
    req = MaterialRequest(
        framework_id=indicator.framework_id,
        indicator_id=indicator.id,
        expert_id=expert.id,
        text=text,
        status="open",
    )
    session.add(req)
    session.flush()
    audit.record(
        session, expert, "request.open", req, indicator=indicator.code, text=text, expert=expert.id
    )
    return req, True


def close_requests(
    session: Session,
    expert: User,
    indicator: Indicator,
    states: tuple[str, ...],
    keep: MaterialRequest | None = None,
) -> list[MaterialRequest]:
    """Close the expert's requests on the indicator that are in ``states`` (but ``keep``)."""
    rows = session.scalars(
        select(MaterialRequest).where(
            MaterialRequest.indicator_id == indicator.id,
            MaterialRequest.expert_id == expert.id,
            MaterialRequest.status.in_(states),
        )
    ).all()
    closed = [r for r in rows if keep is None or r.id != keep.id]
    for req in closed:
        previous = req.status
        req.status = "closed"
        audit.record(
            session, expert, "request.close", req, indicator=indicator.code, previous=previous
        )
    session.flush()
    return closed


# -- what staff see and do ---------------------------------------------------------------------


def staff_requests(
    session: Session, user: User, status: str | None = "open"
) -> list[MaterialRequest]:
    """Requests on the indicators the user answers for (limited staff: their scope), oldest
    first; ``status`` None means every state."""
    stmt = (
        select(MaterialRequest)
        .options(
            selectinload(MaterialRequest.indicator),
            selectinload(MaterialRequest.expert),
            selectinload(MaterialRequest.documents).selectinload(Document.versions),
        )
        .order_by(MaterialRequest.created_at, MaterialRequest.id)
    )
    if status is not None:
        stmt = stmt.where(MaterialRequest.status == status)
    scope = scoped_indicator_ids(session, user)
    if scope is not None:
        stmt = stmt.where(MaterialRequest.indicator_id.in_(scope))
    return list(session.scalars(stmt))


def expert_requests(
    session: Session, expert: User, indicator: Indicator | None = None
) -> list[MaterialRequest]:
    """The expert's own requests (on one indicator), newest first."""
    stmt = (
        select(MaterialRequest)
        .where(MaterialRequest.expert_id == expert.id)
        .options(
            selectinload(MaterialRequest.indicator),
            selectinload(MaterialRequest.documents).selectinload(Document.versions),
            selectinload(MaterialRequest.answered_by),
        )
        .order_by(MaterialRequest.created_at.desc(), MaterialRequest.id.desc())
    )
    if indicator is not None:
        stmt = stmt.where(MaterialRequest.indicator_id == indicator.id)
    return list(session.scalars(stmt))


def new_answers(session: Session, expert: User) -> dict[int, int]:
    """indicator id -> how many of the expert's requests there have an unseen answer."""
    out: dict[int, int] = {}
    for req in session.scalars(
        select(MaterialRequest).where(
            MaterialRequest.expert_id == expert.id, MaterialRequest.status == "answered"
        )
    ):
        if is_new(req):
            out[req.indicator_id] = out.get(req.indicator_id, 0) + 1
    return out


def open_counts(session: Session, expert: User) -> dict[int, int]:
    """indicator id -> how many of the expert's requests there wait for the college."""
    out: dict[int, int] = {}
    for indicator_id in session.scalars(
        select(MaterialRequest.indicator_id).where(
            MaterialRequest.expert_id == expert.id, MaterialRequest.status == "open"
        )
    ):
        out[indicator_id] = out.get(indicator_id, 0) + 1
    return out


def mark_seen(session: Session, expert: User, indicator: Indicator) -> int:
    """The expert opened the indicator: its answered requests are no longer new."""
    now = utcnow()
    count = 0
    for req in session.scalars(
        select(MaterialRequest).where(
            MaterialRequest.expert_id == expert.id,
            MaterialRequest.indicator_id == indicator.id,
            MaterialRequest.status == "answered",
        )
    ):
        if is_new(req):
            req.seen_at = now
            count += 1
    session.flush()
    return count


def answerable_request(session: Session, user: User, request_id: int) -> MaterialRequest:
    """The request ``user`` may answer by uploading: it exists (404), is not closed (400)
    and lies in the user's scope (PermissionError: the caller answers 403)."""
    req = session.get(MaterialRequest, request_id)
    if req is None:
        raise RequestError(f"调阅请求 {request_id} 不存在", 404)
    scope = scoped_indicator_ids(session, user)
    if not can(user, "requests") or (scope is not None and req.indicator_id not in scope):
        raise PermissionError("request outside the user's scope")
    if req.status == "closed":
        raise RequestError(f"调阅请求 {request_id} 已关闭，无需再上传材料")
    return req


def clean_note(note: str | None) -> str:
    """The staff's note to an answer (optional), checked before any file is stored."""
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise RequestError(f"答复说明不能超过 {MAX_NOTE} 字")
    return note


def code_targets(session: Session, req: MaterialRequest, uploader: User) -> set[int]:
    """Indicators a file answering ``req`` may go to by its own code: those the expert may
    read and the uploader may manage (the rest go to the request's indicator)."""
    expert_scope: set[int] | None = None
    if req.expert is not None and req.expert.role == "expert":
        expert_scope = scoped_indicator_ids(session, req.expert)
    if expert_scope is None:
        expert_scope = set(
            session.scalars(select(Indicator.id).where(Indicator.framework_id == req.framework_id))
        )
    uploader_scope = scoped_indicator_ids(session, uploader)
    return expert_scope if uploader_scope is None else expert_scope & uploader_scope


def answer_request(
    session: Session,
    req: MaterialRequest,
    user: User | None,
    document_ids: list[int],
    note: str = "",
) -> MaterialRequest:
    """Files were uploaded in answer: list them on the request, make each readable by the
    expert, and set the request answered (new to the expert)."""
    note = clean_note(note)
    if not document_ids:
        return req
    readable: set[int] | None = None
    if req.expert is not None and req.expert.role == "expert":
        readable = readable_document_ids(session, req.expert)
    listed = set(
        session.scalars(
            select(MaterialRequestDocument.document_id).where(
                MaterialRequestDocument.request_id == req.id
            )
        )
    )
    added = []
    for document_id in dict.fromkeys(document_ids):
        if (
            readable is not None
            and document_id not in readable
            and not _linked(session, document_id, req.indicator_id)
        ):
            # a file stored before under a code the expert may not read: link it here too
            session.add(
                DocumentLink(
                    document_id=document_id,
                    indicator_id=req.indicator_id,
                    code=req.indicator.code,
                    created_by_id=user.id if user else None,
                )
            )
        if document_id not in listed:
            session.add(MaterialRequestDocument(request_id=req.id, document_id=document_id))
            added.append(document_id)
    previous = req.status
    req.status = "answered"
    req.answered_at = utcnow()
    req.answered_by_id = user.id if user else None
    if note:
        req.answer_note = note
    session.flush()
    session.expire(req, ["documents"])
    audit.record(
        session,
        user,
        "request.answer",
        req,
        indicator=req.indicator.code,
        documents=added,
        previous=previous,
        note=note,
    )
    return req


def _linked(session: Session, document_id: int, indicator_id: int) -> bool:
    return (
        session.scalars(
            select(DocumentLink.id).where(
                DocumentLink.document_id == document_id, DocumentLink.indicator_id == indicator_id
            )
        ).first()
        is not None
    )


# -- JSON --------------------------------------------------------------------------------------


def request_json(
    req: MaterialRequest, readable: set[int] | None = None, *, for_expert: bool = False
) -> dict[str, Any]:
    """One request for the API and the export; answering documents only those in
    ``readable`` (None: all)."""
    documents = []
    for doc in req.documents:
        if doc.deleted or (readable is not None and doc.id not in readable):
            continue
        current = doc.current
        documents.append(
            {
                "id": doc.id,
                "name": current.original_name if current else doc.title,
                "code": doc.code,
            }
        )
    out: dict[str, Any] = {
        "id": req.id,
        "framework_id": req.framework_id,
        "indicator": {
            "id": req.indicator.id,
            "code": req.indicator.code,
            "name": req.indicator.name,
        },
        "text": req.text,
        "status": req.status,
        "status_label": REQUEST_LABELS.get(req.status, req.status),
        "expert": person(req.expert),
        "created_at": iso(req.created_at),
        "answered_at": iso(req.answered_at),
        "answered_by": person(req.answered_by) or None,
        "answer_note": req.answer_note,
        "documents": documents,
    }
    if for_expert:
        out["new"] = is_new(req)
    return out
