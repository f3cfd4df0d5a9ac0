"""Passwords, tokens, API keys, TOTP secrets and recovery codes never appear in log output, in the repr or str of
results and records, or in error messages."""

from __future__ import annotations

import logging
from dataclasses import replace

import pyotp
import pytest
import structlog
from structlog.testing import capture_logs
from tests.unit.accounts.conftest import PASSWORD, Kit

from tsbot.accounts.errors import InvalidCredentialsError, TokenReuseError, WeakPasswordError
from tsbot.accounts.results import TokenPair
from tsbot.core.time import utc_now


async def test_full_flow_logs_and_reprs_hold_no_secret(
    kit: Kit, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = [PASSWORD, "Wrong-password-77", "Brand-new-pass-7"]
    shown: list[object] = []
    with capture_logs() as logs:
        user = await kit.user()
        with pytest.raises(InvalidCredentialsError) as wrong:
            await kit.service.login("ann@example.com", "Wrong-password-77")
        with pytest.raises(WeakPasswordError) as weak:
            await kit.service.change_password(user.id, PASSWORD, "weakpassword")
        pair = await kit.service.login("ann@example.com", PASSWORD)
        rotated = await kit.service.refresh(pair.refresh_token)
        with pytest.raises(TokenReuseError) as reuse:
            await kit.service.refresh(pair.refresh_token)
        key = await kit.service.create_api_key(user.id, "bot")
        setup = await kit.service.begin_totp(user.id)
        codes = await kit.service.confirm_totp(user.id, pyotp.TOTP(setup.secret).at(kit.clock.now))
        await kit.service.request_password_reset("ann@example.com")
        reset_token = kit.last_token("reset-password")
        await kit.service.reset_password(reset_token, "Brand-new-pass-7")
        secrets += [
            pair.access_token,
            pair.refresh_token,
            rotated.access_token,
            rotated.refresh_token,
            key.key,
        ]
        secrets += [setup.secret, reset_token, *codes.codes]
        record = kit.users.users[user.id]
        secrets += [record.password_hash, record.totp_secret or "?"]
        refresh_records = list(kit.tokens.refresh.values())
        secrets += [r.token_hash for r in refresh_records]
        shown += [
            pair,
            rotated,
            key,
            setup,
            codes,
            record,
            *refresh_records,
            kit.service,
            wrong.value,
            weak.value,
        ]
        shown += [reuse.value, *kit.tokens.one_time.values(), *kit.events.entries, *kit.events.logins]
    text = "\n".join(
        [
            repr(logs),
            caplog.text,
            capsys.readouterr().out,
            *(repr(o) for o in shown),
            *(str(o) for o in shown),
        ]
    )
    assert logs, "the flow logs something"
    for secret in secrets:
        assert secret and secret not in text, f"a secret leaked: {secret[:6]}..."
    assert "ann@example.com" in text  # the check looks at real output


def test_a_result_logged_with_structlog_shows_no_secret() -> None:
    pair = TokenPair("access-secret-value", "refresh-secret-value", utc_now(), utc_now(), "s1")
    with capture_logs() as logs:
        structlog.get_logger("test").info("issued", pair=pair, moved=replace(pair, session_id="s2"))
    rendered = structlog.dev.ConsoleRenderer(colors=False)(None, "info", dict(logs[0]))
    json_line = structlog.processors.JSONRenderer(default=repr)(None, "info", dict(logs[0]))
    for out in (str(rendered), str(json_line)):
        assert "s2" in out and "access-secret-value" not in out and "refresh-secret-value" not in out
