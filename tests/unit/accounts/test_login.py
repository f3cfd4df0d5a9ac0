"""Signing in: right and wrong passwords, unknown emails (the same answer), the lock after too many failures per
account and per IP, deactivated and expired accounts, unconfirmed emails, and the login history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.accounts.conftest import PASSWORD, Kit, make_kit

from tsbot.accounts.errors import (
    AccountInactiveError,
    AccountLockedError,
    EmailNotVerifiedError,
    InvalidCredentialsError,
    TokenRevokedError,
)
from tsbot.accounts.models import OPERATOR, Permission, Role
from tsbot.accounts.records import AuditAction, LoginOutcome
from tsbot.config import AccountsConfig


async def test_login_gives_tokens_that_authenticate(kit: Kit) -> None:
    user = await kit.user("Ann@Example.com", Role.TRADER)
    pair = await kit.service.login("ANN@example.com", PASSWORD, ip="10.0.0.1", user_agent="pytest")
    identity = await kit.service.authenticate(pair.access_token)
    assert identity.user.id == user.id and identity.session_id == pair.session_id
    assert identity.can(Permission.WRITE_ORDERS) and not identity.can(Permission.WRITE_USERS)
    history = await kit.service.login_history(user.id)
    assert [e.outcome for e in history] == [LoginOutcome.SUCCESS]
    assert history[0].ip == "10.0.0.1" and history[0].user_agent == "pytest"
    assert (await kit.service.profile(user.id)).last_login_at == kit.clock.now


async def test_wrong_password_and_unknown_email_get_the_same_answer(kit: Kit) -> None:
    await kit.user()
    with pytest.raises(InvalidCredentialsError) as wrong:  # bad input: wrong password
        await kit.service.login("ann@example.com", "Not-the-password-1")
    with pytest.raises(InvalidCredentialsError) as unknown:  # bad input: unknown email
        await kit.service.login("nobody@example.com", PASSWORD)
    with pytest.raises(InvalidCredentialsError) as malformed:  # bad input: not an email at all
        await kit.service.login("not an email", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == str(malformed.value) == "wrong email or password"
    outcomes = [e.outcome for e in kit.events.logins]
    assert outcomes == [LoginOutcome.BAD_PASSWORD, LoginOutcome.UNKNOWN_EMAIL, LoginOutcome.UNKNOWN_EMAIL]


async def test_sixth_try_on_an_account_is_locked_even_with_the_right_password(kit: Kit) -> None:
    await kit.user()
    for n in range(5):  # bad input: five wrong passwords from five addresses
        with pytest.raises(InvalidCredentialsError):
            await kit.service.login("ann@example.com", f"Wrong-password-{n}", ip=f"10.0.0.{n}")
    with pytest.raises(AccountLockedError) as locked:  # the 6th try: refused before the password is checked
        await kit.service.login("ann@example.com", PASSWORD, ip="10.9.9.9")
    first_failure = kit.events.logins[0].at
    assert locked.value.retry_at == first_failure + timedelta(minutes=15)
    assert "try again after" in str(locked.value)
    with pytest.raises(AccountLockedError) as wrong_too:  # a wrong password gets the very same answer
        await kit.service.login("ann@example.com", "Wrong-password-x", ip="10.9.9.9")
    assert str(wrong_too.value) == str(locked.value)
    assert kit.events.logins[-1].outcome is LoginOutcome.LOCKED
    assert any(e.action is AuditAction.LOGIN_LOCKED for e in kit.events.entries)
    kit.clock.advance(minutes=15)  # the first failure leaves the window: one more try is allowed
    assert (await kit.service.login("ann@example.com", PASSWORD)).access_token


async def test_unknown_emails_lock_like_known_ones(kit: Kit) -> None:
    for _ in range(5):  # bad input: guessing passwords of an address with no account
        with pytest.raises(InvalidCredentialsError):
            await kit.service.login("ghost@example.com", "Some-password-1")
    with pytest.raises(AccountLockedError):
        await kit.service.login("ghost@example.com", "Some-password-1")


async def test_one_ip_is_locked_after_failures_on_many_accounts(kit: Kit) -> None:
    await kit.user("victim@example.com")
    for n in range(5):  # bad input: one address spraying passwords over five accounts
        with pytest.raises(InvalidCredentialsError):
            await kit.service.login(f"user{n}@example.com", "Spray-password-1", ip="203.0.113.7")
    with pytest.raises(AccountLockedError):
        await kit.service.login("victim@example.com", PASSWORD, ip="203.0.113.7")
    pair = await kit.service.login("victim@example.com", PASSWORD, ip="198.51.100.1")  # another IP is fine
    assert pair.refresh_token


async def test_a_success_clears_the_account_count_but_not_the_ip_count(kit: Kit) -> None:
    await kit.user()
    for n in range(4):  # bad input: four wrong passwords from one address
        kit.clock.advance(seconds=1)
        with pytest.raises(InvalidCredentialsError):
            await kit.service.login("ann@example.com", f"Wrong-password-{n}", ip="10.1.0.1")
    kit.clock.advance(seconds=1)
    await kit.service.login("ann@example.com", PASSWORD, ip="10.2.0.2")
    for n in range(4):  # four more from other addresses: the account count restarted at the success
        kit.clock.advance(seconds=1)
        with pytest.raises(InvalidCredentialsError):
            await kit.service.login("ann@example.com", f"Wrong-password-{n}", ip=f"10.3.0.{n}")
    assert await kit.service.login("ann@example.com", PASSWORD, ip="10.2.0.2")
    kit.clock.advance(seconds=1)
    with pytest.raises(InvalidCredentialsError):  # the 5th failure from 10.1.0.1 within the window
        await kit.service.login("ann@example.com", "Wrong-password-9", ip="10.1.0.1")
    with pytest.raises(AccountLockedError):  # that address is locked although the account is not
        await kit.service.login("ann@example.com", PASSWORD, ip="10.1.0.1")
    assert await kit.service.login("ann@example.com", PASSWORD, ip="10.2.0.2")


async def test_limits_follow_the_settings() -> None:
    kit = make_kit(AccountsConfig(login_max_failures=2, login_window_minutes=1))
    await kit.user()
    for _ in range(2):
        with pytest.raises(InvalidCredentialsError):
            await kit.service.login("ann@example.com", "Wrong-password-1")
    with pytest.raises(AccountLockedError):
        await kit.service.login("ann@example.com", PASSWORD)
    kit.clock.advance(minutes=1)
    assert await kit.service.login("ann@example.com", PASSWORD)


async def test_deactivated_user_cannot_sign_in_and_tokens_stop(kit: Kit) -> None:
    admin = await kit.user("boss@example.com", Role.ADMIN)
    user = await kit.user()
    pair = await kit.service.login("ann@example.com", PASSWORD)
    await kit.service.deactivate(OPERATOR, user.id)
    with pytest.raises(AccountInactiveError, match="deactivated"):  # bad input: a deactivated user's token
        await kit.service.authenticate(pair.access_token)
    with pytest.raises(AccountInactiveError, match="deactivated"):
        await kit.service.login("ann@example.com", PASSWORD)
    with pytest.raises(TokenRevokedError):  # deactivation ended the session
        await kit.service.refresh(pair.refresh_token)
    assert admin.role is Role.ADMIN


async def test_account_past_active_until_is_refused(kit: Kit) -> None:
    user = await kit.user(active_until=kit.clock.now + timedelta(days=1))
    pair = await kit.service.login("ann@example.com", PASSWORD)
    kit.clock.advance(days=1)  # bad input: an account past active_until
    with pytest.raises(AccountInactiveError, match="activation ended"):
        await kit.service.login("ann@example.com", PASSWORD)
    with pytest.raises(AccountInactiveError):
        await kit.service.refresh(pair.refresh_token)
    await kit.service.extend_activation(OPERATOR, user.id, 30)
    extended = await kit.service.profile(user.id)
    assert extended.active_until == kit.clock.now + timedelta(days=30)
    assert await kit.service.login("ann@example.com", PASSWORD)


async def test_unconfirmed_email_blocks_sign_in_only_when_required() -> None:
    kit = make_kit()
    await kit.service.register("new@example.com", "Fresh-password-1")
    with pytest.raises(EmailNotVerifiedError):
        await kit.service.login("new@example.com", "Fresh-password-1")
    relaxed = make_kit(AccountsConfig(require_email_verification=False))
    await relaxed.service.register("new@example.com", "Fresh-password-1")
    assert await relaxed.service.login("new@example.com", "Fresh-password-1")
