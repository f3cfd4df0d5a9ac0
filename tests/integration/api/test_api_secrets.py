"""No secret leaks through the API: passwords, access and refresh tokens, API keys, TOTP secrets and exchange keys
appear in no log line at any level and in no answer but the one that hands them to their owner.

Bad input tried, each of which could echo a secret: a wrong password, a body with the password in a field of the
wrong type, a malformed token, a refresh token used twice, an exchange key for an unsupported exchange, the same
exchange key label twice, and an API key used where a password sign-in is needed.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.fernet import Fernet
from tests.integration.api.conftest import PASSWORD, Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error

from tsbot.accounts.models import Role
from tsbot.apps.logs import configure_logging
from tsbot.config import load_settings

EXCHANGE_KEY = "AKIAEXCHANGEKEY0000001234"
EXCHANGE_SECRET = "exchange-secret-" + "z" * 32
EXCHANGE_PASSPHRASE = "passphrase-of-the-key-77"


@pytest.fixture
def json_logs(restore_logging: None) -> io.StringIO:
    out = io.StringIO()
    configure_logging(load_settings(log_level="DEBUG"), stream=out)
    return out


class Recorder:
    """Every answer's text, and which of them are allowed to carry which secret."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.answers: list[tuple[str, str]] = []

    async def call(self, method: str, url: str, **kwargs: Any) -> Any:
        answer = await self.api.client.request(method, url, **kwargs)
        self.answers.append((f"{method} {url}", answer.text + str(dict(answer.headers))))
        return answer


async def test_no_secret_in_any_log_line_or_other_answer(serve: Serve, json_logs: io.StringIO) -> None:
    security = {"encryption_keys": [Fernet.generate_key().decode()]}
    async with serve(security=security) as api:
        caller: Caller = await sign_in(api, Role.TRADER)
        rec = Recorder(api)
        email = caller.user.email

        wrong = await rec.call(
            "POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD[::-1]}
        )
        assert_error(wrong, 401, "unauthorized")
        typed = await rec.call("POST", "/api/v1/auth/login", json={"email": email, "password": [PASSWORD]})
        assert_error(typed, 422, "validation_error")

        login = await rec.call("POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        handed = {"access": login.json()["access_token"], "refresh": login.json()["refresh_token"]}
        headers = {"Authorization": f"Bearer {handed['access']}"}
        garbled = await rec.call(
            "GET", "/api/v1/me", headers={"Authorization": f"Bearer {handed['access']}x"}
        )
        assert_error(garbled, 401, "unauthorized")
        rotated = await rec.call("POST", "/api/v1/auth/refresh", json={"refresh_token": handed["refresh"]})
        handed["rotated"] = rotated.json()["refresh_token"]
        reused = await rec.call("POST", "/api/v1/auth/refresh", json={"refresh_token": handed["refresh"]})
        assert_error(reused, 401, "unauthorized")

        session = await rec.call("POST", "/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {session.json()['access_token']}"}
        created = await rec.call("POST", "/api/v1/me/api-keys", headers=headers, json={"name": "prog"})
        handed["api_key"] = created.json()["key"]
        totp = await rec.call("POST", "/api/v1/me/2fa/setup", headers=headers)
        handed["totp"] = totp.json()["secret"]

        key_body = {
            "exchange": "binance",
            "label": "main",
            "api_key": EXCHANGE_KEY,
            "secret": EXCHANGE_SECRET,
            "password": EXCHANGE_PASSPHRASE,
        }
        stored = await rec.call("POST", "/api/v1/me/exchange-keys", headers=headers, json=key_body)
        assert stored.status_code == 201, stored.text
        assert stored.json()["key_hint"] == "…" + EXCHANGE_KEY[-4:]
        again = await rec.call("POST", "/api/v1/me/exchange-keys", headers=headers, json=key_body)
        assert_error(again, 400, "invalid_configuration")
        unsupported = await rec.call(
            "POST", "/api/v1/me/exchange-keys", headers=headers, json={**key_body, "exchange": "mtgox"}
        )
        assert_error(unsupported, 400, "invalid_configuration")
        typed_key = await rec.call(
            "POST",
            "/api/v1/me/exchange-keys",
            headers=headers,
            json={**key_body, "secret": [EXCHANGE_SECRET]},
        )
        assert_error(typed_key, 422, "validation_error")
        by_key = await rec.call(
            "POST",
            "/api/v1/me/exchange-keys",
            headers={"Authorization": f"Bearer {handed['api_key']}"},
            json=key_body,
        )
        assert_error(by_key, 403, "forbidden")
        listed = await rec.call("GET", "/api/v1/me/exchange-keys", headers=headers)
        assert [k["label"] for k in listed.json()] == ["main"]

    # Where each handed-out secret may appear: only in the answer that creates it.
    allowed = {
        "access": {"POST /api/v1/auth/login"},
        "refresh": {"POST /api/v1/auth/login"},
        "rotated": {"POST /api/v1/auth/refresh"},
        "api_key": {"POST /api/v1/me/api-keys"},
        "totp": {"POST /api/v1/me/2fa/setup"},
    }
    never = {"password": PASSWORD, "exchange key": EXCHANGE_KEY, "exchange secret": EXCHANGE_SECRET}
    never["passphrase"] = EXCHANGE_PASSPHRASE
    for where, text in rec.answers:
        for name, secret in never.items():
            assert secret not in text, f"the {name} is in the answer to {where}"
        for name, secret in handed.items():
            if secret in text:
                assert where in allowed[name], f"the {name} is in the answer to {where}"
    logs = json_logs.getvalue()
    assert "http.request" in logs  # the access log was captured
    for name, secret in {**never, **handed}.items():
        assert secret not in logs, f"the {name} is in the logs"


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """An exchange key of ``caller`` (for the route-walk test; the app needs an encryption key)."""
    from tsbot.adapters.storage.exchange_keys import ExchangeCredentials

    keys = api.app.state.services.exchange_keys()
    info = await keys.add(
        caller.user.id, "kraken", "walk", ExchangeCredentials(EXCHANGE_KEY, EXCHANGE_SECRET)
    )
    return {"exchange_key_id": info.id}
