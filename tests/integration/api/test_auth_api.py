"""The account routes over HTTP (``/api/v1/auth``, ``/api/v1/me``) on SQLite and PostgreSQL, with email through a
real local SMTP server.

Bad input tried: a weak password, a malformed address, an address already taken, unknown body fields, a wrong
password six times (lock), a missing / malformed / forged bearer token, a reused refresh token, a wrong current
password, an unknown time zone, a two-factor code that is not one, an API key used to manage the account, another
user's API key id, a revoked key, a deactivated account's token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from tests.integration.accounts.conftest import SmtpInbox, smtp_server
from tests.integration.api.conftest import PASSWORD, Api, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error

from tsbot.accounts.models import OPERATOR, Role
from tsbot.apps.api import auth

PUBLIC_URL = "https://tsbot.test"
NEW_PASSWORD = "a much longer passphrase 2026"


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    with smtp_server() as box:
        yield box


def _mail_settings(inbox: SmtpInbox) -> dict[str, Any]:
    return {
        "email": {"host": "127.0.0.1", "port": inbox.port, "sender": "tsbot@tsbot.test", "timeout_s": 5},
        "api": {"public_url": PUBLIC_URL},
        "security": {"encryption_keys": [Fernet.generate_key().decode()]},
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(api: Api, email: str, password: str = PASSWORD, **extra: str) -> dict[str, Any]:
    answer = await api.client.post("/api/v1/auth/login", json={"email": email, "password": password, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_register_confirm_sign_in_refresh_and_sign_out(serve: Serve, inbox: SmtpInbox) -> None:
    async with serve(**_mail_settings(inbox)) as api:
        answer = await api.client.post(
            "/api/v1/auth/register",
            json={"email": "Ann@Example.com", "password": PASSWORD, "display_name": "Ann"},
        )
        assert answer.status_code == 201, answer.text
        user = answer.json()
        assert (user["email"], user["role"], user["email_verified"]) == ("ann@example.com", "viewer", False)
        assert "password" not in answer.text and "hash" not in answer.text

        refused = await api.client.post(
            "/api/v1/auth/login", json={"email": "ann@example.com", "password": PASSWORD}
        )
        assert_error(refused, 403, "email_not_verified")

        token = inbox.token("verify-email")
        verified = await api.client.post("/api/v1/auth/verify-email", json={"token": token})
        assert verified.json()["email_verified"] is True
        again = await api.client.post("/api/v1/auth/verify-email", json={"token": token})
        assert_error(again, 401, "unauthorized")

        tokens = await _login(api, "ann@example.com")
        assert tokens["token_type"] == "bearer" and 0 < tokens["expires_in"] <= 30 * 60
        me = await api.client.get("/api/v1/me", headers=_bearer(tokens["access_token"]))
        assert me.status_code == 200 and me.json()["permissions"] == sorted(
            ["read_bots", "read_market", "read_orders", "read_portfolio", "read_signals"]
        )

        rotated = await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert rotated.status_code == 200
        new = rotated.json()
        assert new["refresh_token"] != tokens["refresh_token"] and new["session_id"] == tokens["session_id"]

        reused = await api.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert_error(reused, 401, "unauthorized")
        # Reuse ends the whole session: the pair handed out by the rotation stops working too.
        ended = await api.client.get("/api/v1/me", headers=_bearer(new["access_token"]))
        assert_error(ended, 401, "unauthorized")

        fresh = await _login(api, "ann@example.com")
        out = await api.client.post("/api/v1/auth/logout", json={"refresh_token": fresh["refresh_token"]})
        assert out.status_code == 204
        after = await api.client.get("/api/v1/me", headers=_bearer(fresh["access_token"]))
        assert_error(after, 401, "unauthorized")


async def test_registration_refuses_bad_input(serve: Serve, inbox: SmtpInbox) -> None:
    async with serve(**_mail_settings(inbox)) as api:
        post = api.client.post
        weak = await post("/api/v1/auth/register", json={"email": "bob@example.com", "password": "abc"})
        assert_error(weak, 422, "invalid_data")
        malformed = await post("/api/v1/auth/register", json={"email": "bob@", "password": PASSWORD})
        assert_error(malformed, 422, "validation_error")
        unknown = await post(
            "/api/v1/auth/register", json={"email": "bob@example.com", "password": PASSWORD, "role": "admin"}
        )
        assert_error(unknown, 422, "validation_error")
        first = await post("/api/v1/auth/register", json={"email": "bob@example.com", "password": PASSWORD})
        assert first.status_code == 201
        taken = await post("/api/v1/auth/register", json={"email": "BOB@example.com", "password": PASSWORD})
        assert_error(taken, 409, "email_taken")


async def test_password_reset_by_email_ends_sessions(serve: Serve, inbox: SmtpInbox) -> None:
    async with serve(**_mail_settings(inbox)) as api:
        caller = await sign_in(api, Role.TRADER, email="cy@example.com")
        unknown = await api.client.post("/api/v1/auth/password/forgot", json={"email": "nobody@example.com"})
        known = await api.client.post("/api/v1/auth/password/forgot", json={"email": "cy@example.com"})
        assert unknown.status_code == known.status_code == 202 and unknown.json() == known.json()
        token = inbox.token("reset-password", to="cy@example.com")
        reset = await api.client.post(
            "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert reset.status_code == 200
        assert_error(await api.client.get("/api/v1/me", headers=caller.headers), 401, "unauthorized")
        await _login(api, "cy@example.com", NEW_PASSWORD)


async def test_wrong_passwords_lock_the_account_with_retry_after(serve: Serve) -> None:
    async with serve() as api:
        await sign_in(api, Role.VIEWER, email="dee@example.com")
        for _ in range(5):
            wrong = await api.client.post(
                "/api/v1/auth/login", json={"email": "dee@example.com", "password": "not it at all"}
            )
            assert_error(wrong, 401, "unauthorized")
            assert wrong.headers["www-authenticate"] == "Bearer"
        locked = await api.client.post(
            "/api/v1/auth/login", json={"email": "dee@example.com", "password": PASSWORD}
        )
        assert_error(locked, 429, "too_many_failed_sign_ins")
        assert 1 <= int(locked.headers["retry-after"]) <= 15 * 60 + 1


async def test_token_form_signs_in_for_openapi_clients(serve: Serve) -> None:
    async with serve() as api:
        caller = await sign_in(api, Role.VIEWER)
        form = await api.client.post(
            "/api/v1/auth/token", data={"username": caller.user.email, "password": PASSWORD}
        )
        assert form.status_code == 200 and form.json()["token_type"] == "bearer"
        me = await api.client.get("/api/v1/me", headers=_bearer(form.json()["access_token"]))
        assert me.json()["id"] == caller.user.id
        schema = (await api.client.get("/api/v1/openapi.json")).json()
        flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
        assert flows["password"]["tokenUrl"] == "/api/v1/auth/token"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("Basic dXNlcjpwYXNz", "not a bearer token"),
        ("Bearer ", "empty"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.Zm9yZ2Vk", "forged JWT"),
        ("Bearer tsb_made-up-key", "made-up API key"),
    ],
)
async def test_bad_credentials_are_401_with_www_authenticate(
    serve: Serve, header: str | None, why: str
) -> None:
    async with serve() as api:
        answer = await api.client.get("/api/v1/me", headers={"Authorization": header} if header else {})
        assert_error(answer, 401, "unauthorized")
        assert answer.headers["www-authenticate"] == "Bearer", why


async def test_profile_password_and_two_factor(serve: Serve, inbox: SmtpInbox) -> None:
    async with serve(**_mail_settings(inbox)) as api:
        caller = await sign_in(api, Role.TRADER, email="eve@example.com")
        other_session = await _login(api, "eve@example.com")
        h = caller.headers

        changed = await api.client.patch(
            "/api/v1/me", headers=h, json={"time_zone": "Europe/Berlin", "notifications": {"email": True}}
        )
        assert changed.json()["preferences"]["time_zone"] == "Europe/Berlin"
        bad_zone = await api.client.patch("/api/v1/me", headers=h, json={"time_zone": "Mars/Olympus"})
        assert_error(bad_zone, 422, "invalid_data")

        wrong = await api.client.post(
            "/api/v1/me/password", headers=h, json={"current_password": "nope", "new_password": NEW_PASSWORD}
        )
        assert_error(wrong, 401, "unauthorized")
        ok = await api.client.post(
            "/api/v1/me/password",
            headers=h,
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        assert ok.status_code == 200
        assert (await api.client.get("/api/v1/me", headers=h)).status_code == 200  # this session stays
        assert_error(
            await api.client.get("/api/v1/me", headers=_bearer(other_session["access_token"])),
            401,
            "unauthorized",
        )

        setup = (await api.client.post("/api/v1/me/2fa/setup", headers=h)).json()
        assert setup["uri"].startswith("otpauth://totp/")
        not_a_code = await api.client.post("/api/v1/me/2fa/confirm", headers=h, json={"code": "12ab"})
        assert_error(not_a_code, 422, "validation_error")
        codes = await api.client.post(
            "/api/v1/me/2fa/confirm", headers=h, json={"code": pyotp.TOTP(setup["secret"]).now()}
        )
        recovery = codes.json()["codes"]
        assert len(recovery) == 10
        status = (await api.client.get("/api/v1/me/2fa", headers=h)).json()
        assert status == {"enabled": True, "recovery_codes_left": 10}

        no_code = await api.client.post(
            "/api/v1/auth/login", json={"email": "eve@example.com", "password": NEW_PASSWORD}
        )
        assert_error(no_code, 401, "unauthorized")
        assert "two-factor" in no_code.json()["message"]
        # The authenticator's code of this 30-second step was spent on the confirmation: a recovery code signs in.
        await _login(api, "eve@example.com", NEW_PASSWORD, totp_code=recovery[0])
        history = (await api.client.get("/api/v1/me/logins", headers=h)).json()
        assert [e["outcome"] for e in history[:2]] == ["success", "totp_required"]


async def test_api_keys_are_shown_once_and_cannot_manage_the_account(serve: Serve) -> None:
    async with serve() as api:
        caller = await sign_in(api, Role.TRADER)
        other = await sign_in(api, Role.TRADER)
        created = await api.client.post(
            "/api/v1/me/api-keys", headers=caller.headers, json={"name": "bot", "scopes": ["read_signals"]}
        )
        assert created.status_code == 201
        key, info = created.json()["key"], created.json()["api_key"]
        assert key.startswith("tsb_") and info["scopes"] == ["read_signals"]
        listed = await api.client.get("/api/v1/me/api-keys", headers=caller.headers)
        assert key not in listed.text and listed.json()[0]["prefix"] == info["prefix"]

        assert (await api.client.get("/api/v1/me", headers=_bearer(key))).json()["id"] == caller.user.id
        takeover = await api.client.post("/api/v1/me/api-keys", headers=_bearer(key), json={"name": "x"})
        assert_error(takeover, 403, "forbidden")
        wider = await api.client.post(
            "/api/v1/me/api-keys", headers=caller.headers, json={"name": "w", "scopes": ["write_users"]}
        )
        assert_error(wider, 403, "forbidden")

        theirs = await api.client.delete(f"/api/v1/me/api-keys/{info['id']}", headers=other.headers)
        assert_error(theirs, 404, "not_found")
        revoked = await api.client.delete(f"/api/v1/me/api-keys/{info['id']}", headers=caller.headers)
        assert revoked.status_code == 204
        assert_error(await api.client.get("/api/v1/me", headers=_bearer(key)), 401, "unauthorized")


async def test_a_deactivated_account_is_refused_at_once(serve: Serve) -> None:
    async with serve() as api:
        caller = await sign_in(api, Role.TRADER)
        admin = await sign_in(api, Role.ADMIN)
        assert (await api.client.get("/api/v1/me", headers=caller.headers)).status_code == 200  # cached now
        done = await api.client.post(
            f"/api/v1/admin/users/{caller.user.id}/deactivate", headers=admin.headers
        )
        assert done.status_code == 200, done.text
        assert_error(await api.client.get("/api/v1/me", headers=caller.headers), 403, "account_inactive")


async def test_another_process_deactivating_takes_effect_within_the_identity_cache_time(serve: Serve) -> None:
    async with serve(accounts={"identity_cache_seconds": 0.3}) as api:
        caller = await sign_in(api, Role.TRADER)
        assert (await api.client.get("/api/v1/me", headers=caller.headers)).status_code == 200
        # Another process (the command line) deactivates the user: this process still trusts its cache briefly.
        await auth.accounts_of_app(api.app).deactivate(OPERATOR, caller.user.id)
        assert (await api.client.get("/api/v1/me", headers=caller.headers)).status_code == 200
        await asyncio.sleep(0.35)
        assert_error(await api.client.get("/api/v1/me", headers=caller.headers), 403, "account_inactive")


async def owned_objects(api: Api, caller: Any) -> dict[str, str]:
    """An API key of ``caller`` (for the route-walk test)."""
    new = await auth.accounts_of_app(api.app).create_api_key(caller.user.id, "walk")
    return {"api_key_id": new.info.id}
