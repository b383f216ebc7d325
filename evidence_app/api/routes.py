"""REST API ``/api/v1``: JSON, bearer tokens, the same services as the pages and the CLI."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from evidence_app.admin import audit
from evidence_app.api.openapi import spec
from evidence_app.auth.permissions import (
    can_manage_document,
    can_read_document,
    readable_document_ids,
)
from evidence_app.auth.security import acting_user, csrf, forbid, require
from evidence_app.auth.users import user_for_token
from evidence_app.documents import operations as document_service
from evidence_app.documents.downloads import download_response
from evidence_app.documents.ingest import document_summary
from evidence_app.documents.upload_routes import UploadRequestError, store_uploads
from evidence_app.frameworks import FrameworkImportError
from evidence_app.frameworks import operations as framework_service
from evidence_app.runtime import get_runtime
from evidence_app.search.operations import search_documents
from evidence_app.web import db_session
from evidence_app.webui.helpers import get_or_404, int_arg
from storage import Document, Framework

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # token-authenticated; cookies are not accepted here


@bp.before_request
def authenticate_token():
    g.api_only = True
    g.api_user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        session = db_session()
        g.api_user = user_for_token(session, header[7:].strip())


@bp.errorhandler(HTTPException)
def json_error(e: HTTPException):
    messages = {
        400: "请求无效",
        401: "未登录或令牌无效",
        403: "没有权限",
        404: "资源不存在",
        405: "不支持的请求方法",
        413: "上传内容超过大小上限",
    }
    message = messages.get(e.code or 500, e.name)
    if e.code == 413:
        limit = get_runtime().config.MAX_CONTENT_LENGTH // 1024**2
        message = f"上传内容超过大小上限（单次请求最多 {limit} MB）"
    return jsonify({"error": message}), e.code


def document_json(document: Document) -> dict:
    data = document_summary(document)
    data.update(
        {
            "title": document.title,
            "framework_id": document.framework_id,
            "file_type": document.file_type,
            "status_reason": document.status_reason,
            "review_status": document.review_status,
            "page_count": document.page_count,
            "ocr_pages": document.ocr_pages,
            "created_at": document.created_at.isoformat(timespec="seconds"),
            "versions": [
                {
                    "number": v.number,
                    "name": v.original_name,
                    "size": v.size,
                    "sha256": v.blob_sha256,
                    "created_at": v.created_at.isoformat(timespec="seconds"),
                }
                for v in document.versions
            ],
            "links": [
                {
                    "id": link.id,
                    "entry": link.entry.code if link.entry else None,
                    "indicator": link.indicator.code if link.indicator else None,
                }
                for link in document.links
            ],
        }
    )
    return data


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())


@bp.get("/frameworks")
@require("read")
def list_frameworks():
    return jsonify({"frameworks": framework_service.list_frameworks(db_session())})


@bp.post("/frameworks")
@require("frameworks_import")
def import_framework():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return jsonify({"error": "缺少文件字段 file"}), 400
    session = db_session()
    year = request.form.get("year", "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table"
        upload.save(path)
        try:
            report = framework_service.import_framework_file(
                session,
                path,
                name=request.form.get("name") or None,
                year=int(year) if year.isdigit() else None,
                user=acting_user(),
                source_name=upload.filename,
            )
        except FrameworkImportError as e:
            session.rollback()
            return jsonify({"error": str(e)}), 400
    created = report.pop("created")
    return jsonify(report), 201 if created else 200


@bp.get("/frameworks/<int:framework_id>")
@require("read")
def show_framework(framework_id: int):
    session = db_session()
    fw = get_or_404(Framework, framework_id)
    return jsonify(
        {
            "id": fw.id,
            "name": fw.name,
            "year": fw.year,
            "indicators": framework_service.framework_tree(session, fw),
        }
    )


@bp.post("/documents")
@require("upload")
def upload_documents():
    try:
        report = store_uploads(db_session())
    except UploadRequestError as e:
        return jsonify({"error": str(e)}), e.status
    too_large = [r for r in report.rejected if "上传上限" in r["reason"]]
    if too_large and not report.accepted:
        return jsonify({"error": too_large[0]["reason"], **report.as_json()}), 413
    return jsonify(report.as_json()), 201 if report.accepted else 400


def _readable(document_id: int) -> Document:
    document = get_or_404(Document, document_id)
    if document.deleted or not can_read_document(db_session(), acting_user(), document):
        if document.deleted:
            return _not_found()
        forbid("read_document")
    return document


def _not_found():
    from flask import abort

    abort(404)


@bp.get("/documents/<int:document_id>")
@require("read")
def get_document(document_id: int):
    return jsonify(document_json(_readable(document_id)))


@bp.get("/documents/<int:document_id>/status")
@require("read")
def document_status(document_id: int):
    document = _readable(document_id)
    return jsonify(
        {"id": document.id, "status": document.status, "status_reason": document.status_reason}
    )


@bp.get("/documents/<int:document_id>/download")
@require("read")
def download(document_id: int):
    session = db_session()
    document = _readable(document_id)
    version = document_service.version_or_current(document, int_arg("version"))
    if version is None:
        return jsonify({"error": "版本不存在"}), 404
    audit.record(session, acting_user(), "document.download", document, version=version.number)
    return download_response(get_runtime(), version)


def _managed(document_id: int) -> Document:
    document = _readable(document_id)
    if not can_manage_document(db_session(), acting_user(), document):
        forbid("manage_document")
    return document


@bp.post("/documents/<int:document_id>/versions")
@require("manage_documents")
def new_version(document_id: int):
    session = db_session()
    document = _managed(document_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return jsonify({"error": "缺少文件字段 file"}), 400
    runtime = get_runtime()
    try:
        document_service.add_version(
            session, runtime, document, upload.stream, upload.filename, acting_user()
        )
    except document_service.DocumentError as e:
        session.rollback()
        code = 413 if "上限" in str(e) else 400
        return jsonify({"error": str(e)}), code
    session.refresh(document)
    return jsonify(document_json(document)), 201


@bp.delete("/documents/<int:document_id>")
@require("manage_documents")
def delete_document(document_id: int):
    session = db_session()
    document = _managed(document_id)
    document_service.delete(session, document, acting_user())
    return jsonify({"id": document.id, "deleted": True})


@bp.get("/search")
@require("search")
def search():
    q = request.args.get("q", "").strip()
    if not q:
        return jsonify({"error": "缺少查询参数 q"}), 400
    session = db_session()
    result = search_documents(
        session,
        get_runtime(),
        q[:200],
        framework_id=int_arg("framework", minimum=1),
        indicator=request.args.get("indicator") or None,
        file_type=request.args.get("type") or None,
        status=request.args.get("status") or None,
        doc_ids=readable_document_ids(session, acting_user()),
        limit=int_arg("limit", 20, minimum=1) or 20,
        offset=int_arg("offset", 0, minimum=0) or 0,
    )
    return jsonify(result)
