"""The broker of a stored exchange key: :class:`CcxtBroker` for Binance, Coinbase and Kraken, :class:`AlpacaBroker`
for Alpaca. The decrypted credentials go straight into the broker, which keeps them out of its ``repr``, its
errors and its logs."""

from __future__ import annotations

from collections.abc import Mapping

from tsbot.adapters.brokers.alpaca_broker import AlpacaBroker
from tsbot.adapters.brokers.ccxt_broker import SUPPORTED_EXCHANGES as CCXT_EXCHANGES
from tsbot.adapters.brokers.ccxt_broker import CcxtBroker
from tsbot.adapters.storage.exchange_keys import SUPPORTED_EXCHANGES, ExchangeCredentials, ExchangeKeyInfo
from tsbot.core.errors import ConfigError
from tsbot.trading.ports import Broker

#: The key of ``api_urls`` that replaces Alpaca's trading API base (scheme and host, no ``/v2``).
ALPACA_URL_KEY = "trading"


def broker_for(
    info: ExchangeKeyInfo,
    credentials: ExchangeCredentials,
    *,
    api_urls: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    retries: int = 3,
) -> Broker:
    """A broker for the account of the stored key ``info``, signing with ``credentials``.

    The broker's name (the account of its orders) is ``"<exchange>:<key id>"`` (:attr:`ExchangeKeyInfo.account`).
    ``info.sandbox`` selects the venue's test network (ccxt sandbox mode) or, for Alpaca, the paper account.

    Args:
        info: the stored key (from :class:`~tsbot.adapters.storage.exchange_keys.SqlExchangeKeyStore`).
        credentials: its decrypted credentials (``SqlExchangeKeyStore.credentials``).
        api_urls: for ccxt venues, replacements of entries of ccxt's ``urls["api"]``; for Alpaca, the entry
            ``"trading"`` replaces the trading API base URL. Other entries are ignored for Alpaca.
        timeout_s: per-request timeout, seconds.
        retries: retries of a temporary failure per call.

    Raises:
        ConfigError: the key's exchange is not supported, Alpaca credentials are missing, or a number is out of
            range.
        ExchangeError: the ccxt venue has no sandbox while ``info.sandbox`` is set.
    """
    exchange = info.exchange
    name = info.account
    if exchange in CCXT_EXCHANGES:
        return CcxtBroker(
            exchange,
            api_key=credentials.api_key,
            secret=credentials.secret,
            password=credentials.password,
            sandbox=info.sandbox,
            api_urls=dict(api_urls) if api_urls else None,
            timeout_s=timeout_s,
            retries=retries,
            name=name,
        )
    if exchange == "alpaca":
        return AlpacaBroker(
            api_key=credentials.api_key,
            secret=credentials.secret,
            paper=info.sandbox,
            base_url=(api_urls or {}).get(ALPACA_URL_KEY),
            timeout_s=timeout_s,
            retries=retries,
            name=name,
        )
    supported = ", ".join(SUPPORTED_EXCHANGES)
    raise ConfigError(
        f"exchange key {info.id} is for {exchange!r}, which has no broker; supported: {supported}"
    )
