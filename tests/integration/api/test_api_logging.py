"""Structured JSON logs: secrets masked, the request id on every line of a request, one access line per request
with the webhook token redacted and the user when known."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import structlog
from tests.integration.api.conftest import Serve, sign_in

from tsbot.accounts.models import Role
from tsbot.apps.logs import MASK, configure_logging, is_secret_key, mask_text
from tsbot.config import load_settings


def lines_of(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


@pytest.fixture
def json_logs(restore_logging: None) -> io.StringIO:
    """JSON logs of level DEBUG and above into a buffer."""
    out = io.StringIO()
    configure_logging(load_settings(log_level="DEBUG"), stream=out)
    return out


async def test_secrets_in_a_request_log_are_masked_and_the_line_has_the_request_id(
    serve: Serve, json_logs: io.StringIO
) -> None:
    """Bad input: a log call carrying a password, a refresh token, a TOTP code, an Authorization header and a
    bearer token and JWT inside free text; and a standard-library line with password=... in its message."""
    async with serve() as api:
        answer = await api.client.get("/api/v1/test/log", headers={"x-request-id": "log-test-1"})
    assert answer.status_code == 200
    text = json_logs.getvalue()
    for secret in (
        "hunter2",
        "rt-abcdefgh",
        "123456",
        "abc.def.ghi-very-secret",
        "s3cr3t-t0k3n-value",
        "eyJhbGci",
    ):
        assert secret not in text, secret
    lines = lines_of(json_logs)
    [line] = [entry for entry in lines if entry["event"] == "test.secrets"]
    assert line["request_id"] == "log-test-1"
    assert line["password"] == MASK and line["refresh_token"] == MASK and line["totp_code"] == MASK
    assert line["headers"] == {"Authorization": MASK, "Accept": "application/json"}
    assert line["note"] == f"sent Authorization: Bearer {MASK} and {MASK}"
    assert line["status_code"] == 201  # a status code is not a secret code
    assert line["level"] == "info" and line["timestamp"].endswith("Z")
    [stdlib] = [entry for entry in lines if entry.get("logger") == "tests.api.stdlib"]
    assert stdlib["event"] == f"stdlib line with password={MASK}" and stdlib["level"] == "warning"
    assert stdlib["request_id"] == "log-test-1"


async def test_one_access_line_per_request_with_the_user_when_known(
    serve: Serve, json_logs: io.StringIO
) -> None:
    async with serve() as api:
        await api.client.post("/api/v1/test/orders", headers={"x-test-user": "erin", "x-request-id": "acc-1"})
        await api.client.get("/api/v1/health?token=query-secret", headers={"x-request-id": "acc-2"})
    access = [entry for entry in lines_of(json_logs) if entry["event"] == "http.request"]
    assert [(a["request_id"], a["method"], a["path"], a["status"]) for a in access] == [
        ("acc-1", "POST", "/api/v1/test/orders", 200),
        ("acc-2", "GET", "/api/v1/health", 200),
    ]
    assert access[0]["user_id"] == "erin" and "user_id" not in access[1]
    assert all(isinstance(a["duration_ms"], float) and a["duration_ms"] >= 0 for a in access)
    assert "query-secret" not in json_logs.getvalue()  # query strings are never logged


async def test_webhook_token_is_redacted_from_the_access_log(serve: Serve, json_logs: io.StringIO) -> None:
    """Bad input: a request to the TradingView webhook with a wrong token, and one with the right token."""
    async with serve() as api:
        owner = await sign_in(api, Role.TRADER)
        issued = await api.client.post(
            "/api/v1/intake/webhooks/tokens", json={"label": "tv"}, headers=owner.headers
        )
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        good = await api.client.post(
            f"/api/v1/webhooks/tradingview/{token}",
            json={"symbol": "BTCUSDT", "side": "buy", "price": 1},
        )
        wrong = await api.client.post("/api/v1/webhooks/tradingview/wrong-token-value-xyz", content=b"{}")
        scrape = await api.client.get("/api/v1/metrics")
    assert good.status_code == 202 and wrong.status_code == 401
    text = json_logs.getvalue()
    assert token not in text and "wrong-token-value-xyz" not in text
    paths = [entry["path"] for entry in lines_of(json_logs) if entry["event"] == "http.request"]
    assert paths[-3:-1] == ["/api/v1/webhooks/tradingview/***"] * 2
    assert 'route="/api/v1/webhooks/tradingview/{token}"' in scrape.text
    assert token not in scrape.text


def test_log_level_filters_and_console_mode_still_masks(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(load_settings(log_level="WARNING"), json=False, stream=out)
    log = structlog.get_logger("tests.level")
    log.info("quiet.event")
    log.warning("loud.event", api_key="k-123456789")
    logging.getLogger("tests.level.stdlib").info("stdlib quiet")
    text = out.getvalue()
    assert "quiet.event" not in text and "stdlib quiet" not in text
    assert "loud.event" in text and "k-123456789" not in text and MASK in text


@pytest.mark.parametrize(
    "key, secret",
    [
        ("password", True),
        ("new_password", True),
        ("Authorization", True),
        ("X-API-Key", True),
        ("refresh_token", True),
        ("client_secret", True),
        ("totp", True),
        ("code", True),
        ("verification_code", True),
        ("set-cookie", True),
        ("status_code", False),
        ("exit_code", False),
        ("symbol", False),
        ("user_id", False),
        ("request_id", False),
    ],
)
def test_secret_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer abcdefgh12345", f"Authorization: Bearer {MASK}"),
        ("Basic dXNlcjpwYXNzd29yZA==", f"Basic {MASK}"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x", f"jwt {MASK}"),
        ("redis://:s3cret@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("postgresql+asyncpg://tsbot:pw@db/tsbot", f"postgresql+asyncpg://tsbot:{MASK}@db/tsbot"),
        ("/api/v1/webhooks/tradingview/tok123?x=1", f"/api/v1/webhooks/tradingview/{MASK}?x=1"),
        ("login?password=hunter2&next=/", f"login?password={MASK}&next=/"),
        ('{"refresh_token": "rt-1"}', f'{{"refresh_token": "{MASK}"}}'),
        ("status code: 200 at 12:30:00", "status code: 200 at 12:30:00"),
        ("http://host:8000/path@x", "http://host:8000/path@x"),
        ("Basic checks passed", "Basic checks passed"),
    ],
)
def test_secrets_inside_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected
