"""The expert's sign-in link, and the admin pages that invite and revoke experts."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from sqlalchemy import select

from evidence_app.admin import audit
from evidence_app.auth.security import limiter, require, signed_in_user
from evidence_app.experts.access import (
    ExpertError,
    end_of_access,
    expert_for_signin,
    expert_json,
    get_expert,
    invite_expert,
    list_experts,
    revoke_expert,
)
from evidence_app.frameworks.routes import EXPERT_HOME
from evidence_app.web import db_session, keep_changes
from evidence_app.webui.helpers import int_arg
from storage import Framework

bp = Blueprint("experts", __name__)

LINK_GONE = "此登录链接已失效（访问期限已过或已被管理员撤销）。如仍需评审，请联系学校管理员。"


@bp.route("/expert/signin/<secret>", methods=["GET", "POST"])
@limiter.limit("30 per minute", error_message="尝试过多，请一分钟后再试。")
def signin(secret: str):
    """GET shows who the link is for (link previews in chat apps must not sign anyone in);
    POST signs the expert in."""
    session = db_session()
    expert = expert_for_signin(session, secret[:100])
    if expert is None:
        return render_template("errors/error.html", code=410, message=LINK_GONE), 410
    if request.method == "GET":
        framework = session.get(Framework, expert.expert_framework_id or 0)
        return render_template("experts/signin.html", expert=expert, framework=framework)
    logout_user()  # whoever used this browser before
    login_user(expert)
    audit.record(session, expert, "expert.signin", expert)
    return redirect(EXPERT_HOME)


@bp.route("/admin/experts", methods=["GET", "POST"])
@require("users")
def manage():
    session = db_session()
    invitation = None
    if request.method == "POST":
        try:
            invitation = _invite_from_form(session)
        except ExpertError as e:
            session.rollback()
            flash(str(e), "error")
            return _page(session, None), 400
    return _page(session, invitation)


def _invite_from_form(session):
    framework_id = int_arg("framework_id", minimum=1)
    if framework_id is None:
        raise ExpertError("请选择指标体系")
    until = request.form.get("until", "").strip()
    days = int_arg("days", minimum=1)
    try:
        until_date = date.fromisoformat(until) if until else None
    except ValueError as e:
        raise ExpertError("截止日期格式应为 YYYY-MM-DD") from e
    codes = request.form.get("indicators", "").replace("，", ",").replace("、", ",")
    invitation = invite_expert(
        session,
        framework_id=framework_id,
        name=request.form.get("name", ""),
        expires_at=end_of_access(days=None if until_date else days, until=until_date),
        indicators=[c for c in codes.split(",") if c.strip()],
        can_download=not request.form.get("no_download"),
        lead=bool(request.form.get("lead")),
        actor=signed_in_user(),
    )
    return invitation.as_json(request.host_url)


def _page(session, invitation):
    frameworks = list(session.scalars(select(Framework).order_by(Framework.id.desc())))
    experts = [expert_json(session, e) for e in list_experts(session)]
    names = {fw.id: fw.name for fw in frameworks}
    return render_template(
        "experts/manage.html",
        frameworks=frameworks,
        experts=experts,
        framework_names=names,
        invitation=invitation,
    )


@bp.post("/admin/experts/<int:expert_id>/revoke")
@require("users")
def revoke(expert_id: int):
    session = db_session()
    expert = get_expert(session, expert_id)
    if expert is None:
        return render_template("errors/error.html", code=404, message="专家不存在。"), 404
    revoke_expert(session, expert, signed_in_user())
    keep_changes()
    flash(
        f"已撤销专家“{expert.display_name}”的访问：登录链接、会话和 API 令牌立即失效。", "success"
    )
    return redirect(url_for("experts.manage"))
