"""The upload page: many files or ZIPs; each stored, linked by code, queued for processing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import IO

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from evidence_app.api import bp as api
from evidence_app.auth.permissions import readable_document_ids, scoped_indicator_ids
from evidence_app.auth.security import acting_user, forbid, require, signed_in_user
from evidence_app.documents.ingest import (
    IngestReport,
    Upload,
    default_framework_id,
    ingest_uploads,
)
from evidence_app.documents.status import MAX_STATUS_IDS, document_states
from evidence_app.frameworks import operations as framework_service
from evidence_app.review.requests import (
    RequestError,
    answer_request,
    answerable_request,
    clean_note,
    code_targets,
)
from evidence_app.runtime import get_runtime
from evidence_app.web import MAX_ID, db_session
from evidence_app.webui.helpers import int_arg
from storage import CatalogEntry, Document, DocumentStatus, Framework, Indicator, MaterialRequest

bp = Blueprint("upload", __name__)


@contextmanager
def _stream_of(storage: FileStorage) -> Iterator[IO[bytes]]:
    yield storage.stream


def uploads_from_request(field: str = "files") -> list[Upload]:
    files = request.files.getlist(field) or request.files.getlist("file")
    uploads = []
    for storage in files:
        if not storage or not storage.filename:
            continue
        # browsers send a folder's relative path as the file name (webkitdirectory)
        rel = request.form.get(f"path:{storage.filename}", "") or storage.filename
        uploads.append(Upload(storage.filename, rel, partial(_stream_of, storage)))
    return uploads


def upload_target(session) -> tuple[int | None, int | None, int | None]:
    """(framework_id, entry_id, indicator_id) from the form, checked against the user's scope."""
    user = signed_in_user()
    scope = scoped_indicator_ids(session, user)
    entry_id = int_arg("entry_id", minimum=1)
    indicator_id = int_arg("indicator_id", minimum=1)
    framework_id = int_arg("framework_id", minimum=1)
    if entry_id:
        entry = session.get(CatalogEntry, entry_id)
        if entry is None:
            return framework_id, -1, None
        if scope is not None and entry.indicator_id not in scope:
            forbid("upload_outside_scope")
        framework_id = entry.framework_id
    elif indicator_id:
        indicator = session.get(Indicator, indicator_id)
        if indicator is None:
            return framework_id, None, -1
        if scope is not None and indicator.id not in scope:
            forbid("upload_outside_scope")
        framework_id = indicator.framework_id
    elif scope is not None and not scope:
        forbid("upload_outside_scope")
    if framework_id is None:  # the newest framework in use, else the newest of all
        active = framework_service.active_frameworks(session)
        framework_id = active[0].id if active else default_framework_id(session)
    return framework_id, entry_id, indicator_id


@bp.get("/upload")
@require("upload")
def page():
    session = db_session()
    frameworks = framework_service.active_frameworks(session)
    entry = session.get(CatalogEntry, int_arg("entry_id", minimum=1) or 0)
    indicator = session.get(Indicator, int_arg("indicator_id", minimum=1) or 0)
    answering = None
    if int_arg("request_id", minimum=1):
        try:
            answering = _answering(session)
        except UploadRequestError as e:
            return render_template("errors/error.html", code=e.status, message=str(e)), e.status
    config = get_runtime().config
    request_limit = config.MAX_CONTENT_LENGTH  # one file a request: the server's cap too
    limits = {
        "file": min(config.MAX_UPLOAD_BYTES, request_limit),
        "zip": min(config.ZIP_MAX_TOTAL_BYTES, request_limit),
    }
    return render_template(
        "upload/index.html",
        frameworks=frameworks,
        entry=entry,
        indicator=indicator,
        answering=answering,
        limits=limits,
    )


