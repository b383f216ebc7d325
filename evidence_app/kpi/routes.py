"""Indicator page sections for KPIs and scoring rules; staff enter measured values."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, request, url_for

from evidence_app.auth.permissions import scoped_indicator_ids
from evidence_app.auth.security import forbid, require, signed_in_user, wants_json
from evidence_app.kpi import operations as kpi_service
from evidence_app.kpi import scoring
from evidence_app.web import db_session
from evidence_app.webui.helpers import get_or_404
from storage import Indicator

bp = Blueprint("kpi", __name__)


@bp.post("/indicators/<int:indicator_id>/measurement")
@require("upload")
def measure(indicator_id: int):
    """Store the measured values (实际值, reference) of an indicator's scoring rule."""
    session = db_session()
    node = get_or_404(Indicator, indicator_id)
    user = signed_in_user()
    scope = scoped_indicator_ids(session, user)
    if scope is not None and node.id not in scope:
        forbid("upload")
    raw = {k: v for k, v in request.form.items() if k != "csrf_token"}
    if request.is_json:
        raw = dict(request.get_json(silent=True) or {})
    try:
        result = scoring.record_measurement(session, node, user, raw)
    except scoring.MeasurementError as e:
        session.rollback()
        if wants_json():
            return jsonify({"error": str(e)}), 400
        flash(str(e), "error")
        return redirect(url_for("main.indicator", indicator_id=indicator_id))
    if wants_json():
        return jsonify(_public(result))
    if result["points"] is None:
        missing = "、".join(result["missing"])
        flash(f"已保存。还需录入：{missing}" if missing else "已清除实际值。", "success")
    else:
        message = f"已保存实际值：按计分方法得 {result['points']:g} 分"
        if result["mismatch"] is not None:
            message += f"，与自评得分 {node.self_score:g} 分不符"
        flash(message + "。", "success")
    return redirect(url_for("main.indicator", indicator_id=indicator_id))


def _public(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "inputs"}


@bp.app_template_global()
def kpi_panel(node: Indicator) -> dict[str, Any]:
    """The KPI figures and the scoring-rule result for the indicator page."""
    return kpi_service.kpi_panel(db_session(), node)
