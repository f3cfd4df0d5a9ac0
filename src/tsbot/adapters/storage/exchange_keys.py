"""Users' exchange API keys, encrypted at rest in the ``exchange_keys`` table.

Each row holds the key's public facts (owner, exchange, label, sandbox, a hint of the last characters of the API
key) and ``ciphertext``: the :class:`~tsbot.adapters.secrets.KeyVault`'s Fernet token (ASCII bytes) of the JSON
object ``{"api_key": ..., "secret": ..., "password": ...}``. Only :meth:`SqlExchangeKeyStore.credentials`
decrypts, for the broker that signs requests; every other method returns :class:`ExchangeKeyInfo`, which holds no
secret. :class:`ExchangeCredentials` masks itself in ``repr`` and ``str`` so that a stray log line leaks nothing.

Rotation (:meth:`SqlExchangeKeyStore.rotate`) re-encrypts every row with the newest configured key. A row that no
configured key opens is not skipped silently: the others are rotated first, then :class:`KeyRotationError` (a
:class:`~tsbot.adapters.secrets.KeyDecryptionError`) names each such row by id and label.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.secrets import KeyDecryptionError, KeyVault
from tsbot.adapters.storage.tables import exchange_keys
from tsbot.core.errors import ConfigError, DataError, NotFoundError

#: Exchanges a key can be stored for: the ccxt venues and Alpaca.
SUPPORTED_EXCHANGES = ("binance", "coinbase", "kraken", "alpaca")
#: API keys shorter than this get no hint at all (four characters of a short key give too much away).
_HINT_MIN_LENGTH = 16
_MAX_OWNER = 128
_MAX_LABEL = 64


def key_hint(api_key: str) -> str:
    """``"…"`` followed by the last 4 characters of ``api_key``; just ``"…"`` for a key under 16 characters."""
    return "…" + api_key[-4:] if len(api_key) >= _HINT_MIN_LENGTH else "…"


@dataclass(frozen=True, slots=True, repr=False)
class ExchangeCredentials:
    """The decrypted credentials of one exchange key, to hand to a broker and nowhere else.

    Attributes:
        api_key: the API key id.
        secret: the API secret (for Coinbase possibly a PEM private key).
        password: the passphrase some keys have, or None.

    ``repr`` and ``str`` show only the hint of the API key (its last 4 characters) and mask the rest.
    """

    api_key: str
    secret: str
    password: str | None = None

    def __repr__(self) -> str:
        password = "None" if self.password is None else "'***'"
        return f"ExchangeCredentials(api_key='{key_hint(self.api_key)}', secret='***', password={password})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class ExchangeKeyInfo:
    """What may be shown of a stored exchange key: never a secret.

    Attributes:
        id: the key's id (UUID text).
        owner: the user the key belongs to.
        exchange: one of :data:`SUPPORTED_EXCHANGES`.
        label: the owner's name for the key, unique per owner and exchange.
        sandbox: the key is for the venue's test network (Alpaca: the paper account).
        key_hint: ``"…"`` and the last 4 characters of the API key (see :func:`key_hint`).
        created_at: when the key was stored (aware, UTC).
        rotated_at: when it was last re-encrypted by :meth:`SqlExchangeKeyStore.rotate` (aware, UTC), or None.
    """

    id: str
    owner: str
    exchange: str
    label: str
    sandbox: bool
    key_hint: str
    created_at: datetime
    rotated_at: datetime | None

    @property
    def account(self) -> str:
        """The account name of orders sent with this key: ``"<exchange>:<id>"``."""
        return f"{self.exchange}:{self.id}"


class KeyRotationError(KeyDecryptionError):
    """:meth:`SqlExchangeKeyStore.rotate` found rows that no configured key opens; every other row was rotated.

    Attributes:
        rotated: how many rows were re-encrypted with the newest key.
        failed: ``(key id, label)`` of each row left as it was.
    """

    def __init__(self, rotated: int, failed: builtins.list[tuple[str, str]], hint: str) -> None:
        self.rotated = rotated
        self.failed = list(failed)
        rows = ", ".join(f"id {key_id} (label {label!r})" for key_id, label in self.failed)
        super().__init__(
            f"{len(self.failed)} exchange key(s) could not be re-encrypted and were left as they are: {rows}; "
            f"{rotated} other(s) were re-encrypted with the newest key. {hint}"
        )


def _not_found(key_id: str) -> NotFoundError:
    # One message for a missing id and for another owner's id, so ids cannot be probed.
    return NotFoundError(f"no exchange key with id {key_id[:64]!r} for this user")


class SqlExchangeKeyStore:
    """Exchange keys in the ``exchange_keys`` table, encrypted with ``vault``.

    Args:
        engine: the database.
        vault: encrypts new keys with its newest key; decrypts with any of its keys.
        clock: the current time (aware, UTC); defaults to the system clock.
    """

    def __init__(
        self, engine: AsyncEngine, vault: KeyVault, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"SqlExchangeKeyStore({self._vault!r})"

    async def add(
        self,
        owner: str,
        exchange: str,
        label: str,
        credentials: ExchangeCredentials,
        sandbox: bool = False,
    ) -> ExchangeKeyInfo:
        """Encrypt and store ``credentials`` for ``owner`` on ``exchange`` under ``label``.

        ``exchange`` is case-insensitive and ``label`` is stripped; the API key is stripped of surrounding spaces,
        the secret and password are stored as given (an empty password as None).

        Raises:
            ConfigError: an unsupported exchange (the message lists the supported ones), an empty owner or label
                (or one too long: 128 / 64 characters), an empty API key or secret, or a key with this label
                already stored for this owner and exchange. No message contains a credential.
        """
        owner = _owner(owner)
        exchange = _exchange(exchange)
        label = (label or "").strip()
        if not label or len(label) > _MAX_LABEL:
            raise ConfigError(f"an exchange key needs a label of 1 to {_MAX_LABEL} characters")
        if not isinstance(credentials, ExchangeCredentials):
            raise ConfigError("exchange key credentials must be an ExchangeCredentials")
        # No local variable holds a credential: tracebacks rendered with their locals show only masked values.
        if not (credentials.api_key or "").strip():
            raise ConfigError(f"the API key of exchange key {label!r} is empty")
        if not (credentials.secret or "").strip():
            raise ConfigError(f"the secret of exchange key {label!r} is empty")
        token = self._vault.encrypt(_plaintext(credentials))
        row = {
            "id": str(uuid.uuid4()),
            "owner": owner,
            "exchange": exchange,
            "label": label,
            "sandbox": bool(sandbox),
            "key_hint": key_hint(credentials.api_key.strip()),
            "ciphertext": token.encode("ascii"),
            "created_at": self._clock().astimezone(UTC),
            "rotated_at": None,
        }
        duplicate = False
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(exchange_keys).values(**row))
        except IntegrityError:
            duplicate = True
        if duplicate:
            # Raised outside the except block: the driver's error quotes the row's parameters.
            raise ConfigError(
                f"an exchange key labelled {label!r} for {exchange} already exists for this user; "
                "choose another label or delete that key first"
            )
        return _info(row)

    async def list(self, owner: str) -> builtins.list[ExchangeKeyInfo]:
        """``owner``'s keys, by exchange then label (empty when there are none)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(*_INFO_COLUMNS)
                .where(exchange_keys.c.owner == owner)
                .order_by(exchange_keys.c.exchange, exchange_keys.c.label, exchange_keys.c.id)
            )
            return [_info(r._mapping) for r in rows]

    async def get(self, key_id: str, owner: str) -> ExchangeKeyInfo:
        """The key ``key_id`` of ``owner``.

        Raises:
            NotFoundError: no such key, or it belongs to someone else (the same message for both).
        """
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(*_INFO_COLUMNS).where(exchange_keys.c.id == key_id, exchange_keys.c.owner == owner)
                )
            ).first()
        if row is None:
            raise _not_found(key_id)
        return _info(row._mapping)

    async def credentials(self, key_id: str, owner: str) -> ExchangeCredentials:
        """The decrypted credentials of ``owner``'s key ``key_id``: the only method that decrypts.

        Raises:
            NotFoundError: no such key, or it belongs to someone else (the same message for both).
            KeyDecryptionError: no configured encryption key opens the row (the message names the key's id and
                label and says how to fix the configuration; it never contains a secret).
            DataError: the row opens but does not hold credentials.
        """
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(exchange_keys.c.id, exchange_keys.c.label, exchange_keys.c.ciphertext).where(
                        exchange_keys.c.id == key_id, exchange_keys.c.owner == owner
                    )
                )
            ).first()
        if row is None:
            raise _not_found(key_id)
        what = f"exchange key id {row.id} (label {row.label!r})"
        hint = ""
        try:
            return _credentials(self._vault.decrypt(_text(row.ciphertext)), what)
        except KeyDecryptionError as exc:
            hint = str(exc)
        raise KeyDecryptionError(f"{what}: {hint}")

    async def delete(self, key_id: str, owner: str) -> None:
        """Remove ``owner``'s key ``key_id``.

        Raises:
            NotFoundError: no such key, or it belongs to someone else (the same message for both).
        """
        async with self._engine.begin() as conn:
            done = await conn.execute(
                delete(exchange_keys).where(exchange_keys.c.id == key_id, exchange_keys.c.owner == owner)
            )
        if done.rowcount == 0:
            raise _not_found(key_id)

    async def rotate(self, *, batch: int = 100) -> int:
        """Re-encrypt every stored key with the vault's newest key and set its ``rotated_at``.

        Rows are read in id order, ``batch`` at a time, each batch in its own transaction; a row changed or
        deleted meanwhile is left to that change. Run it after putting a new key first in
        ``security.encryption_keys``; once it returns, the older keys can be removed from the setting.

        Returns:
            How many rows were re-encrypted.

        Raises:
            ConfigError: ``batch`` is below 1.
            KeyRotationError: some rows open with no configured key. Every other row was rotated first; the
                error names each failed row by id and label and carries ``rotated`` and ``failed``.
        """
        if batch < 1:
            raise ConfigError(f"rotate: batch must be at least 1 (got {batch})")
        rotated = 0
        failed: builtins.list[tuple[str, str]] = []
        hint = ""
        after = ""
        while True:
            async with self._engine.begin() as conn:
                rows = (
                    await conn.execute(
                        select(exchange_keys.c.id, exchange_keys.c.label, exchange_keys.c.ciphertext)
                        .where(exchange_keys.c.id > after)
                        .order_by(exchange_keys.c.id)
                        .limit(batch)
                        .with_for_update()
                    )
                ).all()
                if not rows:
                    break
                now = self._clock().astimezone(UTC)
                for row in rows:
                    new_token: str | None = None
                    try:
                        new_token = self._vault.rotate(_text(row.ciphertext))
                    except KeyDecryptionError as exc:
                        hint = str(exc)
                    if new_token is None:
                        failed.append((row.id, row.label))
                        continue
                    done = await conn.execute(
                        update(exchange_keys)
                        .where(exchange_keys.c.id == row.id, exchange_keys.c.ciphertext == row.ciphertext)
                        .values(ciphertext=new_token.encode("ascii"), rotated_at=now)
                    )
                    rotated += done.rowcount
                after = rows[-1].id
        if failed:
            raise KeyRotationError(rotated, failed, hint)
        return rotated


