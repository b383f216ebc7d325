"""网评 in the pages and the API: the expert's indicator list and one screen per indicator
(evidence, viewer, marking form, 调阅 requests), the lead's overview with the final marks,
the same overview for the college's admins, reviewers and auditors, the staff's 调阅 tasks,
and the workbook download. Thin: the rules live in ``marks``, ``requests`` and ``export``.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy import func, select

from evidence_app.admin import audit
from evidence_app.api import bp as api
from evidence_app.auth.permissions import can, can_read_document, readable_document_ids
from evidence_app.auth.security import acting_user, forbid, require, signed_in_user
from evidence_app.coverage.export import safe_name
from evidence_app.coverage.overview import indicator_documents
from evidence_app.documents.downloads import may_download
from evidence_app.documents.watermark import IMAGE_FORMATS, stamp_for
from evidence_app.review import marks as marks_service
from evidence_app.review import requests as request_service
from evidence_app.review.export import review_report, write_review_xlsx
from evidence_app.web import db_session
from evidence_app.webui.helpers import get_or_404, int_arg
from storage import (
    CatalogEntry,
    Document,
    DocumentLink,
    Framework,
    Indicator,
    User,
)

bp = Blueprint("expert_review", __name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REQUEST_FILTERS = ("open", "answered", "closed", "all")


def _expert() -> User:
    return signed_in_user()


def _framework_of(expert: User) -> Framework:
    framework = (
        db_session().get(Framework, expert.expert_framework_id)
        if expert.expert_framework_id
        else None
    )
    if framework is None:
        abort(404)
    return framework


def _evidence_counts(session, indicator_ids: list[int], readable: set[int] | None) -> dict:
    """indicator id -> how many (readable, not deleted) documents are linked to it or to
    its catalog entries."""
    if not indicator_ids:
        return {}
    via_entry = (
        select(CatalogEntry.indicator_id.label("indicator_id"), DocumentLink.document_id)
        .join(CatalogEntry, CatalogEntry.id == DocumentLink.entry_id)
        .where(CatalogEntry.indicator_id.in_(indicator_ids))
    )
    direct = select(
        DocumentLink.indicator_id.label("indicator_id"), DocumentLink.document_id
    ).where(DocumentLink.indicator_id.in_(indicator_ids))
    links = via_entry.union(direct).subquery()
    stmt = (
        select(links.c.indicator_id, func.count(func.distinct(links.c.document_id)))
        .join(Document, Document.id == links.c.document_id)
        .where(Document.deleted.is_(False))
        .group_by(links.c.indicator_id)
    )
    if readable is not None:
        stmt = stmt.where(Document.id.in_(readable))
    return {indicator_id: n for indicator_id, n in db_session().execute(stmt)}


# -- the expert's pages --------------------------------------------------------------------------


@bp.get("/expert")
@require("mark")
def home():
    """The expert's indicators with their marks, new answers and evidence counts."""
    session = db_session()
    expert = _expert()
    framework = _framework_of(expert)
    indicators = marks_service.markable_indicators(
        session, framework.id, marks_service.expert_scope(session, expert)
    )
    own = marks_service.own_marks(session, expert)
    fresh = request_service.new_answers(session, expert)
    open_counts = request_service.open_counts(session, expert)
    counts = _evidence_counts(
        session, [i.id for i in indicators], readable_document_ids(session, expert)
    )
    return render_template(
        "review/expert_home.html",
        framework=framework,
        indicators=indicators,
        own=own,
        fresh=fresh,
        open_counts=open_counts,
        counts=counts,
        marked=sum(1 for i in indicators if i.id in own),
        mark_text=marks_service.mark_text,
        symbols=marks_service.MARK_SYMBOLS,
        labels=marks_service.MARK_LABELS,
    )


