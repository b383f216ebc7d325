"""The search page."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from sqlalchemy import select

from evidence_app.api import bp as api
from evidence_app.auth.permissions import readable_document_ids, readable_framework_ids
from evidence_app.auth.security import acting_user, require, signed_in_user
from evidence_app.documents.status import STATUS_LABELS
from evidence_app.runtime import get_runtime
from evidence_app.search.operations import search_documents
from evidence_app.web import db_session
from evidence_app.webui.helpers import int_arg
from storage import DOCUMENT_STATUSES, Framework

bp = Blueprint("search", __name__)

PER_PAGE = 20
FILE_TYPES = {
    "pdf": "PDF",
    "docx": "Word",
    "doc": "Word 97-2003",
    "xlsx": "Excel",
    "xls": "Excel 97-2003",
    "pptx": "PowerPoint",
    "ppt": "PowerPoint 97-2003",
    "ofd": "OFD",
    "text": "文本/CSV",
    "image": "图片",
}


@bp.get("/search")
@require("search")
def search():
    session = db_session()
    q = request.args.get("q", "").strip()[:200]
    framework_id = int_arg("framework", minimum=1)
    indicator = request.args.get("indicator", "").strip()[:40]
    file_type = request.args.get("type", "") if request.args.get("type") in FILE_TYPES else ""
    status = (
        request.args.get("status", "") if request.args.get("status") in DOCUMENT_STATUSES else ""
    )
    signed = request.args.get("signed") == "1"
    page = int_arg("page", 1, minimum=1) or 1
    visible = readable_framework_ids(signed_in_user())
    listed = select(Framework).where(Framework.archived_at.is_(None)).order_by(Framework.id.desc())
    if visible is not None:  # experts: not even the names of other frameworks
        listed = listed.where(Framework.id.in_(visible))
    frameworks = list(session.scalars(listed))
    result = None
    if q:
        result = search_documents(
            session,
            get_runtime(),
            q,
            framework_id=framework_id,
            indicator=indicator or None,
            file_type=file_type or None,
            status=status or None,
            doc_ids=readable_document_ids(session, acting_user()),
            signed=signed,
            limit=PER_PAGE,
            offset=(page - 1) * PER_PAGE,
        )
    pages = ((result["total"] + PER_PAGE - 1) // PER_PAGE) if result else 0
    return render_template(
        "search/index.html",
        q=q,
        result=result,
        frameworks=frameworks,
        framework_id=framework_id,
        indicator=indicator,
        file_type=file_type,
        status=status,
        signed=signed,
        page=page,
        pages=pages,
        file_types=FILE_TYPES,
        status_labels=STATUS_LABELS,
    )


# -- REST API (/api/v1) ----------------------------------------------------------------------


@api.get("/search", endpoint="search")
@require("search")
def api_search():
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
        signed=request.args.get("signed") in ("1", "true"),
        limit=int_arg("limit", 20, minimum=1) or 20,
        offset=int_arg("offset", 0, minimum=0) or 0,
    )
    return jsonify(result)
