"""User management (admins), the audit trail (admins, auditors), one's own account and tokens."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import login_user
from sqlalchemy import Select, Table, func, select

from evidence_app.admin import audit
from evidence_app.admin import settings as settings_service
from evidence_app.admin.audit_export import write_audit_xlsx
from evidence_app.auth import users as user_service
from evidence_app.auth.permissions import ROLE_LABELS
from evidence_app.auth.security import acting_user, require, signed_in_user
from evidence_app.web import db_session
from evidence_app.webui.helpers import get_or_404, int_arg
from storage import STAFF_ROLES, ApiToken, AuditLog, Indicator, User, UserAssignment

bp = Blueprint("admin", __name__)

AUDIT_PER_PAGE = 50


@bp.route("/admin/users", methods=["GET", "POST"])
@require("users")
def users():
    session = db_session()
    if request.method == "POST":
        try:
            user_service.create_user(
                session,
                request.form.get("username", ""),
                request.form.get("password", ""),
                request.form.get("role", ""),
                display_name=request.form.get("display_name", "").strip(),
                department=request.form.get("department", "").strip(),
                actor=acting_user(),
            )
        except user_service.UserError as e:
            session.rollback()
            flash(str(e), "error")
        else:
            flash("用户已创建。", "success")
        return redirect(url_for("admin.users"))
    return render_template(
        "admin/users.html",
        users=user_service.list_users(session),
        roles=STAFF_ROLES,
        role_labels=ROLE_LABELS,
    )


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@require("users")
def user_detail(user_id: int):
    session = db_session()
    user = get_or_404(User, user_id)
    if user.role == "expert":  # invited for a framework and a period: managed there
        return redirect(url_for("experts.manage"))
    if request.method == "POST":
        action = request.form.get("action", "")
        actor = signed_in_user()
        if action == "update":
            role = request.form.get("role", user.role)
            if role in STAFF_ROLES:
                user.role = role
            user.display_name = request.form.get("display_name", user.display_name).strip()[:120]
            user.department = request.form.get("department", user.department).strip()[:120]
            user.limited_scope = bool(request.form.get("limited_scope"))
            if user.id == actor.id and (user.role != "admin" or not user.active):
                session.rollback()
                flash("不能取消自己的管理员权限。", "error")
                return redirect(url_for("admin.user_detail", user_id=user.id))
            audit.record(
                session,
                actor,
                "user.update",
                user,
                role=user.role,
                limited_scope=user.limited_scope,
            )
            if user_service.access_changed(user):
                user_service.end_sessions(session, user, actor, "access")
        elif action == "toggle_active":
            if user.id == actor.id:
                flash("不能停用自己的账号。", "error")
                return redirect(url_for("admin.user_detail", user_id=user.id))
            user.active = not user.active
            audit.record(
                session, actor, "user.activate" if user.active else "user.deactivate", user
            )
            user_service.end_sessions(session, user, actor, "access")
        elif action == "end_sessions":
            revoked = user_service.revoke_tokens(session, user, actor)
            user_service.end_sessions(session, user, actor, "admin")
            flash(f"已使该用户的所有登录失效，并吊销 {revoked} 个 API 令牌。", "success")
        elif action == "password":
            try:
                user_service.set_password(session, user, request.form.get("password", ""), actor)
            except user_service.UserError as e:
                session.rollback()
                flash(str(e), "error")
                return redirect(url_for("admin.user_detail", user_id=user.id))
        elif action == "assign":
            codes = [
                c.strip()
                for c in request.form.get("codes", "").replace("，", ",").split(",")
                if c.strip()
            ]
            assignments = UserAssignment.__table__
            assert isinstance(assignments, Table)
            session.execute(assignments.delete().where(UserAssignment.user_id == user.id))
            missing = []
            for code in codes:
                found = session.scalars(select(Indicator).where(Indicator.code == code)).all()
                if not found:
                    missing.append(code)
                for indicator in found:
                    session.add(UserAssignment(user_id=user.id, indicator_id=indicator.id))
            audit.record(session, actor, "user.assign", user, codes=codes)
            if missing:
                flash(f"以下编号没有对应的指标：{'、'.join(missing)}", "error")
        flash("已保存。", "success")
        return redirect(url_for("admin.user_detail", user_id=user.id))
    assigned = list(
        session.scalars(
            select(Indicator)
            .join(UserAssignment, UserAssignment.indicator_id == Indicator.id)
            .where(UserAssignment.user_id == user.id)
            .order_by(Indicator.position)
        )
    )
    return render_template(
        "admin/user.html", user=user, roles=STAFF_ROLES, role_labels=ROLE_LABELS, assigned=assigned
    )


@bp.route("/admin/settings", methods=["GET", "POST"])
@require("users")
def settings():
    """Settings admins change in the app: for now, watermarks on everyone's views."""
    session = db_session()
    if request.method == "POST":
        on = request.form.get("watermark_all") == "1"
        if settings_service.set_watermark_all(session, on, signed_in_user()):
            flash(
                "已开启：所有用户查看和下载的页面都将加盖本人姓名水印。"
                if on
                else "已关闭全员水印（外部评估专家的页面仍加盖水印）。",
                "success",
            )
        return redirect(url_for("admin.settings"))
    return render_template(
        "admin/settings.html", watermark_all=settings_service.watermark_all(session)
    )