class UploadRequestError(Exception):
    """An upload request that cannot be served: message (Chinese) and HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _answering(session) -> MaterialRequest | None:
    """The 调阅 request the upload answers (form field ``request_id``), checked."""
    request_id = int_arg("request_id", minimum=1)
    if request_id is None:
        return None
    try:
        return answerable_request(session, signed_in_user(), request_id)
    except RequestError as e:
        raise UploadRequestError(str(e), e.status) from e
    except PermissionError:
        forbid("upload_outside_scope")
        raise


def store_uploads(session) -> tuple[IngestReport, dict]:
    """Store the request's files (ZIPs expanded); the commit queues them. The ingest report
    and its JSON (with the answered 调阅 request, when ``request_id`` names one: the files go
    to its indicator unless their names carry another code the expert may read).

    Shared by the upload page and the API, so both store exactly what the CLI stores."""
    answering = _answering(session)
    targets, note = None, ""
    framework_id: int | None
    indicator_id: int | None
    if answering is not None:
        framework_id, entry_id, indicator_id = answering.framework_id, None, answering.indicator_id
        targets = code_targets(session, answering, signed_in_user())
        try:
            note = clean_note(request.form.get("answer_note"))
        except RequestError as e:
            raise UploadRequestError(str(e), e.status) from e
    else:
        framework_id, entry_id, indicator_id = upload_target(session)
    if entry_id == -1 or indicator_id == -1:
        raise UploadRequestError("指定的佐证条目或指标不存在", 404)
    if framework_id is not None and session.get(Framework, framework_id) is None:
        raise UploadRequestError(f"指标体系 {framework_id} 不存在", 404)
    uploads = uploads_from_request()
    if not uploads:
        raise UploadRequestError("缺少文件字段 files", 400)
    runtime = get_runtime()
    report = ingest_uploads(
        session,
        runtime,
        uploads,
        framework_id=framework_id,
        user=acting_user(),
        entry_id=entry_id,
        indicator_id=indicator_id,
        code_targets=targets,
    )
    body = report.as_json()
    if answering is not None and report.accepted:
        answer_request(session, answering, acting_user(), [d["id"] for d in report.documents], note)
    if answering is not None:
        body["request"] = {"id": answering.id, "status": answering.status}
    return report, body


@bp.post("/upload")
@require("upload")
def receive():
    try:
        _, body = store_uploads(db_session())
    except UploadRequestError as e:
        return jsonify({"error": str(e)}), e.status
    return jsonify(body)


class StatusQueryError(ValueError):
    """The ``ids`` of a status request cannot be read; the message (Chinese) says why."""


def status_ids() -> list[int]:
    """The document ids of a status request: ``ids=1,2,3`` (numbers beyond any id ignored)."""
    raw = request.args.get("ids", "")
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise StatusQueryError("缺少参数 ids（以逗号分隔的文件编号）")
    if len(parts) > MAX_STATUS_IDS:
        raise StatusQueryError(f"一次最多查询 {MAX_STATUS_IDS} 个文件")
    if not all(p.isdigit() for p in parts):
        raise StatusQueryError("参数 ids 应为以逗号分隔的文件编号，如 ids=1,2,3")
    return [n for n in (int(p[:30]) for p in parts) if 0 < n <= MAX_ID]


def states_body() -> tuple[dict, int]:
    """The JSON answer of a status request, for the signed-in user's readable documents."""
    try:
        ids = status_ids()
    except StatusQueryError as e:
        return {"error": str(e)}, 400
    session = db_session()
    documents = document_states(session, ids, readable_document_ids(session, signed_in_user()))
    return {"documents": documents, "done": all(d["done"] for d in documents)}, 200


@bp.get("/upload/status")
@require("upload")
def upload_status():
    """What the upload page polls: each uploaded file's state (已接收 … 可检索)."""
    body, code = states_body()
    return jsonify(body), code


#: the queue page's figures: which statuses count as done, still to do, or failed
QUEUE_COUNTS = {
    "done": (DocumentStatus.INDEXED,),
    "remaining": (DocumentStatus.PENDING, DocumentStatus.PROCESSING),
    "failed": (
        DocumentStatus.FAILED,
        DocumentStatus.ENCRYPTED,
        DocumentStatus.UNSUPPORTED,
        DocumentStatus.EMPTY,
    ),
}


@bp.get("/queue")
@require("queue")
def queue():
    session = db_session()
    readable = readable_document_ids(session, signed_in_user())
    groups = {}
    for status in ("pending", "processing", "failed", "encrypted", "unsupported", "empty"):
        stmt = (
            select(Document)
            .where(Document.status == status, Document.deleted.is_(False))
            .options(selectinload(Document.versions))  # 含电子签章 of the current version
        )
        if readable is not None:  # limited staff: only what they may see, not even names
            stmt = stmt.where(Document.id.in_(readable))
        groups[status] = list(session.scalars(stmt.order_by(Document.updated_at.desc()).limit(200)))
    by_status = select(Document.status, func.count()).where(Document.deleted.is_(False))
    if readable is not None:
        by_status = by_status.where(Document.id.in_(readable))
    counted = {row[0]: row[1] for row in session.execute(by_status.group_by(Document.status))}
    counts = {
        key: sum(counted.get(s, 0) for s in statuses) for key, statuses in QUEUE_COUNTS.items()
    }
    return render_template("upload/queue.html", groups=groups, counts=counts)


# -- REST API (/api/v1) ----------------------------------------------------------------------


@api.post("/documents", endpoint="upload_documents")
@require("upload")
def api_upload_documents():
    try:
        report, body = store_uploads(db_session())
    except UploadRequestError as e:
        return jsonify({"error": str(e)}), e.status
    too_large = [r for r in report.rejected if "上传上限" in r["reason"]]
    if too_large and not report.accepted:
        return jsonify({"error": too_large[0]["reason"], **body}), 413
    return jsonify(body), 201 if report.accepted else 400


@api.get("/documents/status", endpoint="documents_status")
@require("read_documents")
def api_documents_status():
    """The state of several documents at once (``ids=1,2,3``); unreadable ids are left out."""
    body, code = states_body()
    return jsonify(body), code
