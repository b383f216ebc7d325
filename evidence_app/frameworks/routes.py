"""Home, the indicator tree, indicator details, framework import."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from evidence_app.api import bp as api
from evidence_app.auth.permissions import can, readable_document_ids, scoped_indicator_ids
from evidence_app.auth.security import acting_user, require, signed_in_user
from evidence_app.coverage.next_steps import next_steps
from evidence_app.coverage.overview import framework_overview, indicator_documents
from evidence_app.frameworks import FrameworkImportError
from evidence_app.frameworks import operations as framework_service
from evidence_app.web import db_session
from evidence_app.webui.helpers import get_or_404
from storage import CatalogEntry, Framework, ImportAnomaly, Indicator

bp = Blueprint("main", __name__)


#: outside experts work in their own area (evidence_app.review), not in the staff tree
EXPERT_HOME = "/expert"


@bp.get("/")
@require("home")
def index():
    if signed_in_user().role == "expert":
        return redirect(EXPERT_HOME)
    session = db_session()
    frameworks = framework_service.active_frameworks(session)
    overviews = [framework_overview(session, fw) for fw in frameworks]
    archived = (
        framework_service.archived_frameworks(session)
        if can(signed_in_user(), "frameworks_import")
        else []
    )
    return render_template(
        "main/index.html",
        overviews=overviews,
        archived=archived,
        steps=next_steps(session, signed_in_user()),
    )


@bp.get("/frameworks/<int:framework_id>")
@require("read")
def framework(framework_id: int):
    session = db_session()
    fw = get_or_404(Framework, framework_id)
    overview = framework_overview(session, fw)
    anomalies = list(
        session.scalars(
            select(ImportAnomaly)
            .where(ImportAnomaly.framework_id == fw.id)
            .order_by(ImportAnomaly.id)
        )
    )
    return render_template("main/framework.html", fw=fw, overview=overview, anomalies=anomalies)


@bp.get("/indicators/<int:indicator_id>")
@require("read")
def indicator(indicator_id: int):
    session = db_session()
    node = session.scalars(
        select(Indicator)
        .where(Indicator.id == indicator_id)
        .options(selectinload(Indicator.entries), selectinload(Indicator.children))
    ).first()
    if node is None:
        return render_template("errors/error.html", code=404, message="指标不存在。"), 404
    user = signed_in_user()
    scope = scoped_indicator_ids(session, user)
    may_upload = can(user, "upload") and (scope is None or node.id in scope)
    by_entry, direct = indicator_documents(session, node, readable_document_ids(session, user))
    ancestors: list[Indicator] = []
    parent = node.parent
    while parent is not None:
        ancestors.insert(0, parent)
        parent = parent.parent
    return render_template(
        "main/indicator.html",
        node=node,
        ancestors=ancestors,
        by_entry=by_entry,
        direct=direct,
        may_upload=may_upload,
    )


def _import_uploaded_table(upload: FileStorage) -> dict[str, Any]:
    """Import the table a page or API client uploaded (with the form's name and year)."""
    year = request.form.get("year", "").strip()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table"
        upload.save(path)
        return framework_service.import_framework_file(
            db_session(),
            path,
            name=request.form.get("name", "").strip() or None,
            year=int(year) if year.isdigit() and len(year) == 4 else None,
            user=acting_user(),
            source_name=upload.filename,
        )


@bp.route("/frameworks/import", methods=["GET", "POST"])
@require("frameworks_import")
def import_framework():
    if request.method == "GET":
        return render_template("main/import.html")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择指标表文件（DOCX、XLSX、CSV 或 PDF）。", "error")
        return render_template("main/import.html"), 400
    try:
        report = _import_uploaded_table(upload)
    except FrameworkImportError as e:
        db_session().rollback()
        flash(f"导入失败：{e}", "error")
        return render_template("main/import.html"), 400
    verb = "已导入" if report["created"] else "已更新"
    flash(
        f"{verb}指标体系“{report['name']}”：三级指标 {report['indicators']} 个，"
        f"佐证条目 {report['entries']} 条，发现 {len(report['anomalies'])} 处编号问题。",
        "success",
    )
    return redirect(url_for("main.framework", framework_id=report["framework_id"]))


@bp.app_template_global()
def entry_count(indicator: Indicator) -> int:
    return len(indicator.entries)


__all__ = ["bp", "CatalogEntry"]


# -- REST API (/api/v1) ----------------------------------------------------------------------


@api.get("/frameworks", endpoint="list_frameworks")
@require("read")
def api_list_frameworks():
    return jsonify({"frameworks": framework_service.list_frameworks(db_session())})


@api.post("/frameworks", endpoint="import_framework")
@require("frameworks_import")
def api_import_framework():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return jsonify({"error": "缺少文件字段 file"}), 400
    try:
        report = _import_uploaded_table(upload)
    except FrameworkImportError as e:
        db_session().rollback()
        return jsonify({"error": str(e)}), 400
    created = report.pop("created")
    return jsonify(report), 201 if created else 200


@api.get("/frameworks/<int:framework_id>", endpoint="show_framework")
@require("read")
def api_show_framework(framework_id: int):
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


# -- archive and delete (administrators) ----------------------------------------------------


@bp.post("/frameworks/<int:framework_id>/archive")
@require("frameworks_import")
def archive_framework(framework_id: int):
    fw = get_or_404(Framework, framework_id)
    if framework_service.archive_framework(db_session(), fw, acting_user()):
        flash(f"已归档指标体系“{fw.name}”：首页和搜索不再显示它及其材料，可随时恢复。", "success")
    return redirect(url_for("main.index"))


@bp.post("/frameworks/<int:framework_id>/unarchive")
@require("frameworks_import")
def unarchive_framework(framework_id: int):
    fw = get_or_404(Framework, framework_id)
    if framework_service.unarchive_framework(db_session(), fw, acting_user()):
        flash(f"已恢复指标体系“{fw.name}”。", "success")
    return redirect(url_for("main.index"))


@bp.route("/frameworks/<int:framework_id>/delete", methods=["GET", "POST"])
@require("frameworks_import")
def delete_framework(framework_id: int):
    session = db_session()
    fw = get_or_404(Framework, framework_id)
    summary = framework_service.deletion_summary(session, fw)
    if request.method == "GET":
        return render_template("frameworks/delete.html", fw=fw, summary=summary)
    try:
        framework_service.delete_framework(
            session, fw, acting_user(), confirm_name=request.form.get("confirm_name", "")
        )
    except framework_service.FrameworkDeleteError as e:
        flash(str(e), "error")
        return render_template("frameworks/delete.html", fw=fw, summary=summary), 400
    flash(f"已删除指标体系“{fw.name}”及其 {summary['documents']} 份材料。", "success")
    return redirect(url_for("main.index"))


def _archive_json(fw: Framework) -> dict[str, Any]:
    archived = fw.archived_at.isoformat(timespec="seconds") if fw.archived_at else None
    return {
        "id": fw.id,
        "name": fw.name,
        "archived": fw.archived_at is not None,
        "archived_at": archived,
    }


@api.post("/frameworks/<int:framework_id>/archive", endpoint="archive_framework")
@require("frameworks_import")
def api_archive_framework(framework_id: int):
    fw = get_or_404(Framework, framework_id)
    framework_service.archive_framework(db_session(), fw, acting_user())
    return jsonify(_archive_json(fw))


@api.post("/frameworks/<int:framework_id>/unarchive", endpoint="unarchive_framework")
@require("frameworks_import")
def api_unarchive_framework(framework_id: int):
    fw = get_or_404(Framework, framework_id)
    framework_service.unarchive_framework(db_session(), fw, acting_user())
    return jsonify(_archive_json(fw))


@api.delete("/frameworks/<int:framework_id>", endpoint="delete_framework")
@require("frameworks_import")
def api_delete_framework(framework_id: int):
    fw = get_or_404(Framework, framework_id)
    try:
        report = framework_service.delete_framework(
            db_session(), fw, acting_user(), confirm_name=request.args.get("confirm", "")
        )
    except framework_service.FrameworkDeleteError:
        return jsonify({"error": "请在参数 confirm 中给出指标体系的完整名称以确认删除"}), 400
    return jsonify(report)
