"""Use cases for users and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from evidence_app.admin import audit
from storage import ROLES, ApiToken, User, utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@\-\u4e00-\u9fff]{2,80}$")
MIN_PASSWORD = 8


class UserError(ValueError):
    """Invalid user input; the message is for the person who typed it."""


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    *,
    display_name: str = "",
    department: str = "",
    actor: User | None = None,
) -> User:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise UserError("用户名须为 2–80 个字母、数字、汉字或 _.@- 字符")
    if role not in ROLES:
        raise UserError(f"角色必须是 {', '.join(ROLES)} 之一")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 个字符")
    if session.scalars(select(User).where(User.username == username)).first():
        raise UserError(f"用户 {username} 已存在")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=generate_password_hash(password),
        role=role,
        department=department,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", user, username=username, role=role)
    return user


def set_password(session: Session, user: User, password: str, actor: User | None = None) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 个字符")
    user.password_hash = generate_password_hash(password)
    audit.record(session, actor, "user.password", user)


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    if user is None or not user.active:
        # spend the same time as a real check so user names cannot be probed
        check_password_hash(generate_password_hash("x"), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def get_user_by_name(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str = "", actor: User | None = None) -> str:
    """A new API token; only its hash is kept, so the token is shown this once."""
    token = "ev_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(user_id=user.id, name=name, token_hash=_hash_token(token), prefix=token[:10])
    )
    session.flush()
    audit.record(session, actor or user, "token.create", user, name=name, prefix=token[:10])
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalars(
        select(ApiToken).where(
            ApiToken.token_hash == _hash_token(token), ApiToken.revoked.is_(False)
        )
    ).first()
    if row is None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    return row.user
