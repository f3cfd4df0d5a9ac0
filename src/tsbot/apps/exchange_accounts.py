"""What every front end (the API, the command line) checks before a bot is started on a live exchange account: the
account is that of one of the user's own stored exchange keys (``"<exchange>:<key id>"``, see
:attr:`~tsbot.adapters.storage.exchange_keys.ExchangeKeyInfo.account`), still stored, on an exchange tsbot has a
broker for.

Only the key's public facts are read (exchange, label, sandbox): nothing is decrypted here. The monitoring cycle
decrypts the key when it signs the bot's orders (:mod:`tsbot.adapters.brokers.key_brokers`), and a key deleted after
the bot was started stops the bot's trading there, saying so in the cycle's summary.
"""

from __future__ import annotations

from tsbot.adapters.storage.exchange_keys import SUPPORTED_EXCHANGES, ExchangeKeyInfo
from tsbot.core.errors import ConfigError
from tsbot.wiring import Services


async def own_live_key(services: Services, owner: str, key_id: str) -> ExchangeKeyInfo:
    """The stored exchange key ``key_id`` of ``owner``, checked to be one a live bot can trade on.

    Args:
        services: the services of the database holding the keys.
        owner: the user starting the bot (a user id).
        key_id: the key's id (``GET /api/v1/me/exchange-keys`` lists them); surrounding spaces are ignored.

    Raises:
        NotFoundError: no such key (never stored, or deleted), or another user's key: one message for all, so a
            key id cannot be probed.
        ConfigError: no encryption key is configured (the message says how to set one), or the key's exchange has
            no broker (a row left by an older version or written by hand; the message lists the supported ones).
    """
    info = await services.exchange_keys().get(key_id.strip(), owner)
    if info.exchange not in SUPPORTED_EXCHANGES:
        raise ConfigError(
            f"exchange key {info.label!r} is for {info.exchange!r}, which tsbot cannot trade on; "
            f"a live bot needs a key of {', '.join(SUPPORTED_EXCHANGES)}"
        )
    return info
