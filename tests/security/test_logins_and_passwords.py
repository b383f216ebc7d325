"""Passwords: short, common and guessable ones are refused with a clear reason. Logins:
throttled per client across accounts and per account across clients; an unknown user name
costs the same work as a known one (no user enumeration by timing)."""

from __future__ import annotations

import pytest

from evidence_app.auth import users
from tests.factories import PASSWORD

WEAK = ["12345678", "password", "qwertyuiop", "88888888", "aaaaaaab", "newbie2026", "1234"]


@pytest.mark.parametrize("password", WEAK)
def test_weak_passwords_are_refused_everywhere(app, invoke, make_user, login, password) -> None:
    result = invoke("user", "add", "newbie", "--role", "staff", "--password-stdin", input=password)
    assert result.exit_code == 1
    assert result.output.startswith("错误：密码")
    admin = login(make_user("admin"))
    response = admin.post(
        "/admin/users",
        data={"username": "newbie", "password": password, "role": "staff"},
        follow_redirects=True,
    )
    assert "密码" in response.get_data(as_text=True)
    assert invoke("user", "list", "--json").output.count('"newbie"') == 0
    user = make_user("reviewer", "newbie")
    client = login(user)
    page = client.post(
        "/account",
        data={"action": "password", "old_password": PASSWORD, "password": password},
        follow_redirects=True,
    )
    assert "密码" in page.get_data(as_text=True)
    assert login(user)  # the old password still works


def test_a_good_password_is_accepted(invoke) -> None:
    result = invoke(
        "user", "add", "zhang", "--role", "staff", "--password-stdin", input="秋天的银杏-2026"
    )
    assert result.exit_code == 0, result.output


def _attempt(app, username: str, address: str):
    client = app.test_client()
    return client.post(
        "/login",
        data={"username": username, "password": "wrong-password-1"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_one_client_trying_many_accounts_is_throttled(app) -> None:
    statuses = [_attempt(app, f"user{n}", "127.0.0.7").status_code for n in range(31)]
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429
    assert _attempt(app, "someone", "127.0.0.8").status_code == 401  # another client is not


def test_many_clients_trying_one_account_are_throttled(app, make_user) -> None:
    make_user("admin")
    statuses = [_attempt(app, "admin", f"127.0.1.{n}").status_code for n in range(31)]
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429


def test_unknown_and_known_users_cost_one_hash_check(app, make_user, monkeypatch) -> None:
    make_user("staff")
    calls: list[str] = []
    real_check = users.check_password_hash
    monkeypatch.setattr(
        users, "check_password_hash", lambda h, p: calls.append("check") or real_check(h, p)
    )
    monkeypatch.setattr(users, "generate_password_hash", lambda p: calls.append("generate"))
    for name in ("staff", "nobody-here"):
        calls.clear()
        assert _attempt(app, name, "127.0.2.1").status_code == 401
        assert calls == ["check"], name