def _indicator_for_expert(expert: User, indicator_id: int) -> Indicator:
    """An indicator of the expert's framework (else 404) in their scope (else 403)."""
    session = db_session()
    indicator = get_or_404(Indicator, indicator_id)
    if indicator.framework_id != expert.expert_framework_id:
        abort(404)
    if indicator.id not in marks_service.expert_scope(session, expert):
        forbid("mark_scope")
    if not marks_service.is_markable(session, indicator):
        abort(404)
    return indicator


def _neighbours(expert: User, indicator: Indicator) -> tuple[Indicator | None, Indicator | None]:
    session = db_session()
    indicators = marks_service.markable_indicators(
        session, indicator.framework_id, marks_service.expert_scope(session, expert)
    )
    ids = [i.id for i in indicators]
    at = ids.index(indicator.id) if indicator.id in ids else -1
    before = indicators[at - 1] if at > 0 else None
    after = indicators[at + 1] if 0 <= at < len(indicators) - 1 else None
    return before, after


def _viewer() -> dict[str, Any] | None:
    """The document picked for the viewer (``doc``, ``page``), when the user may read it: a
    page image (PDFs, pictures; stamped by ``documents.page_image``) or the page's text over
    the user's stamp, as the document's own view page shows them. A text page an expert
    sees is recorded as a view (an image page is recorded when it is fetched)."""
    document_id = int_arg("doc", minimum=1)
    if document_id is None:
        return None
    session = db_session()
    user = signed_in_user()
    document = session.get(Document, document_id)
    if document is None or not can_read_document(session, user, document):
        return None  # says nothing about other documents
    pages = max(document.page_count or len(document.pages), 1)
    page = min(int_arg("page", 1, minimum=1) or 1, pages)
    text_page = next((p for p in document.pages if p.number == page), None)
    has_image = document.current is not None and (
        document.file_type == "pdf" or document.file_type in IMAGE_FORMATS
    )
    if user.role == "expert" and text_page is not None and not has_image:
        audit.record(session, user, "document.view", document, page=page)
    return {
        "doc": document,
        "page": page,
        "pages": pages,
        "has_image": has_image,
        "text_page": text_page,
        "stamped": stamp_for(session, user) is not None,
        "may_download": may_download(user),
    }


@bp.get("/expert/indicators/<int:indicator_id>")
@require("mark")
def indicator(indicator_id: int):
    """One indicator: its rule and points, the evidence with the viewer beside it, the
    marking form, the expert's 调阅 requests and their answers (seen from now on)."""
    session = db_session()
    expert = _expert()
    node = _indicator_for_expert(expert, indicator_id)
    readable = readable_document_ids(session, expert)
    by_entry, direct = indicator_documents(session, node, readable)
    own = marks_service.own_marks(session, expert).get(node.id)
    requests = request_service.expert_requests(session, expert, node)
    fresh = {r.id for r in requests if request_service.is_new(r)}
    request_service.mark_seen(session, expert, node)
    open_text = next((r.text for r in requests if r.status == "open"), "")
    before, after = _neighbours(expert, node)
    return render_template(
        "review/expert_indicator.html",
        node=node,
        by_entry=by_entry,
        direct=direct,
        own=own,
        requests=requests,
        fresh=fresh,
        readable=readable,
        open_text=open_text,
        viewer=_viewer(),
        before=before,
        after=after,
        marks=marks_service,
        request_labels=request_service.REQUEST_LABELS,
    )


@bp.post("/expert/indicators/<int:indicator_id>/mark")
@require("mark")
def set_mark(indicator_id: int):
    session = db_session()
    expert = _expert()
    node = _indicator_for_expert(expert, indicator_id)
    form = request.form
    try:
        change = marks_service.set_mark(
            session,
            expert,
            node,
            form.get("mark", ""),
            form.get("comment", ""),
            form.get("score", ""),
            form.get("request", ""),
        )
    except marks_service.MarkError as e:
        session.rollback()
        flash(str(e), "error")
        return redirect(url_for(".indicator", indicator_id=node.id, _anchor="mark"))
    message = f"已保存标记：{marks_service.mark_text(change.mark.mark)}。"
    if change.request_created:
        message += "已向学校发出调阅请求。"
    if change.closed:
        message += f"已关闭调阅请求 {len(change.closed)} 个。"
    flash(message, "success")
    return redirect(url_for(".indicator", indicator_id=node.id, _anchor="mark"))


