"""Document pages: details, versions, links, download, page view, retry, delete."""

from __future__ import annotations

import re

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from evidence_app.admin import audit
from evidence_app.api import bp as api
from evidence_app.auth.permissions import can, can_manage_document, can_read_document
from evidence_app.auth.security import acting_user, forbid, require
from evidence_app.documents import operations as document_service
from evidence_app.documents.downloads import download_response, may_download
from evidence_app.documents.facts import metadata_rows, signature_rows, signature_summary
from evidence_app.documents.ingest import document_summary
from evidence_app.documents.preview import (
    PreviewError,
    page_count,
    render_ofd_png,
    render_page_png,
    render_picture_png,
    stamp_tile_png,
)
from evidence_app.documents.watermark import IMAGE_FORMATS, stamp_for
from evidence_app.runtime import get_runtime
from evidence_app.web import db_session
from evidence_app.webui.helpers import get_or_404, int_arg, local_target
from indexer import tokenize
from storage import BlobNotFoundError, CatalogEntry, Document, DocumentLink, Indicator

bp = Blueprint("documents", __name__, url_prefix="/documents")
# every list of documents shows 含电子签章 with the same words (templates/_macros.html)
bp.add_app_template_global(signature_summary)


def readable_document(document_id: int) -> Document:
    document = get_or_404(Document, document_id)
    if not can_read_document(db_session(), acting_user(), document):
        forbid("read_document")
    return document


def managed_document(document_id: int) -> Document:
    document = get_or_404(Document, document_id)
    if not can_manage_document(db_session(), acting_user(), document):
        forbid("manage_document")
    return document


def query_terms(q: str) -> list[str]:
    """Terms to highlight in a page view: the query's words and quoted phrases."""
    phrases = re.findall(r'"([^"]+)"', q)
    rest = re.sub(r'"[^"]*"', " ", q)
    words = [
        t.text for t in tokenize(rest) if t.text.strip() and len(t.text) > 1 or t.text.isdigit()
    ]
    return [p for p in phrases if p.strip()] + [w for w in rest.split() if w] + words


@bp.get("/<int:document_id>")
@require("read_documents")
def detail(document_id: int):
    session = db_session()
    document = readable_document(document_id)
    user = acting_user()
    entries = []
    if document.framework_id:
        entries = list(
            session.scalars(
                select(CatalogEntry)
                .where(CatalogEntry.framework_id == document.framework_id)
                .order_by(CatalogEntry.position)
            )
        )
    return render_template(
        "documents/detail.html",
        doc=document,
        entries=entries,
        may_manage=can_manage_document(session, user, document),
        may_download=may_download(user),
        may_review=can(user, "review"),
        history=document_service.history(session, document),
        signatures=signature_rows(document.current),
        metadata=metadata_rows(document.current),
    )


@bp.get("/<int:document_id>/download")
@require("read_documents")
def download(document_id: int):
    document = readable_document(document_id)
    version = document_service.version_or_current(document, int_arg("version"))
    if version is None:
        abort(404)
    return download_response(get_runtime(), version)  # records the download


@bp.get("/<int:document_id>/view")
@require("read_documents")
def view(document_id: int):
    document = readable_document(document_id)
    q = request.args.get("q", "")[:200]
    page = int_arg("page", 1, minimum=1) or 1
    pages = document.page_count or len(document.pages)
    current = document.current
    is_pdf = document.file_type == "pdf" and current is not None
    if is_pdf and current is not None:
        try:
            # on S3 this downloads the PDF to a temporary file for pdfium
            with get_runtime().blobs.local_path(current.blob_sha256) as path:
                pages = page_count(path)
        except (PreviewError, BlobNotFoundError):
            is_pdf = False
    # OFD pages are drawn as pictures too (text at its positions)
    is_picture = document.file_type in (*IMAGE_FORMATS, "ofd") and current is not None
    page = min(page, max(pages, 1))
    text_page = next((p for p in document.pages if p.number == page), None)
    session = db_session()
    user = acting_user()
    stamp = stamp_for(session, user)
    if user is not None and user.role == "expert" and not (is_pdf or is_picture):
        # an expert's page views are recorded; an image page is recorded when it is fetched
        audit.record(session, user, "document.view", document, page=page)
    return render_template(
        "documents/view.html",
        doc=document,
        page=page,
        pages=pages,
        q=q,
        is_pdf=is_pdf,
        is_picture=is_picture,
        text_page=text_page,
        terms=query_terms(q) if q else [],
        stamped=stamp is not None,
        may_download=may_download(user),
    )


@bp.get("/<int:document_id>/pages/<int:page>.png")
@require("read_documents")
def page_image(document_id: int, page: int):
    """One page as a PNG (PDFs, OFDs and pictures), stamped for experts (and for everyone while
    ``watermark_all`` is on); each of an expert's requests is one ``document.view`` record."""
    session = db_session()
    document = readable_document(document_id)
    current = document.current
    is_picture = document.file_type in IMAGE_FORMATS
    is_ofd = document.file_type == "ofd"
    if current is None or not (document.file_type == "pdf" or is_picture or is_ofd):
        abort(404)
    q = request.args.get("q", "")[:200]
    width = min(int_arg("w", 1000, minimum=200) or 1000, 2000)
    user = acting_user()
    stamp = stamp_for(session, user)
    try:
        with get_runtime().blobs.local_path(current.blob_sha256) as path:
            if is_picture:
                png = render_picture_png(path, page, width=width, stamp=stamp)
            elif is_ofd:
                png = render_ofd_png(path, page, width=width, stamp=stamp)
            else:
                png = render_page_png(
                    path, page, query_terms(q) if q else [], width=width, stamp=stamp
                )
    except (PreviewError, BlobNotFoundError):
        abort(404)
    if user is not None and user.role == "expert":
        audit.record(session, user, "document.view", document, page=page)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})


