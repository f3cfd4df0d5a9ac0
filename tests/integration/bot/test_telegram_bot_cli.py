"""``tsbot telegram-bot`` refuses to start without what it needs.

Bad input tried: no bot token, a blank token, webhook mode (polling would remove the webhook).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tsbot.apps.cli.main import app


@pytest.mark.parametrize("token", [None, "   "])
def test_no_token_is_a_clear_error(tmp_path: Path, token: str | None) -> None:
    env = {"TSBOT_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    if token is not None:
        env["TSBOT_TELEGRAM__BOT_TOKEN"] = token
    result = CliRunner().invoke(app, ["telegram-bot"], env=env)
    assert result.exit_code == 2, result.output
    assert "no Telegram bot token is configured" in result.output
    assert "TSBOT_TELEGRAM__BOT_TOKEN" in result.output


def test_webhook_mode_is_refused(tmp_path: Path) -> None:
    env = {
        "TSBOT_DATA_DIR": str(tmp_path),
        "TSBOT_TELEGRAM__BOT_TOKEN": "123456789:AAtsbot-test_token",
        "TSBOT_TELEGRAM__MODE": "webhook",
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, ["telegram-bot"], env=env)
    assert result.exit_code == 2, result.output
    assert "telegram.mode is webhook" in result.output
    assert "123456789:AAtsbot-test_token" not in result.output