# -- overviews ----------------------------------------------------------------------------------


def _lead() -> User:
    expert = _expert()
    if not expert.is_lead:
        forbid("lead")
    return expert


@bp.get("/expert/overview")
@require("mark")
def lead_overview():
    """The lead's view: every expert's marks side by side and the group's final marks."""
    session = db_session()
    lead = _lead()
    framework = _framework_of(lead)
    view = marks_service.overview(session, framework, marks_service.expert_scope(session, lead))
    return render_template(
        "review/overview.html",
        view=view,
        may_finalize=True,
        export_url=url_for(".lead_export"),
        marks=marks_service,
    )


@bp.post("/expert/indicators/<int:indicator_id>/final")
@require("mark")
def set_final(indicator_id: int):
    session = db_session()
    lead = _lead()
    node = _indicator_for_expert(lead, indicator_id)
    form = request.form
    try:
        row = marks_service.set_final_mark(
            session, lead, node, form.get("mark", ""), form.get("comment", ""), form.get("score")
        )
    except marks_service.MarkError as e:
        session.rollback()
        flash(f"{node.code}：{e}", "error")
        return redirect(url_for(".lead_overview", _anchor=f"i{node.id}"))
    flash(f"已保存 {node.code} 的定稿意见：{marks_service.mark_text(row.mark)}。", "success")
    return redirect(url_for(".lead_overview", _anchor=f"i{node.id}"))


@bp.get("/marks")
@require("marks_overview")
def marks_index():
    """The newest framework's overview (the nav link)."""
    newest = db_session().scalars(select(Framework.id).order_by(Framework.id.desc())).first()
    if newest is None:
        flash("还没有指标体系。", "info")
        return redirect(url_for("main.index"))
    return redirect(url_for(".framework_overview", framework_id=newest))


@bp.get("/frameworks/<int:framework_id>/marks")
@require("marks_overview")
def framework_overview(framework_id: int):
    """The same overview for the college's admins, reviewers and auditors (read only)."""
    session = db_session()
    framework = get_or_404(Framework, framework_id)
    view = marks_service.overview(session, framework)
    frameworks = list(session.scalars(select(Framework).order_by(Framework.id.desc())))
    return render_template(
        "review/overview.html",
        view=view,
        may_finalize=False,
        frameworks=frameworks,
        export_url=url_for(".framework_export", framework_id=framework.id),
        marks=marks_service,
    )


def _send_workbook(framework: Framework, scope: set[int] | None):
    session = db_session()
    buffer = io.BytesIO()
    report = review_report(session, framework.id, scope)
    write_review_xlsx(session, framework.id, buffer, report=report)
    audit.record(
        session,
        acting_user(),
        "review.export",
        framework,
        format="xlsx",
        marks=len(report["marks"]),
        requests=len(report["requests"]),
    )
    buffer.seek(0)
    stem = safe_name(f"{framework.name}-网评意见-{date.today().isoformat()}", 120)
    return send_file(
        buffer, as_attachment=True, download_name=stem + ".xlsx", mimetype=XLSX_MIMETYPE
    )


@bp.get("/expert/overview.xlsx")
@require("mark")
def lead_export():
    lead = _lead()
    framework = _framework_of(lead)
    return _send_workbook(framework, marks_service.expert_scope(db_session(), lead))


@bp.get("/frameworks/<int:framework_id>/marks.xlsx")
@require("marks_overview")
def framework_export(framework_id: int):
    return _send_workbook(get_or_404(Framework, framework_id), None)


# -- the staff's 调阅 tasks ----------------------------------------------------------------------


