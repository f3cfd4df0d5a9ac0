"""The live exchange accounts of the stored exchange keys, and a broker for each
(:class:`~tsbot.monitor.ports.LiveBrokers`), for the monitoring cycle.

:meth:`StoredKeyBrokers.accounts` reads the keys' public facts only (no encryption key is needed for it);
:meth:`StoredKeyBrokers.open` decrypts one key's credentials and hands them straight to
:func:`~tsbot.adapters.brokers.factory.broker_for`, which keeps them out of every message and log line.

The venue's address is ccxt's (or Alpaca's) own, the test network when the key is a sandbox key; the settings'
``exchange_base_urls[<exchange>]`` (a proxy, a regional host, a local test server) replaces the scheme and host of
every API URL and keeps each path, as it does for the candle downloads. Each request waits at most
``monitor.broker_timeout_s`` and a temporary failure is retried ``monitor.broker_retries`` times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.secrets import vault_from_settings
from tsbot.adapters.storage.exchange_keys import SqlExchangeKeyStore
from tsbot.adapters.storage.tables import exchange_keys
from tsbot.config import Settings
from tsbot.monitor.ports import LiveAccount
from tsbot.trading.ports import Broker

#: The key of ``api_urls`` that replaces Alpaca's trading API base (see :mod:`tsbot.adapters.brokers.factory`).
_ALPACA_URL_KEY = "trading"


class StoredKeyBrokers:
    """Brokers of the keys stored in ``engine``'s ``exchange_keys`` table.

    Args:
        engine: the database.
        settings: the settings in force (read at each :meth:`open`: encryption keys, base URLs, timeouts).
    """

    def __init__(self, engine: AsyncEngine, settings: Callable[[], Settings]) -> None:
        self._engine = engine
        self._settings = settings
        self._api_urls: dict[tuple[str, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return "StoredKeyBrokers()"

    async def accounts(self) -> list[LiveAccount]:
        """Every stored key's account (``"<exchange>:<key id>"``), owner and label, by account."""
        t = exchange_keys.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.id, t.owner, t.exchange, t.label).order_by(t.id))).all()
        return sorted(
            (LiveAccount(f"{r.exchange}:{r.id}", r.owner, r.label) for r in rows), key=lambda a: a.account
        )

    async def open(self, account: LiveAccount) -> Broker:
        """The broker of ``account``'s key, signing with its decrypted credentials.

        Raises:
            ConfigError: no encryption key is configured, or the key's exchange has no broker.
            NotFoundError: the key is no longer stored for ``account.owner``.
            KeyDecryptionError: no configured encryption key opens it (the message names its id and label).
            DataError: it opens but holds no credentials.
        """
        from tsbot.adapters.brokers.factory import broker_for  # ccxt and alpaca-py take seconds to import

        settings = self._settings()
        key_id = account.account.partition(":")[2]
        store = SqlExchangeKeyStore(self._engine, vault_from_settings(settings))
        info = await store.get(key_id, account.owner)
        base = (settings.exchange_base_urls or {}).get(info.exchange)
        return broker_for(
            info,
            await store.credentials(key_id, account.owner),
            api_urls=self._urls(info.exchange, base) if base else None,
            timeout_s=settings.monitor.broker_timeout_s,
            retries=settings.monitor.broker_retries,
        )

    def _urls(self, exchange: str, base: str) -> dict[str, Any]:
        """Every API URL of ``exchange`` with its scheme and host replaced by ``base`` (built once per pair)."""
        if exchange == "alpaca":
            return {_ALPACA_URL_KEY: base}
        found = self._api_urls.get((exchange, base))
        if found is None:
            import ccxt

            from tsbot.adapters.exchanges.ccxt_source import rebase_urls

            api = getattr(ccxt, exchange)().urls.get("api")
            rebased = rebase_urls(api, base)
            found = dict(rebased) if isinstance(rebased, dict) else {"public": rebased, "private": rebased}
            self._api_urls[(exchange, base)] = found
        return found
