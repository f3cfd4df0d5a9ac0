"""From a stored exchange key to a broker (ccxt venues and Alpaca), on a real database (SQLite file and PostgreSQL),
with every log line captured at DEBUG: no credential is written anywhere or shown by any returned object."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.dev import RichTracebackFormatter
from structlog.testing import capture_logs

from tsbot.adapters.brokers.alpaca_broker import AlpacaBroker
from tsbot.adapters.brokers.ccxt_broker import CcxtBroker
from tsbot.adapters.brokers.factory import broker_for
from tsbot.adapters.secrets import KeyDecryptionError, KeyVault, vault_from_settings
from tsbot.adapters.storage.database import create_engine, upgrade
from tsbot.adapters.storage.exchange_keys import ExchangeCredentials, ExchangeKeyInfo, SqlExchangeKeyStore
from tsbot.adapters.storage.tables import exchange_keys
from tsbot.config import load_settings
from tsbot.core.errors import ConfigError, DataError, ExchangeError, TsbotError

API_KEY = "Xk3vQp9LmZt7Wb2NcR5sYh8JdF4gAe6U"
SECRET = "Sq8Lw2Zn6Vx4Tb9Mk3Rp7Yc5Hf1Jd0GaQe2Ut6Io"
PASSWORD = "pass-phrase-R7m2Kx"
URLS = {"public": "http://127.0.0.1:9/public", "private": "http://127.0.0.1:9/private"}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = create_engine(database_url)
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def encryption_key() -> str:
    return KeyVault.generate_key()


@pytest.fixture
def store(engine: AsyncEngine, encryption_key: str) -> SqlExchangeKeyStore:
    settings = load_settings(security={"encryption_keys": [encryption_key]})
    return SqlExchangeKeyStore(engine, vault_from_settings(settings))


async def test_add_credentials_and_broker_for_write_no_secret_anywhere(
    store: SqlExchangeKeyStore, encryption_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Bad input: logging at DEBUG everywhere (SQLAlchemy's statements and parameters, ccxt, alpaca, structlog).
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy sets its own loggers to WARNING
    shown: list[str] = []
    with capture_logs() as events:
        for exchange, sandbox in (
            ("binance", True),
            ("kraken", False),
            ("coinbase", False),
            ("alpaca", True),
        ):
            info = await store.add(
                "alice", exchange, "main", ExchangeCredentials(API_KEY, SECRET, PASSWORD), sandbox
            )
            creds = await store.credentials(info.id, "alice")
            assert creds == ExchangeCredentials(API_KEY, SECRET, PASSWORD)
            urls = {"trading": "http://127.0.0.1:9"} if exchange == "alpaca" else URLS
            broker = broker_for(info, creds, api_urls=urls, timeout_s=2.0, retries=0)
            try:
                assert broker.name == f"{exchange}:{info.id}"
                logging.getLogger("tsbot.test").debug("built %r for %s with %s", broker, info, creds)
                shown += [repr(x) for x in (info, creds, broker, store)] + [
                    str(x) for x in (info, creds, broker)
                ]
                shown += [f"{creds}", f"{creds!r}", repr([creds]), repr({"c": creds})]
            finally:
                await broker.close()
        shown += [repr(await store.list("alice")), repr(await store.get(info.id, "alice"))]
    shown += [caplog.text, repr(events), repr(caplog.records)]
    # The capture saw real traffic: the SQL statements with their parameters and the masked credentials.
    assert "INSERT INTO exchange_keys" in caplog.text
    assert "ExchangeCredentials(api_key='…Ae6U', secret='***', password='***')" in caplog.text
    for text in shown:
        for secret in (API_KEY, SECRET, PASSWORD, encryption_key, API_KEY[:-4], SECRET[8:24]):
            assert secret not in text


async def test_tracebacks_printed_with_their_local_variables_show_no_secret(
    store: SqlExchangeKeyStore, engine: AsyncEngine, encryption_key: str
) -> None:
    # Bad input: failures inside the store (empty secret, duplicate label, a changed decryption key, a row that
    # decrypts to garbage) rendered by structlog's console traceback formatter, which prints every frame's locals.
    garbage = "not-json-but-private-Vb7Kq2Lx9Rm4"
    first = await store.add("alice", "kraken", "main", ExchangeCredentials(API_KEY, SECRET, PASSWORD))
    broken = await store.add("alice", "coinbase", "main", ExchangeCredentials(API_KEY, SECRET))
    async with engine.begin() as conn:
        token = KeyVault([encryption_key]).encrypt(garbage).encode("ascii")
        await conn.execute(
            update(exchange_keys).where(exchange_keys.c.id == broken.id).values(ciphertext=token)
        )
    changed = SqlExchangeKeyStore(engine, KeyVault([KeyVault.generate_key()]))
    failures: list[tuple[type[TsbotError], Awaitable[object]]] = [
        (ConfigError, store.add("alice", "binance", "x", ExchangeCredentials(API_KEY, " ", PASSWORD))),
        (ConfigError, store.add("alice", "kraken", "main", ExchangeCredentials(API_KEY, SECRET, PASSWORD))),
        (KeyDecryptionError, changed.credentials(first.id, "alice")),
        (DataError, store.credentials(broken.id, "alice")),
    ]
    formatter = RichTracebackFormatter(color_system=None, width=200)
    for expected, call in failures:
        with pytest.raises(expected) as err:
            await call
        below_the_test = err.value.__traceback__.tb_next  # type: ignore[union-attr]
        out = io.StringIO()
        formatter(out, (type(err.value), err.value, below_the_test))
        frames = [repr(frame.f_locals) for frame, _ in traceback.walk_tb(below_the_test)]
        # The renderer did print the store's frame with its locals.
        assert "self = SqlExchangeKeyStore(KeyVault(<1 key hidden>))" in out.getvalue()
        for text in (out.getvalue(), *frames):
            for secret in (API_KEY, SECRET, PASSWORD, garbage, encryption_key):
                assert secret not in text


def _info(exchange: str, sandbox: bool) -> ExchangeKeyInfo:
    return ExchangeKeyInfo(
        "0b9f5c1e-1f63-4f1e-9a53-2d4c1d8f7a10",
        "alice",
        exchange,
        "main",
        sandbox,
        "…AbCd",
        datetime(2026, 3, 2, tzinfo=UTC),
        None,
    )


@pytest.mark.parametrize("exchange", ["binance", "kraken", "coinbase"])
async def test_ccxt_venues_get_a_ccxt_broker_named_after_the_key(exchange: str) -> None:
    broker = broker_for(_info(exchange, False), ExchangeCredentials(API_KEY, SECRET, PASSWORD), api_urls=URLS)
    try:
        assert isinstance(broker, CcxtBroker)
        assert (broker.name, broker.exchange_id) == (
            f"{exchange}:0b9f5c1e-1f63-4f1e-9a53-2d4c1d8f7a10",
            exchange,
        )
        assert broker.api_urls["private"] == URLS["private"]
    finally:
        await broker.close()


async def test_sandbox_key_selects_the_test_network_or_the_paper_account() -> None:
    binance = broker_for(_info("binance", True), ExchangeCredentials(API_KEY, SECRET))
    live = broker_for(_info("binance", False), ExchangeCredentials(API_KEY, SECRET))
    paper = broker_for(_info("alpaca", True), ExchangeCredentials(API_KEY, SECRET))
    real = broker_for(
        _info("alpaca", False),
        ExchangeCredentials(API_KEY, SECRET),
        api_urls={"trading": "http://127.0.0.1:9/"},
    )
    try:
        assert "sandbox=True" in repr(binance) and "testnet" in str(binance.api_urls)
        assert "sandbox=False" in repr(live) and "testnet" not in str(live.api_urls)
        assert isinstance(paper, AlpacaBroker) and isinstance(real, AlpacaBroker)
        # The paper host (the repr names it by alpaca-py's enum or by its URL).
        assert paper.paper is True and "paper" in repr(paper).split("base_url=")[1].lower()
        assert real.paper is False and "base_url='http://127.0.0.1:9'" in repr(real)
        assert paper.name == "alpaca:0b9f5c1e-1f63-4f1e-9a53-2d4c1d8f7a10"
    finally:
        for broker in (binance, live, paper, real):
            await broker.close()


async def test_a_venue_without_sandbox_is_refused_for_a_sandbox_key() -> None:
    # Bad input: a Kraken key marked sandbox, and ccxt knows no Kraken test network.
    with pytest.raises(ExchangeError, match="kraken has no sandbox"):
        broker_for(_info("kraken", True), ExchangeCredentials(API_KEY, SECRET))


def test_an_exchange_without_a_broker_is_refused() -> None:
    # Bad input: a key record for an exchange no broker serves (not something the store accepts).
    with pytest.raises(ConfigError, match="'bybit', which has no broker; supported: binance, coinbase"):
        broker_for(_info("bybit", False), ExchangeCredentials(API_KEY, SECRET))