@bp.get("/admin/audit")
@require("audit_log")
def audit_log():
    session = db_session()
    page = int_arg("page", 1, minimum=1) or 1
    action = request.args.get("action", "").strip()[:60]
    username = request.args.get("user", "").strip()[:80]
    stmt = _audit_query()
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = list(
        session.scalars(
            stmt.order_by(AuditLog.id.desc())
            .offset((page - 1) * AUDIT_PER_PAGE)
            .limit(AUDIT_PER_PAGE)
        )
    )
    user_ids = {r.object_id for r in rows if r.object_type == "user" and r.object_id}
    names: dict[int, str] = {}
    if user_ids:
        found = session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
        names = {row.id: row.username for row in found}
    pages = max(1, (total + AUDIT_PER_PAGE - 1) // AUDIT_PER_PAGE)
    return render_template(
        "admin/audit.html",
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        action=action,
        username=username,
        date_from=request.args.get("from", "")[:10],
        date_to=request.args.get("to", "")[:10],
        user_names=names,
        action_labels=audit.ACTION_LABELS,
        detail_labels=audit.DETAIL_LABELS,
        object_pages=audit.OBJECT_PAGES,
        object_labels=audit.OBJECT_LABELS,
    )


def _audit_query() -> Select[Any]:
    """The audit rows the page's filters (?action=, ?user=, ?from=, ?to=) select."""
    action = request.args.get("action", "").strip()[:60]
    username = request.args.get("user", "").strip()[:80]
    since = _beijing_day(request.args.get("from", ""))
    until = _beijing_day(request.args.get("to", ""))
    stmt = select(AuditLog)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action))
    if username:
        stmt = stmt.where(AuditLog.username == username)
    if since is not None:
        stmt = stmt.where(AuditLog.at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.at < until + timedelta(days=1))
    return stmt


@bp.get("/admin/audit.xlsx")
@require("audit_log")
def audit_export():
    """The filtered audit log as a workbook; the export itself is audited."""
    session = db_session()
    buffer = io.BytesIO()
    written = write_audit_xlsx(session, _audit_query(), buffer)
    audit.record(
        session,
        acting_user(),
        "audit.export",
        None,
        rows=written,
        filters={
            k: v[:60] for k, v in request.args.items() if k in ("action", "user", "from", "to")
        },
    )
    buffer.seek(0)
    return send_file(
        buffer,
        as_attachment=True,
        download_name=f"操作日志-{date.today().isoformat()}.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _beijing_day(value: str) -> datetime | None:
    """The start of a Beijing-time day (YYYY-MM-DD) as a stored (UTC) time; None if blank
    or not a date."""
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
    return datetime.combine(day, datetime.min.time()) - timedelta(hours=8)


@bp.route("/account", methods=["GET", "POST"])
@require("tokens")
def account():
    session = db_session()
    user = acting_user()
    new_token = None
    if request.method == "POST":
        action = request.form.get("action")
        if action == "create_token":
            new_token = user_service.create_token(
                session, user, request.form.get("name", "").strip()[:120]
            )
        elif action == "revoke_token":
            token = session.get(ApiToken, int_arg("token_id") or 0)
            if token is not None and token.user_id == user.id:
                token.revoked = True
                audit.record(session, user, "token.revoke", user, prefix=token.prefix)
                flash("令牌已吊销。", "success")
            return redirect(url_for("admin.account"))
        elif action == "password":
            if (
                user_service.authenticate(
                    session, user.username, request.form.get("old_password", "")
                )
                is None
            ):
                flash("原密码不正确。", "error")
            else:
                try:
                    user_service.set_password(session, user, request.form.get("password", ""), user)
                    login_user(user)  # this browser stays signed in; every other session ends
                    flash("密码已修改，其他设备上的登录已失效。", "success")
                except user_service.UserError as e:
                    session.rollback()
                    flash(str(e), "error")
            return redirect(url_for("admin.account"))
    tokens = list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )
    return render_template(
        "admin/account.html", user=user, tokens=tokens, new_token=new_token, role_labels=ROLE_LABELS
    )
