"""The account stores on a real database (SQLite file and PostgreSQL): users with a unique lowercased email,
injection text kept verbatim, aware UTC times, cascading deletes, single-use recovery codes, TOTP steps, refresh
token families, single-use email tokens, API keys, sign-in events and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.accounts.errors import EmailTakenError, UserNotFoundError
from tsbot.accounts.models import Permission, Preferences, Role, User
from tsbot.accounts.records import (
    ApiKeyInfo,
    AuditAction,
    AuditEntry,
    LoginEvent,
    LoginOutcome,
    OneTimeToken,
    RefreshTokenRecord,
    TokenPurpose,
    UserRecord,
)
from tsbot.adapters.storage.account_events import SqlAccountEventLog
from tsbot.adapters.storage.account_tokens import SqlApiKeyStore, SqlTokenStore
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.database import create_engine, upgrade
from tsbot.adapters.storage.tables import api_keys, one_time_tokens, recovery_codes, refresh_tokens, users

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
INJECTION = 'Robert\'); DROP TABLE users;-- <script>alert("x")</script> \u00e9\u4e2d'


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = create_engine(database_url)
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


def _user(uid: str, email: str, role: Role = Role.TRADER, **kw: object) -> UserRecord:
    user = User(
        id=uid,
        email=email,
        display_name=kw.pop("display_name", "Ann"),  # type: ignore[arg-type]
        role=role,
        is_active=kw.pop("is_active", True),  # type: ignore[arg-type]
        email_verified=False,
        active_until=kw.pop("active_until", None),  # type: ignore[arg-type]
        totp_enabled=False,
        preferences=Preferences("Europe/Berlin", "de", "EUR", {"email": True, "min_confidence": 0.6}),
        created_at=T0,
        updated_at=T0,
    )
    return UserRecord(user, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "sealed-secret", None)


async def test_user_round_trip_keeps_every_field_and_injection_text(engine: AsyncEngine) -> None:
    store = SqlUserStore(engine)
    record = _user("u1", "ann@example.com", display_name=INJECTION, active_until=T0 + timedelta(days=3))
    await store.add(record)
    got = await store.get("u1")
    assert got == record  # display name, preferences, times (aware UTC) exactly as stored
    assert got is not None and got.user.active_until is not None and got.user.active_until.tzinfo is not None
    assert await store.by_email(" ANN@Example.com ") == record
    async with engine.connect() as conn:  # the injection text is data: the table is still there
        assert (await conn.execute(select(func.count()).select_from(users))).scalar_one() == 1
    with pytest.raises(EmailTakenError):  # bad input: the same address in another case
        await store.add(_user("u2", "ANN@example.com"))
    assert await store.get("nobody") is None


async def test_update_sets_only_the_fields_given(engine: AsyncEngine) -> None:
    store = SqlUserStore(engine)
    await store.add(_user("u1", "ann@example.com"))
    later = T0 + timedelta(hours=1)
    prefs = Preferences("UTC", "en", "USD", {"email": False})
    got = await store.update("u1", {"role": Role.ADMIN, "password_hash": "new-hash", "updated_at": later})
    assert got.user.role is Role.ADMIN and got.password_hash == "new-hash" and got.user.updated_at == later
    assert got.totp_secret == "sealed-secret" and got.user.display_name == "Ann"  # untouched fields stay
    got = await store.update("u1", {"preferences": prefs, "totp_secret": None, "is_active": False})
    assert got == await store.get("u1")
    assert got.user.preferences == prefs and got.totp_secret is None and not got.user.is_active
    assert got.user.role is Role.ADMIN and got.user.created_at == T0
    with pytest.raises(ValueError, match="email"):  # bad input: a field update() does not change
        await store.update("u1", {"email": "bob@example.com"})
    with pytest.raises(UserNotFoundError):
        await store.update("ghost", {"role": Role.VIEWER})


async def test_list_count_admins_and_totp_steps(engine: AsyncEngine) -> None:
    store = SqlUserStore(engine)
    await store.add(_user("a1", "a1@example.com", Role.ADMIN))
    await store.add(_user("a2", "a2@example.com", Role.ADMIN, is_active=False))
    await store.add(_user("a3", "a3@example.com", Role.ADMIN, active_until=T0))
    await store.add(_user("v1", "v1@example.com", Role.VIEWER))
    assert await store.count_admins(T0) == 1  # a2 deactivated, a3's activation ends at T0
    assert [r.user.id for r in await store.list(role=Role.ADMIN)] == ["a1", "a2", "a3"]
    assert [r.user.id for r in await store.list(active=False)] == ["a2"]
    assert [r.user.id for r in await store.list(limit=2, offset=1)] == ["a2", "a3"]
    assert await store.advance_totp_step("a1", 100)
    assert not await store.advance_totp_step("a1", 100)  # bad input: the same step again (replayed code)
    assert not await store.advance_totp_step("a1", 99)
    assert await store.advance_totp_step("a1", 101)
    record = await store.get("a1")
    assert record is not None and record.totp_last_step == 101
    updated = await store.update("a1", {"totp_enabled": True})  # other updates leave the step alone
    assert updated.totp_last_step == 101


async def test_recovery_codes_work_once(engine: AsyncEngine) -> None:
    store = SqlUserStore(engine)
    await store.add(_user("u1", "ann@example.com"))
    await store.set_recovery_codes("u1", ["h1", "h2", "h3"])
    assert await store.recovery_codes_left("u1") == 3
    assert await store.use_recovery_code("u1", "h2")
    assert not await store.use_recovery_code("u1", "h2")  # bad input: a used code
    assert not await store.use_recovery_code("u2", "h1")  # another user's code
    await store.set_recovery_codes("u1", ["n1"])
    assert await store.recovery_codes_left("u1") == 1


async def test_refresh_families_and_single_use_tokens(engine: AsyncEngine) -> None:
    await SqlUserStore(engine).add(_user("u1", "ann@example.com"))
    tokens = SqlTokenStore(engine)
    first = RefreshTokenRecord("r1", "u1", "f1", "hash1", T0, T0 + timedelta(days=7), ip="10.0.0.1")
    await tokens.add_refresh(first)
    await tokens.add_refresh(RefreshTokenRecord("r2", "u1", "f2", "hash2", T0, T0 + timedelta(days=7)))
    assert await tokens.refresh_by_hash("hash1") == first
    assert await tokens.family_active("f1", T0)
    assert await tokens.mark_refresh_used("r1", T0)
    assert not await tokens.mark_refresh_used("r1", T0)  # bad input: a second use of one token
    assert not await tokens.family_active("f1", T0)
    await tokens.add_refresh(RefreshTokenRecord("r3", "u1", "f1", "hash3", T0, T0 + timedelta(days=7)))
    assert await tokens.family_active("f1", T0) and not await tokens.family_active(
        "f1", T0 + timedelta(days=7)
    )
    assert await tokens.revoke_family("f1", T0) == 2
    assert await tokens.revoke_user_sessions("u1", T0, keep_family="f2") == 0
    assert await tokens.revoke_user_sessions("u1", T0) == 1
    assert (await tokens.refresh_by_hash("hash2")).revoked_at == T0  # type: ignore[union-attr]
    email = OneTimeToken("ot1", "u1", TokenPurpose.RESET_PASSWORD, T0, T0 + timedelta(hours=1))
    await tokens.add_one_time(email)
    await tokens.add_one_time(
        OneTimeToken("ot2", "u1", TokenPurpose.RESET_PASSWORD, T0, T0 + timedelta(hours=1))
    )
    assert await tokens.one_time_by_hash("ot1") == email
    assert await tokens.mark_one_time_used("ot1", T0)
    assert not await tokens.mark_one_time_used("ot1", T0)  # bad input: a reused link
    assert await tokens.discard_one_time("u1", TokenPurpose.RESET_PASSWORD, T0) == 1
    assert await tokens.discard_one_time("u1", TokenPurpose.VERIFY_EMAIL, T0) == 0


async def test_api_keys_are_found_by_hash_and_revoked_per_owner(engine: AsyncEngine) -> None:
    await SqlUserStore(engine).add(_user("u1", "ann@example.com"))
    keys = SqlApiKeyStore(engine)
    info = ApiKeyInfo("k1", "u1", "bot", "tsb_abcdefgh", frozenset({Permission.READ_SIGNALS}), T0)
    await keys.add_key(info, "keyhash1")
    later = ApiKeyInfo("k2", "u1", "other", "tsb_zzzzzzzz", frozenset(Permission), T0 + timedelta(hours=1))
    await keys.add_key(later, "keyhash2")
    assert await keys.key_by_hash("keyhash1") == info
    assert [k.id for k in await keys.list_keys("u1")] == ["k2", "k1"]
    assert not await keys.revoke_key("someone-else", "k1", T0)  # bad input: another user's key
    assert await keys.revoke_key("u1", "k1", T0) and not await keys.revoke_key("u1", "k1", T0)
    await keys.touch_key("k2", T0 + timedelta(hours=2))
    got = await keys.key_by_hash("keyhash2")
    assert (
        got is not None
        and got.last_used_at == T0 + timedelta(hours=2)
        and got.scopes == frozenset(Permission)
    )


async def test_deleting_a_user_cascades_but_keeps_history(engine: AsyncEngine) -> None:
    store, tokens, keys, events = (
        SqlUserStore(engine),
        SqlTokenStore(engine),
        SqlApiKeyStore(engine),
        SqlAccountEventLog(engine),
    )
    await store.add(_user("u1", "ann@example.com"))
    await store.set_recovery_codes("u1", ["h1"])
    await tokens.add_refresh(RefreshTokenRecord("r1", "u1", "f1", "hash1", T0, T0 + timedelta(days=1)))
    await tokens.add_one_time(
        OneTimeToken("ot1", "u1", TokenPurpose.VERIFY_EMAIL, T0, T0 + timedelta(hours=1))
    )
    await keys.add_key(ApiKeyInfo("k1", "u1", "bot", "tsb_x", frozenset(), T0), "kh")
    await events.add_login(LoginEvent(T0, "ann@example.com", "u1", None, None, LoginOutcome.SUCCESS))
    assert await store.delete("u1") and not await store.delete("u1")
    async with engine.connect() as conn:
        for table in (users, recovery_codes, refresh_tokens, one_time_tokens, api_keys):
            assert (await conn.execute(select(func.count()).select_from(table))).scalar_one() == 0, table.name
        assert (await conn.execute(text("SELECT COUNT(*) FROM login_events"))).scalar_one() == 1


async def test_login_events_count_failures_by_email_and_ip(engine: AsyncEngine) -> None:
    events = SqlAccountEventLog(engine)
    for n, outcome in enumerate(
        [
            LoginOutcome.BAD_PASSWORD,
            LoginOutcome.LOCKED,
            LoginOutcome.BAD_TOTP,
            LoginOutcome.SUCCESS,
            LoginOutcome.UNKNOWN_EMAIL,
        ]
    ):
        await events.add_login(
            LoginEvent(T0 + timedelta(minutes=n), "ann@example.com", "u1", "10.0.0.1", "ua", outcome)
        )
    await events.add_login(
        LoginEvent(T0, "bob@example.com", None, "10.0.0.2", None, LoginOutcome.UNKNOWN_EMAIL)
    )
    times = await events.failure_times(T0 - timedelta(seconds=1), email="ann@example.com")
    assert times == [T0, T0 + timedelta(minutes=2), T0 + timedelta(minutes=4)]  # LOCKED does not count
    assert await events.failure_times(T0, email="ann@example.com") == times[1:]  # strictly after
    assert len(await events.failure_times(T0 - timedelta(seconds=1), ip="10.0.0.2")) == 1
    assert await events.last_success_at("ann@example.com") == T0 + timedelta(minutes=3)
    assert await events.last_success_at("bob@example.com") is None
    history = await events.login_history("u1", limit=2)
    assert [e.outcome for e in history] == [LoginOutcome.UNKNOWN_EMAIL, LoginOutcome.SUCCESS]
    assert history[0].at.tzinfo is not None


async def test_audit_log_filters(engine: AsyncEngine) -> None:
    events = SqlAccountEventLog(engine)
    await events.add_audit(
        AuditEntry(T0, AuditAction.LOGIN, "u1", "ann@example.com", "u1", "10.0.0.1", {"s": "f1"})
    )
    await events.add_audit(
        AuditEntry(
            T0 + timedelta(minutes=1),
            AuditAction.ROLE_CHANGED,
            "a1",
            "boss@x.io",
            "u1",
            None,
            {"new": "admin"},
        )
    )
    await events.add_audit(
        AuditEntry(T0 + timedelta(minutes=2), AuditAction.USER_CREATED, None, "operator", "u2")
    )
    everything = await events.audit()
    assert [e.action for e in everything] == [
        AuditAction.USER_CREATED,
        AuditAction.ROLE_CHANGED,
        AuditAction.LOGIN,
    ]
    assert (
        everything[2].details == {"s": "f1"}
        and everything[2].ip == "10.0.0.1"
        and everything[2].id is not None
    )
    assert [e.action for e in await events.audit(user_id="u1")] == [
        AuditAction.ROLE_CHANGED,
        AuditAction.LOGIN,
    ]
    assert [e.actor for e in await events.audit(user_id="a1")] == ["boss@x.io"]
    assert len(await events.audit(actions=[AuditAction.LOGIN, AuditAction.USER_CREATED])) == 2
    window = await events.audit(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=2))
    assert [e.action for e in window] == [AuditAction.ROLE_CHANGED]
    assert len(await events.audit(limit=1)) == 1
