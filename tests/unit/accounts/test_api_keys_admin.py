"""API keys (shown once, hashed, scoped, revocable), administration (roles, activation, deletion, the last admin
kept), permissions of roles, profile settings, and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.accounts.conftest import PASSWORD, Kit

from tsbot.accounts.errors import (
    AccountInactiveError,
    AccountInputError,
    LastAdminError,
    PermissionDeniedError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
    UserNotFoundError,
)
from tsbot.accounts.models import OPERATOR, ROLE_PERMISSIONS, Permission, Role
from tsbot.accounts.records import AuditAction
from tsbot.accounts.tokens import digest
from tsbot.core.errors import NotFoundError


def test_role_permissions() -> None:
    assert ROLE_PERMISSIONS[Role.ADMIN] == frozenset(Permission)
    trader, viewer, api = (
        ROLE_PERMISSIONS[Role.TRADER],
        ROLE_PERMISSIONS[Role.VIEWER],
        ROLE_PERMISSIONS[Role.API_USER],
    )
    assert {
        Permission.WRITE_ORDERS,
        Permission.USE_AI,
        Permission.WRITE_BOTS,
        Permission.READ_SIGNALS,
    } <= trader
    assert Permission.WRITE_USERS not in trader and Permission.SYSTEM_CONFIG not in trader
    assert all(p.value.startswith("read_") for p in viewer)
    assert api == {
        Permission.READ_SIGNALS,
        Permission.READ_MARKET,
        Permission.READ_PORTFOLIO,
        Permission.READ_ORDERS,
        Permission.WRITE_ORDERS,
    }


async def test_api_key_is_shown_once_stored_hashed_and_scoped(kit: Kit) -> None:
    user = await kit.user(role=Role.TRADER)
    new = await kit.service.create_api_key(user.id, "my bot", [Permission.READ_SIGNALS, "write_orders"])
    assert new.key.startswith("tsb_") and len(new.key) == 47 and new.info.prefix == new.key[:12]
    stored_info, stored_hash = kit.keys.keys[new.info.id]
    assert stored_hash == digest(new.key) and new.key not in repr(stored_info)
    identity = await kit.service.authenticate_api_key(new.key)
    assert identity.user.id == user.id and identity.api_key_id == new.info.id
    assert identity.permissions == {Permission.READ_SIGNALS, Permission.WRITE_ORDERS}
    with pytest.raises(PermissionDeniedError, match="through this API key"):
        identity.require(Permission.WRITE_BOTS)
    listed = await kit.service.list_api_keys(user.id)
    assert [k.id for k in listed] == [new.info.id] and listed[0].last_used_at == kit.clock.now


async def test_api_key_scopes_cannot_exceed_the_role(kit: Kit) -> None:
    user = await kit.user(role=Role.VIEWER)
    with pytest.raises(PermissionDeniedError, match="write_orders"):  # bad input: a scope beyond the role
        await kit.service.create_api_key(user.id, "k", [Permission.WRITE_ORDERS])
    with pytest.raises(AccountInputError, match="unknown scope"):  # bad input: unknown scope name
        await kit.service.create_api_key(user.id, "k", ["launch_rockets"])
    with pytest.raises(AccountInputError, match="name"):  # bad input: empty name
        await kit.service.create_api_key(user.id, "  ", None)
    key = await kit.service.create_api_key(user.id, "reader")  # None: all of the role's permissions
    assert key.info.scopes == ROLE_PERMISSIONS[Role.VIEWER]


async def test_revoked_expired_and_bogus_keys_are_refused(kit: Kit) -> None:
    user = await kit.user()
    key = await kit.service.create_api_key(user.id, "k1")
    short = await kit.service.create_api_key(user.id, "k2", expires_at=kit.clock.now + timedelta(days=1))
    for bogus in ("", "abc", "tsb_" + "x" * 43, key.key + "x"):  # bad input: unknown keys
        with pytest.raises(TokenInvalidError):
            await kit.service.authenticate_api_key(bogus)
    other = await kit.user("bob@example.com")
    with pytest.raises(NotFoundError):  # bad input: another user's key id
        await kit.service.revoke_api_key(other.id, key.info.id)
    await kit.service.revoke_api_key(user.id, key.info.id)
    with pytest.raises(TokenRevokedError):  # bad input: a revoked key
        await kit.service.authenticate_api_key(key.key)
    kit.clock.advance(days=1)
    with pytest.raises(TokenExpiredError):  # bad input: an expired key
        await kit.service.authenticate_api_key(short.key)


async def test_a_deactivated_users_key_stops_working(kit: Kit) -> None:
    user = await kit.user()
    key = await kit.service.create_api_key(user.id, "k")
    await kit.service.set_active(OPERATOR, user.id, False)
    with pytest.raises(AccountInactiveError):  # bad input: a deactivated user's API key
        await kit.service.authenticate_api_key(key.key)


async def test_admin_actions_need_the_permission_and_are_audited(kit: Kit) -> None:
    admin = await kit.user("boss@example.com", Role.ADMIN)
    await kit.user(role=Role.TRADER)
    boss = await kit.service.authenticate(
        (await kit.service.login("boss@example.com", PASSWORD)).access_token
    )
    trader = await kit.service.authenticate(
        (await kit.service.login("ann@example.com", PASSWORD)).access_token
    )
    with pytest.raises(PermissionDeniedError, match="write_users"):  # bad input: a trader acting as admin
        await kit.service.create_user(trader, "x@example.com", PASSWORD, Role.ADMIN)
    with pytest.raises(PermissionDeniedError):
        await kit.service.audit_log(trader)
    created = await kit.service.create_user(boss, "viewer@example.com", PASSWORD, Role.VIEWER, ip="10.0.0.1")
    assert created.email_verified and created.role is Role.VIEWER
    await kit.service.set_role(boss, created.id, Role.API_USER, ip="10.0.0.1")
    entries = await kit.service.audit_log(boss, user_id=created.id)
    assert [e.action for e in entries] == [AuditAction.ROLE_CHANGED, AuditAction.USER_CREATED]
    assert entries[0].actor_id == admin.id and entries[0].actor == "boss@example.com"
    assert entries[0].ip == "10.0.0.1" and entries[0].details == {"old": "viewer", "new": "api_user"}
    users = await kit.service.list_users(boss, role=Role.API_USER)
    assert [u.email for u in users] == ["viewer@example.com"]
    with pytest.raises(UserNotFoundError):
        await kit.service.find_user(boss, "nobody@example.com")


async def test_the_last_admin_cannot_be_demoted_deactivated_or_deleted(kit: Kit) -> None:
    admin = await kit.user("boss@example.com", Role.ADMIN)
    with pytest.raises(LastAdminError):
        await kit.service.set_role(OPERATOR, admin.id, Role.TRADER)
    with pytest.raises(LastAdminError):
        await kit.service.deactivate(OPERATOR, admin.id)
    with pytest.raises(LastAdminError):
        await kit.service.delete_user(OPERATOR, admin.id)
    with pytest.raises(LastAdminError):
        await kit.service.set_active_until(OPERATOR, admin.id, kit.clock.now - timedelta(seconds=1))
    second = await kit.user("deputy@example.com", Role.ADMIN)
    await kit.service.set_role(OPERATOR, admin.id, Role.TRADER)
    await kit.service.delete_user(OPERATOR, admin.id)
    assert [u.id for u in await kit.service.list_users(OPERATOR)] == [second.id]


async def test_profile_update_validates_and_stores_injection_text_verbatim(kit: Kit) -> None:
    user = await kit.user()
    name = "Robert'); DROP TABLE users;-- <script>alert(1)</script>"  # bad input: injection strings as a name
    updated = await kit.service.update_profile(
        user.id,
        display_name=name,
        time_zone="America/New_York",
        language="de",
        currency="eur",
        notifications={"email": False, "min_confidence": 0.7},
    )
    assert updated.display_name == name
    prefs = updated.preferences
    assert (prefs.time_zone, prefs.language, prefs.currency) == ("America/New_York", "de", "EUR")
    assert dict(prefs.notifications) == {"email": False, "min_confidence": 0.7}
    with pytest.raises(AccountInputError, match="time zone"):  # bad input: unknown time zone
        await kit.service.update_profile(user.id, time_zone="Europe/Atlantis", language="fr")
    assert (await kit.service.profile(user.id)).preferences.language == "de"  # nothing stored on error
    audit = [e for e in kit.events.entries if e.action is AuditAction.PROFILE_UPDATED]
    assert audit[-1].details == {"fields": ["display_name", "preferences"]}
