"""Login sessions end on the server: logout, a password reset, a change of role or scope, a
deactivation or an admin's "force logout" make every copy of the session cookie useless."""

from __future__ import annotations

from typing import Any

from tests.factories import PASSWORD


def _copy_session(app: Any, client: Any) -> Any:
    """Another browser holding the same session cookie (copied, stolen)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def _signed_in(client: Any) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_logout_ends_a_copied_session(app, make_user, login) -> None:
    user = make_user("staff")
    client = login(user)
    copy = _copy_session(app, client)
    assert _signed_in(copy)
    assert client.post("/logout").status_code == 302
    assert not _signed_in(copy)
    assert copy.get("/").headers["Location"].startswith("/login")
    assert not _signed_in(client)


def test_a_password_reset_by_an_admin_ends_the_users_sessions(app, make_user, login) -> None:
    user = make_user("staff")
    admin = login(make_user("admin"))
    victim = login(user)
    assert _signed_in(victim)
    response = admin.post(
        f"/admin/users/{user.id}", data={"action": "password", "password": "another-horse-7"}
    )
    assert response.status_code == 302
    assert not _signed_in(victim)
    assert _signed_in(admin)  # the admin's own session is untouched


def test_changing_ones_own_password_keeps_this_browser_only(app, make_user, login) -> None:
    user = make_user("reviewer")
    client = login(user)
    elsewhere = _copy_session(app, client)
    response = client.post(
        "/account",
        data={"action": "password", "old_password": PASSWORD, "password": "another-horse-7"},
    )
    assert response.status_code == 302
    assert _signed_in(client)
    assert not _signed_in(elsewhere)


def test_role_scope_and_deactivation_end_sessions(app, make_user, login) -> None:
    user = make_user("staff")
    admin = login(make_user("admin"))
    for change in (
        {"action": "update", "role": "auditor", "display_name": "", "department": ""},
        {"action": "update", "role": "auditor", "limited_scope": "1"},
        {"action": "toggle_active"},
    ):
        client = login(user) if change["action"] != "toggle_active" else None
        if client is None:  # a session from before the deactivation
            client = login(user)
        assert _signed_in(client)
        assert admin.post(f"/admin/users/{user.id}", data=change).status_code == 302
        assert not _signed_in(client), change


def test_an_unchanged_profile_keeps_the_session(app, make_user, login) -> None:
    user = make_user("staff", display_name="张三")
    admin = login(make_user("admin"))
    client = login(user)
    data = {"action": "update", "role": "staff", "display_name": "张三老师", "department": "教务处"}
    assert admin.post(f"/admin/users/{user.id}", data=data).status_code == 302
    assert _signed_in(client)


def test_force_logout_revokes_sessions_and_api_tokens(app, make_user, login, token_for) -> None:
    user = make_user("staff")
    admin = login(make_user("admin"))
    client = login(user)
    headers = token_for(user)
    api = app.test_client()
    assert api.get("/api/v1/frameworks", headers=headers).status_code == 200
    response = admin.post(f"/admin/users/{user.id}", data={"action": "end_sessions"})
    assert response.status_code == 302
    assert not _signed_in(client)
    assert api.get("/api/v1/frameworks", headers=headers).status_code == 401


def test_a_session_id_without_its_generation_is_refused(app, make_user) -> None:
    """A cookie written before session generations existed (user id only) signs nobody in."""
    user = make_user("staff")
    client = app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = str(user.id)
        s["_fresh"] = True
    assert not _signed_in(client)
    with client.session_transaction() as s:
        s["_user_id"] = f"{user.id}:0"
    assert _signed_in(client)
