"""Users' exchange keys encrypted at rest, on a real database (SQLite file and PostgreSQL): what is stored, who may
read it, a changed decryption key, rotation to a new key, and the refusals."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.secrets import KeyDecryptionError, KeyVault, vault_from_settings
from tsbot.adapters.storage.database import create_engine, upgrade
from tsbot.adapters.storage.exchange_keys import (
    ExchangeCredentials,
    ExchangeKeyInfo,
    KeyRotationError,
    SqlExchangeKeyStore,
)
from tsbot.adapters.storage.tables import exchange_keys
from tsbot.config import load_settings
from tsbot.core.errors import ConfigError, NotFoundError

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PASSWORD = "kraken-passphrase-Qx7!"
CREDS = ExchangeCredentials(API_KEY, SECRET)
KEY_HINT = "…Eh8A"  # the last 4 characters of API_KEY
HINT = (
    "this exchange key was encrypted with a key that is no longer configured; add the old key to "
    "security.encryption_keys (after the new one) or enter the exchange key again"
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = create_engine(database_url)
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


def store_with(engine: AsyncEngine, *keys: str, clock: Clock | None = None) -> SqlExchangeKeyStore:
    """A store whose vault comes from settings, as the application builds it."""
    settings = load_settings(security={"encryption_keys": list(keys)})
    return SqlExchangeKeyStore(engine, vault_from_settings(settings), clock=clock)


async def raw_rows(engine: AsyncEngine) -> dict[str, dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(exchange_keys))
        return {r.id: dict(r._mapping) for r in rows}


async def test_add_list_get_return_only_public_facts(engine: AsyncEngine) -> None:
    clock = Clock()
    store = store_with(engine, KeyVault.generate_key(), clock=clock)
    main = await store.add("alice", "Binance", " main ", CREDS)
    clock.now = T0 + timedelta(minutes=5)
    kraken = await store.add(
        "alice", "kraken", "savings", ExchangeCredentials("kr-" + API_KEY, SECRET, PASSWORD)
    )
    paper = await store.add(
        "alice", "alpaca", "paper", ExchangeCredentials("PK" + API_KEY[:18], SECRET), True
    )
    await store.add("bob", "binance", "main", ExchangeCredentials("bob-" + API_KEY, SECRET))

    assert main == ExchangeKeyInfo(main.id, "alice", "binance", "main", False, KEY_HINT, T0, None)
    assert str(uuid.UUID(main.id)) == main.id and main.account == f"binance:{main.id}"
    assert (kraken.exchange, kraken.created_at, kraken.key_hint) == (
        "kraken",
        T0 + timedelta(minutes=5),
        KEY_HINT,
    )
    assert paper.sandbox is True and paper.key_hint == "…" + API_KEY[14:18]
    listed = await store.list("alice")
    assert listed == [paper, main, kraken]  # by exchange, then label
    assert await store.list("nobody") == []
    assert await store.get(kraken.id, "alice") == kraken
    for info in listed:
        assert info.created_at.tzinfo is UTC
        for shown in (repr(info), str(info), repr(listed)):
            assert API_KEY not in shown and SECRET not in shown and PASSWORD not in shown


async def test_short_api_key_gets_no_hint(engine: AsyncEngine) -> None:
    # Bad input: an API key so short that its last 4 characters would give a quarter of it away.
    store = store_with(engine, KeyVault.generate_key())
    info = await store.add("alice", "coinbase", "tiny", ExchangeCredentials("abcdefgh12", SECRET))
    assert info.key_hint == "…"
    assert "12" not in repr(ExchangeCredentials("abcdefgh12", SECRET))


async def test_ciphertext_column_holds_neither_the_api_key_nor_the_secret(engine: AsyncEngine) -> None:
    key = KeyVault.generate_key()
    store = store_with(engine, key)
    info = await store.add("alice", "kraken", "main", ExchangeCredentials(API_KEY, SECRET, PASSWORD))
    row = (await raw_rows(engine))[info.id]
    ciphertext = row["ciphertext"]
    assert isinstance(ciphertext, bytes) and len(ciphertext) > 100
    for plain in (API_KEY, SECRET, PASSWORD, API_KEY[:16], SECRET[-16:]):
        assert plain.encode() not in ciphertext
        for value in row.values():
            assert plain not in str(value)
    assert row["key_hint"] == KEY_HINT
    # The column is the vault's Fernet token of the JSON object, and nothing else.
    payload = json.loads(KeyVault([key]).decrypt(ciphertext.decode("ascii")))
    assert payload == {"api_key": API_KEY, "secret": SECRET, "password": PASSWORD}


async def test_credentials_round_trip(engine: AsyncEngine) -> None:
    store = store_with(engine, KeyVault.generate_key())
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBz+secret/ünï\n-----END EC PRIVATE KEY-----\n"
    plain = await store.add("alice", "binance", "main", CREDS)
    # Bad input: surrounding spaces around a pasted API key, and an empty passphrase.
    cdp = await store.add("alice", "coinbase", "cdp", ExchangeCredentials(f"  {API_KEY}\n", pem, ""))
    with_pass = await store.add("alice", "kraken", "main", ExchangeCredentials(API_KEY, SECRET, PASSWORD))
    assert await store.credentials(plain.id, "alice") == ExchangeCredentials(API_KEY, SECRET, None)
    assert await store.credentials(cdp.id, "alice") == ExchangeCredentials(API_KEY, pem, None)
    assert await store.credentials(with_pass.id, "alice") == ExchangeCredentials(API_KEY, SECRET, PASSWORD)


async def test_another_owner_gets_not_found_with_the_message_of_a_missing_id(engine: AsyncEngine) -> None:
    # Bad input: bob asks for, decrypts and deletes alice's key by its id.
    store = store_with(engine, KeyVault.generate_key())
    info = await store.add("alice", "binance", "main", CREDS)
    missing = str(uuid.uuid4())
    messages = []
    for key_id in (info.id, missing):
        for call in (store.get, store.credentials, store.delete):
            with pytest.raises(NotFoundError) as err:
                await call(key_id, "bob")
            messages.append(str(err.value).replace(key_id, "<id>"))
    assert set(messages) == {"no exchange key with id '<id>' for this user"}
    assert await store.get(info.id, "alice") == info  # bob's delete removed nothing
    assert await store.credentials(info.id, "alice") == CREDS


async def test_delete_removes_the_key(engine: AsyncEngine) -> None:
    store = store_with(engine, KeyVault.generate_key())
    info = await store.add("alice", "binance", "main", CREDS)
    await store.delete(info.id, "alice")
    assert await store.list("alice") == [] and await raw_rows(engine) == {}
    with pytest.raises(NotFoundError):
        await store.delete(info.id, "alice")
    again = await store.add("alice", "binance", "main", CREDS)  # the label is free again
    assert again.id != info.id


async def test_changed_decryption_key_raises_key_decryption_error_with_the_operator_hint(
    engine: AsyncEngine,
) -> None:
    # Bad input: the settings' key was replaced by a new one, the old one dropped.
    old_key, new_key = KeyVault.generate_key(), KeyVault.generate_key()
    info = await store_with(engine, old_key).add(
        "alice", "kraken", "main", ExchangeCredentials(API_KEY, SECRET, PASSWORD)
    )
    changed = store_with(engine, new_key)
    assert await changed.get(info.id, "alice") == info  # the public facts need no key
    with pytest.raises(KeyDecryptionError) as err:
        await changed.credentials(info.id, "alice")
    message = str(err.value)
    assert message == f"exchange key id {info.id} (label 'main'): {HINT}"
    assert err.value.__cause__ is None and err.value.__context__ is None
    for secret in (API_KEY, SECRET, PASSWORD, old_key, new_key, KEY_HINT):
        assert secret not in message and secret not in repr(err.value)


async def test_rotation_moves_every_row_to_the_new_key_so_the_old_one_can_be_dropped(
    engine: AsyncEngine,
) -> None:
    old_key, new_key = KeyVault.generate_key(), KeyVault.generate_key()
    clock = Clock()
    old = store_with(engine, old_key, clock=clock)
    infos = [
        await old.add(owner, exchange, "main", ExchangeCredentials(f"{owner}-{exchange}-{API_KEY}", SECRET))
        for owner in ("alice", "bob")
        for exchange in ("binance", "kraken", "coinbase")
    ]
    before = await raw_rows(engine)
    clock.now = T0 + timedelta(days=30)
    both = store_with(engine, new_key, old_key, clock=clock)
    assert await both.rotate(batch=4) == 6  # two batches: 4 + 2
    after = await raw_rows(engine)
    assert all(after[i.id]["ciphertext"] != before[i.id]["ciphertext"] for i in infos)
    assert {row["rotated_at"] for row in after.values()} == {T0 + timedelta(days=30)}
    assert (await both.get(infos[0].id, "alice")).rotated_at == T0 + timedelta(days=30)

    new_only = store_with(engine, new_key)
    old_only = store_with(engine, old_key)
    for info in infos:
        expected = ExchangeCredentials(f"{info.owner}-{info.exchange}-{API_KEY}", SECRET)
        assert await new_only.credentials(info.id, info.owner) == expected
        with pytest.raises(KeyDecryptionError):
            await old_only.credentials(info.id, info.owner)
    assert await store_with(engine, new_key).rotate() == 6  # idempotent: the same rows, still readable


async def test_rotation_reports_a_row_no_configured_key_opens_after_rotating_the_others(
    engine: AsyncEngine,
) -> None:
    # Bad input: one row was encrypted with a key that is in no configuration any more.
    lost_key, old_key, new_key = (KeyVault.generate_key() for _ in range(3))
    lost = await store_with(engine, lost_key).add("carol", "binance", "lost", CREDS)
    old = store_with(engine, old_key)
    kept = [await old.add("alice", ex, "main", CREDS) for ex in ("binance", "kraken", "alpaca")]
    lost_before = (await raw_rows(engine))[lost.id]["ciphertext"]

    with pytest.raises(KeyRotationError) as err:
        await store_with(engine, new_key, old_key).rotate(batch=2)
    assert isinstance(err.value, KeyDecryptionError)
    assert (err.value.rotated, err.value.failed) == (3, [(lost.id, "lost")])
    assert str(err.value) == (
        f"1 exchange key(s) could not be re-encrypted and were left as they are: id {lost.id} (label 'lost'); "
        f"3 other(s) were re-encrypted with the newest key. {HINT}"
    )
    assert SECRET not in str(err.value) and API_KEY not in str(err.value)
    rows = await raw_rows(engine)
    assert rows[lost.id]["ciphertext"] == lost_before and rows[lost.id]["rotated_at"] is None
    new_only = store_with(engine, new_key)
    for info in kept:
        assert await new_only.credentials(info.id, "alice") == CREDS
    await new_only.delete(lost.id, "carol")
    assert await new_only.rotate() == 3


async def test_duplicate_label_is_refused_naming_it(engine: AsyncEngine) -> None:
    # Bad input: a second key under a label the owner already uses on that exchange.
    store = store_with(engine, KeyVault.generate_key())
    first = await store.add("alice", "binance", "main", CREDS)
    other = ExchangeCredentials("other-" + API_KEY, "other-" + SECRET)
    with pytest.raises(ConfigError) as err:
        await store.add("alice", "BINANCE", "main ", other)
    assert str(err.value) == (
        "an exchange key labelled 'main' for binance already exists for this user; "
        "choose another label or delete that key first"
    )
    assert err.value.__cause__ is None and err.value.__context__ is None
    assert await store.list("alice") == [first]
    assert await store.credentials(first.id, "alice") == CREDS  # the first key is untouched
    # The same label on another exchange, or for another owner, is a different key.
    assert (await store.add("alice", "kraken", "main", other)).label == "main"
    assert (await store.add("bob", "binance", "main", other)).owner == "bob"


@pytest.mark.parametrize("exchange", ["bybit", "", "binance.us", "ftx"])
async def test_unsupported_exchange_is_refused(engine: AsyncEngine, exchange: str) -> None:
    # Bad input: an exchange tsbot has no broker for.
    store = store_with(engine, KeyVault.generate_key())
    with pytest.raises(ConfigError, match="supported: binance, coinbase, kraken, alpaca"):
        await store.add("alice", exchange, "main", CREDS)
    assert await raw_rows(engine) == {}


@pytest.mark.parametrize(
    ("owner", "label", "creds", "message"),
    [
        pytest.param("alice", "main", ExchangeCredentials("", SECRET), "API key", id="empty-api-key"),
        pytest.param("alice", "main", ExchangeCredentials("   ", SECRET), "API key", id="blank-api-key"),
        pytest.param("alice", "main", ExchangeCredentials(API_KEY, ""), "secret", id="empty-secret"),
        pytest.param("alice", "main", ExchangeCredentials(API_KEY, " \n"), "secret", id="blank-secret"),
        pytest.param("alice", " ", CREDS, "label of 1 to 64", id="blank-label"),
        pytest.param("alice", "x" * 65, CREDS, "label of 1 to 64", id="long-label"),
        pytest.param("", "main", CREDS, "owner of 1 to 128", id="no-owner"),
    ],
)
async def test_incomplete_keys_are_refused(
    engine: AsyncEngine, owner: str, label: str, creds: ExchangeCredentials, message: str
) -> None:
    # Bad input: an empty or blank API key or secret, a blank or too long label, no owner.
    store = store_with(engine, KeyVault.generate_key())
    with pytest.raises(ConfigError, match=message) as err:
        await store.add(owner, "binance", label, creds)
    assert SECRET not in str(err.value) and API_KEY not in str(err.value)
    assert await raw_rows(engine) == {}


async def test_rotate_refuses_a_batch_below_one(engine: AsyncEngine) -> None:
    # Bad input: batch=0 would never advance.
    with pytest.raises(ConfigError, match="batch must be at least 1"):
        await store_with(engine, KeyVault.generate_key()).rotate(batch=0)
