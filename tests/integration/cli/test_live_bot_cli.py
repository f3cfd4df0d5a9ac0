"""``tsbot bot start --live --key KEY_ID`` on a real database (SQLite file and PostgreSQL): a bot on the exchange
account of one of the owner's stored exchange keys (``<exchange>:<key id>``), live only when asked for with both
options; ``tsbot bot status`` shows its mode and account and nothing of the key's secrets.

Bad input tried: another owner's key, an unknown key id, a deleted key, a key on an exchange tsbot cannot trade on
(a row written straight into the table: the store refuses to keep one), ``--live`` without ``--key``, ``--key``
without ``--live``, ``--live`` with ``--portfolio``, and no encryption key configured.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from tests.support.exchange_keys import insert_legacy_key
from typer.testing import CliRunner

from tsbot.adapters.secrets import KeyVault
from tsbot.adapters.storage.exchange_keys import ExchangeCredentials, ExchangeKeyInfo
from tsbot.apps.cli.main import app
from tsbot.config import load_settings
from tsbot.wiring import Services, open_services

ENCRYPTION_KEY = KeyVault.generate_key()
# No hexadecimal tail: the key's hint (its last 4 characters) can never turn up inside an id by chance.
API_KEY = "cli-live-api-key-3f9a61c0-wxyz"
SECRET = "cli-live-secret-never-shown-5b7e"
START = ("bot", "start")
BOT = (
    "--strategy",
    "sma_cross",
    "--pairs",
    "BTC/USDT",
    "--capital",
    "1000",
    "--param",
    "fast=3",
    "--param",
    "slow=5",
)


@pytest.fixture
def live_env(cli_env: dict[str, str]) -> dict[str, str]:
    """The ``tsbot`` environment with an encryption key for exchange keys."""
    return cli_env | {"TSBOT_SECURITY__ENCRYPTION_KEYS": json.dumps([ENCRYPTION_KEY])}


@pytest.fixture
def tsbot_live(live_env: dict[str, str]) -> Callable[..., Result]:
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), env=live_env)


@pytest.fixture
def with_keys(database_url: str, tmp_path: Path) -> Callable[..., Any]:
    """``with_keys(fn)``: ``await fn(services)`` with the encryption key configured."""
    settings = load_settings(
        database_url=database_url, data_dir=tmp_path, security={"encryption_keys": [ENCRYPTION_KEY]}
    )

    def _run(fn: Callable[[Services], Any]) -> Any:
        async def _go() -> Any:
            async with open_services(settings) as services:
                return await fn(services)

        return asyncio.run(_go())

    return _run


async def _keys(services: Services) -> dict[str, ExchangeKeyInfo | str]:
    store = services.exchange_keys()
    credentials = ExchangeCredentials(API_KEY, SECRET)
    mine = await store.add("ann", "binance", "main", credentials, sandbox=True)
    theirs = await store.add("bob", "binance", "main", credentials)
    gone = await store.add("ann", "kraken", "old", credentials)
    await store.delete(gone.id, "ann")
    odd = await insert_legacy_key(services.db, "ann")
    return {"mine": mine, "theirs": theirs, "gone": gone.id, "odd": odd}


def no_key_material(*texts: str) -> None:
    for text in texts:
        assert API_KEY not in text and SECRET not in text and API_KEY[-4:] not in text, text


def test_start_a_live_bot_on_an_own_key(
    tsbot_live: Callable[..., Result], with_keys: Callable[..., Any]
) -> None:
    keys = with_keys(_keys)
    mine = keys["mine"]
    assert isinstance(mine, ExchangeKeyInfo)
    started = tsbot_live(*START, "crosser", *BOT, "--live", "--key", mine.id, "--owner", "ann")
    assert started.exit_code == 0, started.output
    out = " ".join(started.stdout.split())
    assert f"bot crosser running LIVE: sma_cross on BTC/USDT 1h, capital 1000 on binance:{mine.id}" in out
    assert "(binance key 'main' (sandbox))" in out
    paper = tsbot_live(*START, "papery", *BOT, "--owner", "ann")  # no --live: a paper bot, as always
    assert paper.exit_code == 0 and "running: sma_cross" in paper.stdout, paper.output

    status = tsbot_live("bot", "status", "--json", "--owner", "ann")
    assert status.exit_code == 0, status.output
    modes = {b["name"]: (b["mode"], b["account"]) for b in json.loads(status.stdout)}
    assert modes["crosser"] == ("live", f"binance:{mine.id}")
    assert modes["papery"][0] == "paper" and modes["papery"][1].startswith("paper:")
    table = tsbot_live("bot", "status", "--owner", "ann")
    assert table.exit_code == 0 and "live" in table.stdout and f"binance:{mine.id}" in table.stdout
    no_key_material(started.output, status.output, table.output)


def test_live_bots_on_keys_that_are_not_yours_or_not_there_are_refused(
    tsbot_live: Callable[..., Result], with_keys: Callable[..., Any], tsbot: Callable[..., Result]
) -> None:
    keys = with_keys(_keys)
    mine, theirs = keys["mine"], keys["theirs"]
    assert isinstance(mine, ExchangeKeyInfo) and isinstance(theirs, ExchangeKeyInfo)
    for what, key_id in (
        ("bob's key", theirs.id),
        ("an unknown id", str(uuid.uuid4())),
        ("a deleted key", keys["gone"]),
    ):
        refused = tsbot_live(*START, "nope", *BOT, "--live", "--key", str(key_id), "--owner", "ann")
        assert refused.exit_code == 1, (what, refused.output)
        assert f"owner ann has no exchange key with id '{key_id}'" in " ".join(refused.stderr.split()), what
    odd = tsbot_live(*START, "nope", *BOT, "--live", "--key", str(keys["odd"]), "--owner", "ann")
    assert odd.exit_code == 1 and "'bitmex', which tsbot cannot trade on" in " ".join(odd.stderr.split())

    usage = {
        "--live without --key": (["--live"], "give the id of its key with --key"),
        "--key without --live": (["--key", mine.id], "add --live to ask for it"),
        "--live with --portfolio": (["--live", "--key", mine.id, "--portfolio", "main"], "not a portfolio's"),
    }
    for what, (extra, reason) in usage.items():
        result = tsbot_live(*START, "nope", *BOT, *extra, "--owner", "ann")
        assert result.exit_code == 2 and reason in " ".join(result.stderr.split()), (what, result.output)

    unconfigured = tsbot(*START, "nope", *BOT, "--live", "--key", mine.id, "--owner", "ann")
    assert unconfigured.exit_code == 1, unconfigured.output
    assert "TSBOT_SECURITY__ENCRYPTION_KEYS" in " ".join(unconfigured.stderr.split())

    status = tsbot_live("bot", "status", "--json", "--owner", "ann")
    assert status.exit_code == 0 and json.loads(status.stdout) == []  # nothing refused was stored
