"""Use cases for users and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from evidence_app.admin import audit
from storage import ROLES, ApiToken, User, utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@\-\u4e00-\u9fff]{2,80}$")
MIN_PASSWORD = 8


class UserError(ValueError):
    """Invalid user input; the message is for the person who typed it."""


#: checked for unknown users: the same work as checking a real password
_DUMMY_HASH = generate_password_hash("not a password: " + "0" * 16)


def _common_passwords() -> frozenset[str]:
    text = (Path(__file__).with_name("common_passwords.txt")).read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


COMMON_PASSWORDS = _common_passwords()
_KEYBOARD = "1234567890 qwertyuiop asdfghjkl zxcvbnm abcdefghijklmnopqrstuvwxyz"


def check_password_policy(password: str, username: str = "") -> None:
    """Refuse short, common and guessable passwords (UserError with the reason in Chinese)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 个字符")
    if len(password) > 200:
        raise UserError("密码不能超过 200 个字符")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) <= 2:
        raise UserError("密码过于常见或简单，请换一个更难猜的密码（例如几个词加数字）")
    runs = (_KEYBOARD, _KEYBOARD[::-1])
    if any(lowered in row for row in runs):
        raise UserError("密码不能是连续的数字、字母或键盘序列")
    if username and username.lower() in lowered:
        raise UserError("密码不能包含用户名")


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
    check_password_policy(password, username)
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
    """A new password; every login session of the user ends with the old one."""
    check_password_policy(password, user.username)
    user.password_hash = generate_password_hash(password)
    audit.record(session, actor, "user.password", user)
    end_sessions(session, user, actor, "password")


def end_sessions(session: Session, user: User, actor: User | None, reason: str) -> None:
    """End every login session of ``user`` (all browsers, remember-me cookies included)."""
    user.session_generation = (user.session_generation or 0) + 1
    audit.record(session, actor, "user.sessions_ended", user, reason=reason)


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    if user is None or not user.active:
        # one hash check, as for a real user, so that user names cannot be probed by timing
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def get_user_by_name(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    user: User,
    name: str = "",
    actor: User | None = None,
    *,
    purpose: str = "api",
    expires_at: datetime | None = None,
) -> str:
    """A new API token (or sign-in link secret); only its hash is kept, so the token is
    shown this once."""
    token = ("ev_" if purpose == "api" else "in_") + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=_hash_token(token),
            prefix=token[:10],
            purpose=purpose,
            expires_at=expires_at,
        )
    )
    session.flush()
    audit.record(session, actor or user, "token.create", user, name=name, prefix=token[:10])
    return token


def token_row(session: Session, token: str, purpose: str = "api") -> ApiToken | None:
    """The valid token row for a secret: not revoked, not expired, of an active user whose
    period has not ended; None otherwise (checked on every request)."""
    row = session.scalars(
        select(ApiToken).where(
            ApiToken.token_hash == _hash_token(token),
            ApiToken.revoked.is_(False),
            ApiToken.purpose == purpose,
        )
    ).first()
    if row is None or not row.user.is_active:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    return row


def user_for_token(session: Session, token: str) -> User | None:
    row = token_row(session, token)
    if row is None:
        return None
    row.last_used_at = utcnow()
    return row.user


def access_changed(user: User) -> bool:
    """Whether this unit changed what the user may see (role or scope): their sessions end."""
    state = inspect(user)
    return any(state.attrs[name].history.has_changes() for name in ("role", "limited_scope"))


def revoke_tokens(session: Session, user: User, actor: User | None) -> int:
    """Revoke every API token of ``user``; how many were still valid."""
    tokens = [t for t in user.tokens if not t.revoked]
    for token in tokens:
        token.revoked = True
    audit.record(session, actor, "token.revoke_all", user, count=len(tokens))
    return len(tokens)
