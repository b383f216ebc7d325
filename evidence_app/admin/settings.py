"""Settings an admin changes in the app (not the deployment's, which config.py reads).

Each is a row of the ``settings`` table (key, text); a key that has no row has its default.
The typed helpers below are the only way in, so that a value is always read the way it was
written.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from evidence_app.admin import audit
from storage import Setting, User

WATERMARK_ALL = "watermark_all"  # stamp every user's page images and downloads, not only experts'

DEFAULTS: dict[str, bool] = {WATERMARK_ALL: False}

_TRUE, _FALSE = "1", "0"


class SettingError(ValueError):
    """An unknown setting."""


def _check(key: str) -> bool:
    if key not in DEFAULTS:
        raise SettingError(f"没有名为 {key} 的设置")
    return DEFAULTS[key]


def get_bool(session: Session, key: str) -> bool:
    """The setting's value, or its default when it was never set."""
    default = _check(key)
    row = session.get(Setting, key)
    if row is None:
        return default
    return row.value == _TRUE


def set_bool(session: Session, key: str, value: bool, actor: User | None) -> bool:
    """Set a setting; records the change in the audit trail. Returns whether it changed."""
    _check(key)
    if get_bool(session, key) == value:
        return False
    row = session.get(Setting, key)
    if row is None:
        row = Setting(key=key)
        session.add(row)
    row.value = _TRUE if value else _FALSE
    session.flush()
    audit.record(session, actor, "setting.update", None, key=key, value=value)
    return True


def watermark_all(session: Session) -> bool:
    """Whether every user's views and downloads carry a stamp (experts' always do)."""
    return get_bool(session, WATERMARK_ALL)


def set_watermark_all(session: Session, on: bool, actor: User | None) -> bool:
    return set_bool(session, WATERMARK_ALL, on, actor)