def _status_filter(default: str) -> str | None:
    """The ``status`` argument (None: every state); ValueError when it names none."""
    value = request.args.get("status", default)
    if value not in REQUEST_FILTERS:
        raise ValueError(value)
    return None if value == "all" else value


@bp.get("/requests")
@require("requests")
def requests_page():
    """调阅 requests on the indicators the user answers for, with an upload per request."""
    session = db_session()
    try:
        status = _status_filter("open")
    except ValueError:
        status = "open"
    rows = request_service.staff_requests(session, signed_in_user(), status)
    readable = readable_document_ids(session, signed_in_user())
    counts = {
        s: len(request_service.staff_requests(session, signed_in_user(), s))
        for s in ("open", "answered")
    }
    return render_template(
        "review/requests.html",
        rows=rows,
        status=status or "all",
        counts=counts,
        readable=readable,
        labels=request_service.REQUEST_LABELS,
    )


# -- REST API (/api/v1) --------------------------------------------------------------------------


def _api_error(message: str, status: int):
    db_session().rollback()
    return jsonify({"error": message}), status


@api.put("/frameworks/<int:framework_id>/marks/<indicator_code>", endpoint="set_mark")
@require("mark")
def api_set_mark(framework_id: int, indicator_code: str):
    """An expert's mark on an indicator, named by its code."""
    session = db_session()
    expert = _expert()
    body = request.get_json(silent=True)
    try:
        indicator = marks_service.indicator_by_code(session, expert, framework_id, indicator_code)
        if not isinstance(body, dict):
            raise marks_service.MarkError('请求体须为 JSON 对象，如 {"mark": "ok"}')
        change = marks_service.set_mark(
            session,
            expert,
            indicator,
            body.get("mark"),
            body.get("comment", ""),
            body.get("score"),
            body.get("request", ""),
        )
    except marks_service.MarkNotFound as e:
        return _api_error(str(e), 404)
    except marks_service.MarkForbidden:
        forbid("mark_scope")
    except marks_service.MarkError as e:
        return _api_error(str(e), 400)
    readable = readable_document_ids(session, expert)
    return jsonify(
        {
            **marks_service.mark_json(change.mark),
            "request": (
                request_service.request_json(change.request, readable, for_expert=True)
                if change.request
                else None
            ),
            "closed_requests": [r.id for r in change.closed],
        }
    )


@api.get("/frameworks/<int:framework_id>/marks", endpoint="list_marks")
@require("home")
def api_list_marks(framework_id: int):
    """An expert's own marks; a lead's group and the college's reviewers: every mark."""
    session = db_session()
    user = signed_in_user()
    if not (can(user, "mark") or can(user, "marks_overview")):
        forbid("marks_overview")
    try:
        framework = marks_service.framework_for(session, user, framework_id)
    except marks_service.MarkNotFound as e:
        return _api_error(str(e), 404)
    rows = marks_service.marks_for(session, user, framework)
    return jsonify(
        {"framework_id": framework.id, "marks": [marks_service.mark_json(m) for m in rows]}
    )


@api.get("/requests", endpoint="list_requests")
@require("home")
def api_list_requests():
    """Staff: the 调阅 requests they answer for (default: open ones); an expert: their own
    requests (default: all) with the answering documents they may read."""
    session = db_session()
    user = signed_in_user()
    expert = can(user, "mark")
    if not (expert or can(user, "requests")):
        forbid("requests")
    try:
        status = _status_filter("all" if expert else "open")
    except ValueError:
        return _api_error("status 须为 open、answered、closed 或 all", 400)
    if expert:
        rows = [
            r
            for r in request_service.expert_requests(session, user)
            if status is None or r.status == status
        ]
        readable = readable_document_ids(session, user)
    else:
        rows = request_service.staff_requests(session, user, status)
        readable = readable_document_ids(session, user)
    return jsonify(
        {"requests": [request_service.request_json(r, readable, for_expert=expert) for r in rows]}
    )
