"""建议条目 (suggested entries for unlinked files) and 相似文件 (documents like this one):
the page, the accept action, the document page's sections and the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from evidence_app.api import bp as api
from evidence_app.auth.permissions import can, can_manage_document, can_read_document
from evidence_app.auth.security import acting_user, forbid, require, signed_in_user
from evidence_app.documents.operations import DocumentError
from evidence_app.suggestions import operations as suggestions
from evidence_app.web import MAX_ID, db_session
from evidence_app.webui.helpers import get_or_404, int_arg, local_target
from storage import Document, Framework

bp = Blueprint("suggestions", __name__, url_prefix="/suggestions")
PAGE_SIZE = 50  # files per page: each is ranked when the page is shown (about 10 ms a file)


@bp.get("/")
@require("manage_documents")
def index():
    """Files of a framework linked to nothing, each with its best entries."""
    session = db_session()
    user = signed_in_user()
    frameworks = suggestions.active_frameworks(session)
    framework_id = int_arg("framework_id") or (frameworks[0].id if frameworks else None)
    framework = session.get(Framework, framework_id) if framework_id else None
    rows: list[dict[str, Any]] = []
    page, pages = 1, 1
    if framework is not None:
        total = suggestions.count_unlinked(session, framework.id, user)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(int_arg("page", 1, minimum=1) or 1, pages)
        documents = suggestions.unlinked_documents(
            session, framework.id, user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        for document in documents:
            if not can_manage_document(session, user, document):
                continue
            rows.append(
                suggestions.suggest_for_document(session, document, user=user, framework=framework)
            )
    return render_template(
        "suggestions/index.html",
        frameworks=frameworks,
        framework=framework,
        rows=rows,
        page=page,
        pages=pages,
    )


def _picks() -> list[tuple[int, str]]:
    """``document_id:code`` values: one 采用 button's, else every ticked box's."""
    values = [request.form["one"]] if request.form.get("one") else request.form.getlist("pick")
    out = []
    for value in values[: suggestions.MAX_UNLINKED]:
        doc_id, _, code = value.partition(":")
        if not (doc_id.isascii() and doc_id.isdigit() and len(doc_id) <= 12):
            continue  # not an id (a huge or non-ASCII number would not even convert)
        if 0 < int(doc_id) <= MAX_ID and code.strip():
            out.append((int(doc_id), code.strip()[:40]))
    return out


@bp.post("/accept")
@require("manage_documents")
def accept():
    """Link each picked file to its picked entry (several at once), within the user's scope."""
    session = db_session()
    user = signed_in_user()
    picks = _picks()
    back = local_target(request.form.get("next"), url_for("suggestions.index"))
    if not picks:
        if request.accept_mimetypes.best == "application/json":
            return jsonify({"linked": [], "refused": ["请先勾选要采用的建议"]}), 400
        flash("请先勾选要采用的建议。", "error")
        return redirect(back)
    linked, refused = [], []
    for doc_id, code in picks:
        document = session.get(Document, doc_id)
        if document is None or not can_manage_document(session, user, document):
            refused.append(f"文件 #{doc_id}：没有权限")
            continue
        try:
            with session.begin_nested():
                suggestions.accept_suggestion(session, document, code, user)
        except DocumentError as e:
            refused.append(f"{document.title}：{e}")
            continue
        linked.append(f"{document.title} → {code}")
    if request.accept_mimetypes.best == "application/json":  # the upload page's buttons
        return jsonify({"linked": linked, "refused": refused}), 200 if linked else 400
    if linked:
        flash(f"已关联 {len(linked)} 个文件：" + "；".join(linked[:5]), "success")
    if refused:
        flash("未关联：" + "；".join(refused[:5]), "error")
    return redirect(back)


@bp.get("/documents/<int:document_id>")
@require("manage_documents")
def for_document(document_id: int):
    """A file's suggestions as JSON, for the upload page's 未匹配 rows (signed-in staff)."""
    session = db_session()
    document = get_or_404(Document, document_id)
    if document.deleted or not can_manage_document(session, acting_user(), document):
        forbid("manage_document")
    return jsonify(suggestions.suggest_for_document(session, document, user=acting_user()))


# -- the document page's sections (called from templates/documents/detail.html) ---------------


@bp.app_template_global()
def document_suggestions(document: Document) -> list[dict[str, Any]]:
    """The best entries for a file linked to nothing, for users who may link it."""
    session = db_session()
    user = acting_user()
    if document.links or not can_manage_document(session, user, document):
        return []
    return suggestions.suggest_for_document(session, document, user=user)["suggestions"]


@bp.app_template_global()
def similar_documents(document: Document) -> list[dict[str, Any]]:
    """Readable documents like this one (same file, near-identical text, rare words)."""
    user = acting_user()
    if user is None or not can(user, "read_documents"):
        return []
    return suggestions.similar_documents(db_session(), document, user=user)


# -- REST API (/api/v1) ----------------------------------------------------------------------


def _api_readable(document_id: int) -> Document:
    document = get_or_404(Document, document_id)
    if document.deleted:
        abort(404)
    if not can_read_document(db_session(), acting_user(), document):
        forbid("read_document")
    return document


def _limit(default: int, maximum: int) -> int:
    return max(1, min(int_arg("limit", default, minimum=1) or default, maximum))


@api.get("/documents/<int:document_id>/suggestions", endpoint="document_suggestions")
@require("read_documents")
def api_document_suggestions(document_id: int):
    document = _api_readable(document_id)
    result = suggestions.suggest_for_document(
        db_session(),
        document,
        user=acting_user(),
        limit=_limit(suggestions.DEFAULT_LIMIT, suggestions.MAX_LIMIT),
    )
    return jsonify(result)


@api.get("/documents/<int:document_id>/similar", endpoint="similar_documents")
@require("read_documents")
def api_similar_documents(document_id: int):
    document = _api_readable(document_id)
    found = suggestions.similar_documents(
        db_session(),
        document,
        user=acting_user(),
        limit=_limit(suggestions.SIMILAR_LIMIT, 50),
    )
    return jsonify({"document_id": document.id, "similar": found})
