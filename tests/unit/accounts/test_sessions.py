"""Refresh-token rotation and reuse detection, logout, password change, and access tokens checked against the
store (role read from the store, ended sessions and deleted users refused)."""

from __future__ import annotations

import pytest
from tests.unit.accounts.conftest import PASSWORD, Kit

from tsbot.accounts.errors import (
    InvalidCredentialsError,
    TokenExpiredError,
    TokenInvalidError,
    TokenReuseError,
    TokenRevokedError,
    WeakPasswordError,
)
from tsbot.accounts.models import OPERATOR, Permission, Role
from tsbot.accounts.records import AuditAction


async def test_refresh_rotates_and_a_reused_token_ends_the_session(kit: Kit) -> None:
    user = await kit.user()
    first = await kit.service.login("ann@example.com", PASSWORD)
    second = await kit.service.refresh(first.refresh_token, ip="10.0.0.2")
    assert second.session_id == first.session_id and second.refresh_token != first.refresh_token
    with pytest.raises(TokenReuseError):  # bad input: a refresh token used twice
        await kit.service.refresh(first.refresh_token, ip="10.6.6.6")
    with pytest.raises(TokenRevokedError):  # the whole family is revoked, the newest token included
        await kit.service.refresh(second.refresh_token)
    with pytest.raises(TokenRevokedError):  # and the access token of the session stops working
        await kit.service.authenticate(second.access_token)
    reuse = [e for e in kit.events.entries if e.action is AuditAction.REFRESH_REUSED]
    assert len(reuse) == 1 and reuse[0].target == user.id and reuse[0].ip == "10.6.6.6"
    assert reuse[0].details["session"] == first.session_id
    other = await kit.service.login("ann@example.com", PASSWORD)  # a new sign-in works again
    assert await kit.service.authenticate(other.access_token)


async def test_expired_and_unknown_refresh_tokens_are_refused(kit: Kit) -> None:
    await kit.user()
    pair = await kit.service.login("ann@example.com", PASSWORD)
    with pytest.raises(TokenInvalidError):  # bad input: a made-up refresh token
        await kit.service.refresh("not-a-token")
    kit.clock.advance(days=7)  # bad input: a refresh token past refresh_token_days
    with pytest.raises(TokenExpiredError):
        await kit.service.refresh(pair.refresh_token)
    with pytest.raises(TokenExpiredError):  # the access token (30 minutes) expired long ago
        await kit.service.authenticate(pair.access_token)


async def test_access_token_expires_after_its_minutes(kit: Kit) -> None:
    await kit.user()
    pair = await kit.service.login("ann@example.com", PASSWORD)
    kit.clock.advance(minutes=29)
    assert await kit.service.authenticate(pair.access_token)
    kit.clock.advance(minutes=1)  # bad input: an expired access token
    with pytest.raises(TokenExpiredError):
        await kit.service.authenticate(pair.access_token)
    fresh = await kit.service.refresh(pair.refresh_token)
    assert (await kit.service.authenticate(fresh.access_token)).session_id == pair.session_id


async def test_logout_ends_the_session_only(kit: Kit) -> None:
    await kit.user()
    phone = await kit.service.login("ann@example.com", PASSWORD)
    laptop = await kit.service.login("ann@example.com", PASSWORD)
    assert await kit.service.logout(phone.refresh_token, ip="10.0.0.3")
    assert not await kit.service.logout("unknown-token")  # nothing to do, no error
    with pytest.raises(TokenRevokedError):
        await kit.service.refresh(phone.refresh_token)
    with pytest.raises(TokenRevokedError):
        await kit.service.authenticate(phone.access_token)
    identity = await kit.service.authenticate(laptop.access_token)
    await kit.service.end_session(identity.user.id, identity.session_id or "")
    with pytest.raises(TokenRevokedError):
        await kit.service.authenticate(laptop.access_token)


async def test_change_password_keeps_the_current_session_and_ends_the_others(kit: Kit) -> None:
    user = await kit.user()
    here = await kit.service.login("ann@example.com", PASSWORD)
    there = await kit.service.login("ann@example.com", PASSWORD)
    with pytest.raises(InvalidCredentialsError):  # bad input: wrong current password
        await kit.service.change_password(user.id, "Wrong-password-1", "Brand-new-pass-7")
    with pytest.raises(WeakPasswordError):  # bad input: new password equal to the email
        await kit.service.change_password(user.id, PASSWORD, "ann@example.com")
    await kit.service.change_password(user.id, PASSWORD, "Brand-new-pass-7", keep_session=here.session_id)
    assert await kit.service.authenticate(here.access_token)
    with pytest.raises(TokenRevokedError):
        await kit.service.authenticate(there.access_token)
    with pytest.raises(InvalidCredentialsError):
        await kit.service.login("ann@example.com", PASSWORD)
    assert await kit.service.login("ann@example.com", "Brand-new-pass-7")


async def test_role_comes_from_the_store_not_the_token(kit: Kit) -> None:
    await kit.user("boss@example.com", Role.ADMIN)
    user = await kit.user(role=Role.VIEWER)
    pair = await kit.service.login("ann@example.com", PASSWORD)
    assert not (await kit.service.authenticate(pair.access_token)).can(Permission.WRITE_ORDERS)
    await kit.service.set_role(OPERATOR, user.id, Role.TRADER)
    identity = await kit.service.authenticate(pair.access_token)  # same token, new role
    assert identity.user.role is Role.TRADER and identity.can(Permission.WRITE_ORDERS)
    await kit.service.delete_user(OPERATOR, user.id)
    with pytest.raises(TokenRevokedError):  # bad input: a deleted user's token
        await kit.service.authenticate(pair.access_token)


async def test_forged_token_is_refused_by_authenticate(kit: Kit) -> None:
    await kit.user()
    pair = await kit.service.login("ann@example.com", PASSWORD)
    head, body, sig = pair.access_token.split(".")
    tampered = f"{head}.{body}.{sig[:-4]}AAAA"  # bad input: a token with a changed signature
    with pytest.raises(TokenInvalidError):
        await kit.service.authenticate(tampered)
    claims = kit.service.decode_access_token(pair.access_token)
    assert claims.session_id == pair.session_id and claims.role is Role.TRADER