_INFO_COLUMNS = (
    exchange_keys.c.id,
    exchange_keys.c.owner,
    exchange_keys.c.exchange,
    exchange_keys.c.label,
    exchange_keys.c.sandbox,
    exchange_keys.c.key_hint,
    exchange_keys.c.created_at,
    exchange_keys.c.rotated_at,
)


def _owner(owner: str) -> str:
    owner = (owner or "").strip()
    if not owner or len(owner) > _MAX_OWNER:
        raise ConfigError(f"an exchange key needs an owner of 1 to {_MAX_OWNER} characters")
    return owner


def _exchange(exchange: str) -> str:
    ident = (exchange or "").strip().lower()
    if ident not in SUPPORTED_EXCHANGES:
        supported = ", ".join(SUPPORTED_EXCHANGES)
        raise ConfigError(f"unsupported exchange {ident[:32]!r} for an exchange key; supported: {supported}")
    return ident


def _info(m: Mapping[str, Any]) -> ExchangeKeyInfo:
    return ExchangeKeyInfo(
        id=m["id"],
        owner=m["owner"],
        exchange=m["exchange"],
        label=m["label"],
        sandbox=bool(m["sandbox"]),
        key_hint=m["key_hint"],
        created_at=m["created_at"],
        rotated_at=m["rotated_at"],
    )


def _text(ciphertext: bytes) -> str:
    """The stored token as text; bytes that are not ASCII can never be a valid token (the vault refuses them)."""
    return bytes(ciphertext).decode("ascii", errors="replace")


def _plaintext(credentials: ExchangeCredentials) -> str:
    """The JSON object that is encrypted: the API key stripped of spaces, an empty password as null."""
    return json.dumps(
        {
            "api_key": credentials.api_key.strip(),
            "secret": credentials.secret,
            "password": credentials.password or None,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _credentials(plaintext: str, what: str) -> ExchangeCredentials:
    """The credentials in a decrypted row; the message of a malformed one never quotes its content."""
    try:
        data = json.loads(plaintext)
    except ValueError:
        data = None
    creds = None
    if (
        isinstance(data, dict)
        and isinstance(data.get("api_key"), str)
        and isinstance(data.get("secret"), str)
        and isinstance(data.get("password"), str | None)
    ):
        creds = ExchangeCredentials(
            api_key=data["api_key"], secret=data["secret"], password=data.get("password")
        )
    # Dropped before raising: a traceback printed with its locals must not show the decrypted text.
    del plaintext, data
    if creds is None:
        raise DataError(f"{what} decrypts but holds no valid credentials; enter the key again")
    return creds
