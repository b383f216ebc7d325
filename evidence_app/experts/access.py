"""Inviting, listing and revoking outside experts.

An expert is a user with role ``expert``: no password anyone knows, a framework
(``expert_framework_id``), optionally some of its indicators (assignments, as for limited
staff), an end of access (``expires_at``), whether downloads are allowed, whether they lead
the group. The invitation gives two secrets valid until the same end: a sign-in link (an
``ApiToken`` of purpose ``signin``) and an API token. Both stop at the end, and at
revocation, on the next request (``User.is_active`` is checked by the session loader and
the token lookup).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from evidence_app.admin import audit
from evidence_app.auth.users import create_token, end_sessions, revoke_tokens, token_row
from storage import Framework, Indicator, User, UserAssignment, utcnow

CHINA = timezone(timedelta(hours=8))  # the assessment calendar's days end at 24:00 北京时间
MAX_DAYS = 366


class ExpertError(ValueError):
    """An invitation that cannot be made; the message (Chinese) says why."""


@dataclass(frozen=True)
class Invitation:
    expert: User
    signin_secret: str
    api_token: str
    expires_at: datetime  # UTC, naive like every stored time

    def as_json(self, base_url: str) -> dict[str, object]:
        return {
            "expert_id": self.expert.id,
            "url": signin_url(base_url, self.signin_secret),
            "token": self.api_token,
            "expires_at": self.expires_at.replace(tzinfo=UTC).isoformat(),
        }


UTC = UTC


def signin_url(base_url: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}/expert/signin/{secret}"


def end_of_access(*, days: int | None = None, until: date | None = None) -> datetime:
    """When access ends (UTC): ``days`` from now, or the end of ``until`` in Beijing time."""
    if (days is None) == (until is None):
        raise ExpertError("请指定有效天数（--days）或截止日期（--until）其中之一")
    now = utcnow()
    if days is not None:
        if not 1 <= days <= MAX_DAYS:
            raise ExpertError(f"有效天数须在 1–{MAX_DAYS} 天之间")
        return now + timedelta(days=days)
    assert until is not None
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), CHINA)
    ends = end.astimezone(UTC).replace(tzinfo=None)
    if ends <= now:
        raise ExpertError(f"截止日期 {until:%Y-%m-%d} 已过")
    if ends > now + timedelta(days=MAX_DAYS):
        raise ExpertError(f"访问期限最长 {MAX_DAYS} 天")
    return ends


def invite_expert(
    session: Session,
    *,
    framework_id: int,
    name: str,
    expires_at: datetime,
    indicators: list[str] | None = None,
    can_download: bool = True,
    lead: bool = False,
    actor: User | None = None,
) -> Invitation:
    """Create the expert's account, sign-in link and API token."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= 60:
        raise ExpertError("专家姓名须为 1–60 个字符")
    framework = session.get(Framework, framework_id)
    if framework is None:
        raise ExpertError(f"指标体系 {framework_id} 不存在")
    roots = _indicators_by_code(session, framework_id, indicators or [])
    expert = User(
        username=f"expert-{secrets.token_hex(4)}",
        display_name=name,
        password_hash=generate_password_hash(secrets.token_urlsafe(32)),  # never told
        role="expert",
        limited_scope=bool(roots),
        expires_at=expires_at,
        expert_framework_id=framework_id,
        can_download=can_download,
        is_lead=lead,
    )
    session.add(expert)
    session.flush()
    for indicator in roots:
        session.add(UserAssignment(user_id=expert.id, indicator_id=indicator.id))
    signin = create_token(
        session, expert, "专家登录链接", actor, purpose="signin", expires_at=expires_at
    )
    token = create_token(session, expert, "专家 API 令牌", actor, expires_at=expires_at)
    audit.record(
        session,
        actor,
        "expert.invite",
        expert,
        name=name,
        framework=framework_id,
        indicators=[i.code for i in roots],
        expires_at=expires_at.isoformat(timespec="seconds"),
        can_download=can_download,
        lead=lead,
    )
    return Invitation(expert, signin, token, expires_at)


def _indicators_by_code(session: Session, framework_id: int, codes: list[str]) -> list[Indicator]:
    wanted = [c.strip() for c in codes if c.strip()]
    if not wanted:
        return []
    found = {
        i.code: i
        for i in session.scalars(
            select(Indicator).where(
                Indicator.framework_id == framework_id, Indicator.code.in_(wanted)
            )
        )
    }
    missing = [c for c in wanted if c not in found]
    if missing:
        raise ExpertError(f"指标体系中没有这些指标：{'、'.join(missing)}")
    return [found[c] for c in dict.fromkeys(wanted)]


def revoke_expert(session: Session, expert: User, actor: User | None) -> None:
    """End the expert's access now: sessions, sign-in link and tokens stop working."""
    if expert.role != "expert":
        raise ExpertError(f"用户 {expert.username} 不是评估专家")
    expert.active = False
    end_sessions(session, expert, actor, "expert_revoked")
    revoke_tokens(session, expert, actor)
    audit.record(session, actor, "expert.revoke", expert, name=expert.display_name)


def get_expert(session: Session, expert_id: int) -> User | None:
    user = session.get(User, expert_id)
    return user if user is not None and user.role == "expert" else None


def list_experts(session: Session, framework_id: int | None = None) -> list[User]:
    stmt = select(User).where(User.role == "expert").order_by(User.id.desc())
    if framework_id is not None:
        stmt = stmt.where(User.expert_framework_id == framework_id)
    return list(session.scalars(stmt))


def expert_json(session: Session, expert: User) -> dict[str, object]:
    codes = session.scalars(
        select(Indicator.code)
        .join(UserAssignment, UserAssignment.indicator_id == Indicator.id)
        .where(UserAssignment.user_id == expert.id)
        .order_by(Indicator.id)
    )
    return {
        "expert_id": expert.id,
        "name": expert.display_name,
        "framework_id": expert.expert_framework_id,
        "indicators": list(codes),
        "expires_at": (
            expert.expires_at.replace(tzinfo=UTC).isoformat() if expert.expires_at else None
        ),
        "active": expert.is_active,
        "revoked": not expert.active,
        "can_download": expert.can_download,
        "lead": expert.is_lead,
    }


def expert_for_signin(session: Session, secret: str) -> User | None:
    """The expert a sign-in link names, while it is valid."""
    row = token_row(session, secret, purpose="signin")
    if row is None or row.user.role != "expert":
        return None
    row.last_used_at = utcnow()
    return row.user