@bp.get("/stamp.png")
@require("read_documents")
def stamp_tile():
    """The acting user's stamp as a tile that the viewer lays under a page's text."""
    stamp = stamp_for(db_session(), acting_user())
    if stamp is None:
        abort(404)
    return Response(stamp_tile_png(stamp), mimetype="image/png")


@bp.post("/<int:document_id>/versions")
@require("manage_documents")
def new_version(document_id: int):
    session = db_session()
    document = managed_document(document_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要上传的新版本文件。", "error")
        return redirect(url_for("documents.detail", document_id=document.id))
    try:
        document_service.add_version(
            session, get_runtime(), document, upload.stream, upload.filename, acting_user()
        )
    except document_service.DocumentError as e:
        session.rollback()
        flash(str(e), "error")
        return redirect(url_for("documents.detail", document_id=document.id))
    flash("已上传新版本，正在处理。旧版本仍可下载。", "success")
    return redirect(url_for("documents.detail", document_id=document.id))


@bp.post("/<int:document_id>/links")
@require("manage_documents")
def add_link(document_id: int):
    session = db_session()
    document = managed_document(document_id)
    code = request.form.get("code", "").strip()
    try:
        link = document_service.link_by_code(session, document, code, acting_user())
    except document_service.DocumentError as e:
        session.rollback()
        if request.accept_mimetypes.best == "application/json":
            return jsonify({"error": str(e)}), 400
        flash(str(e), "error")
        return redirect(url_for("documents.detail", document_id=document.id))
    target = link.code
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"document_id": document.id, "linked": target})
    flash(f"已关联到 {target}。", "success")
    return redirect(url_for("documents.detail", document_id=document.id))


@bp.post("/<int:document_id>/links/<int:link_id>/delete")
@require("manage_documents")
def remove_link(document_id: int, link_id: int):
    session = db_session()
    document = managed_document(document_id)
    link = get_or_404(DocumentLink, link_id)
    if link.document_id != document.id:
        abort(404)
    document_service.unlink(session, document, link, acting_user())
    flash("已取消关联。", "success")
    return redirect(url_for("documents.detail", document_id=document.id))


@bp.post("/<int:document_id>/retry")
@require("manage_documents")
def retry(document_id: int):
    session = db_session()
    document = managed_document(document_id)
    document_service.retry(session, document, acting_user())
    flash("已重新加入处理队列。", "success")
    return redirect(
        local_target(request.form.get("next"), url_for("documents.detail", document_id=document.id))
    )


@bp.post("/<int:document_id>/delete")
@require("manage_documents")
def delete(document_id: int):
    session = db_session()
    document = managed_document(document_id)
    document_service.delete(session, document, acting_user())
    flash(f"已删除“{document.title}”（文件仍保留在存储中，可由管理员恢复）。", "success")
    return redirect(url_for("main.index"))


__all__ = ["bp", "Indicator"]


# -- REST API (/api/v1) ----------------------------------------------------------------------


def document_json(document: Document) -> dict:
    data = document_summary(document)
    current = document.current
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
            # of the current version: {"count", "signers"}, and what the file says it is
            "signatures": signature_summary(current),
            "metadata": dict(current.file_metadata or {}) if current is not None else {},
            "versions": [
                {
                    "number": v.number,
                    "name": v.original_name,
                    "size": v.size,
                    "sha256": v.blob_sha256,
                    "created_at": v.created_at.isoformat(timespec="seconds"),
                    "signature_count": v.signature_count or 0,
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


def _api_readable(document_id: int) -> Document:
    document = get_or_404(Document, document_id)
    if document.deleted or not can_read_document(db_session(), acting_user(), document):
        if document.deleted:
            abort(404)
        forbid("read_document")
    return document


@api.get("/documents/<int:document_id>", endpoint="get_document")
@require("read_documents")
def api_get_document(document_id: int):
    return jsonify(document_json(_api_readable(document_id)))


@api.get("/documents/<int:document_id>/status", endpoint="document_status")
@require("read_documents")
def api_document_status(document_id: int):
    document = _api_readable(document_id)
    return jsonify(
        {"id": document.id, "status": document.status, "status_reason": document.status_reason}
    )


@api.get("/documents/<int:document_id>/download", endpoint="download")
@require("read_documents")
def api_download(document_id: int):
    document = _api_readable(document_id)
    version = document_service.version_or_current(document, int_arg("version"))
    if version is None:
        return jsonify({"error": "版本不存在"}), 404
    return download_response(get_runtime(), version)  # records the download


def _api_managed(document_id: int) -> Document:
    document = _api_readable(document_id)
    if not can_manage_document(db_session(), acting_user(), document):
        forbid("manage_document")
    return document


@api.post("/documents/<int:document_id>/versions", endpoint="new_version")
@require("manage_documents")
def api_new_version(document_id: int):
    session = db_session()
    document = _api_managed(document_id)
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


@api.delete("/documents/<int:document_id>", endpoint="delete_document")
@require("manage_documents")
def api_delete_document(document_id: int):
    session = db_session()
    document = _api_managed(document_id)
    document_service.delete(session, document, acting_user())
    return jsonify({"id": document.id, "deleted": True})
