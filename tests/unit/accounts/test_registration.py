"""Registration with an emailed confirmation link, and password reset by an emailed single-use link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.unit.accounts.conftest import PASSWORD, Kit, make_kit

from tsbot.accounts.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    InvalidEmailError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
    TokenUsedError,
    WeakPasswordError,
)
from tsbot.accounts.models import Role
from tsbot.accounts.records import AuditAction
from tsbot.config import AccountsConfig
from tsbot.core.errors import ConfigError, TemporaryError


async def test_register_emails_a_link_that_confirms_once(kit: Kit) -> None:
    user = await kit.service.register("New.User@Example.com", "Fresh-password-1", "New User", ip="10.0.0.5")
    assert (user.email, user.role, user.email_verified) == ("new.user@example.com", Role.VIEWER, False)
    mail = kit.mailer.sent[-1]
    assert mail.to == "new.user@example.com" and "https://tsbot.example.com/verify-email?token=" in mail.text
    token = kit.last_token("verify-email")
    assert (await kit.service.verify_email(token)).email_verified
    with pytest.raises(TokenUsedError):  # bad input: the same link twice
        await kit.service.verify_email(token)
    assert await kit.service.login("new.user@example.com", "Fresh-password-1")
    actions = [e.action for e in kit.events.entries]
    assert AuditAction.REGISTER in actions and AuditAction.EMAIL_VERIFIED in actions
    register = next(e for e in kit.events.entries if e.action is AuditAction.REGISTER)
    assert register.ip == "10.0.0.5" and register.target == user.id


async def test_register_refuses_bad_input(kit: Kit) -> None:
    with pytest.raises(WeakPasswordError, match="too short"):  # bad input: weak password
        await kit.service.register("a@example.com", "short1A")
    with pytest.raises(InvalidEmailError):  # bad input: malformed email
        await kit.service.register("a@", "Fresh-password-1")
    await kit.service.register("a@example.com", "Fresh-password-1")
    with pytest.raises(EmailTakenError):  # bad input: the address in another case
        await kit.service.register("A@EXAMPLE.COM", "Fresh-password-2")
    assert len(kit.users.users) == 1


async def test_verification_link_expires_and_can_be_sent_again(kit: Kit) -> None:
    await kit.service.register("a@example.com", "Fresh-password-1")
    old = kit.last_token("verify-email")
    kit.clock.advance(hours=24)  # bad input: a confirmation link past email_token_hours
    with pytest.raises(TokenExpiredError):
        await kit.service.verify_email(old)
    await kit.service.resend_verification("a@example.com")
    new = kit.last_token("verify-email")
    assert new != old and (await kit.service.verify_email(new)).email_verified
    sent = len(kit.mailer.sent)
    await kit.service.resend_verification("nobody@example.com")  # unknown: nothing sent, no error
    await kit.service.resend_verification("a@example.com")  # confirmed already: nothing sent
    assert len(kit.mailer.sent) == sent
    with pytest.raises(TokenInvalidError):  # bad input: a made-up token
        await kit.service.verify_email("made-up")


async def test_registration_is_undone_when_the_email_cannot_be_sent() -> None:
    kit = make_kit()
    kit.mailer.fail = ConfigError("email is off")
    with pytest.raises(ConfigError):
        await kit.service.register("a@example.com", "Fresh-password-1")
    assert kit.users.users == {}
    relaxed = make_kit(AccountsConfig(require_email_verification=False))
    relaxed.mailer.fail = TemporaryError("smtp down")
    user = await relaxed.service.register("a@example.com", "Fresh-password-1")  # not required: kept anyway
    assert user.id in relaxed.users.users


async def test_activation_days_apply_to_registrations() -> None:
    kit = make_kit(AccountsConfig(activation_days=30))
    user = await kit.service.register("a@example.com", "Fresh-password-1")
    assert user.active_until == kit.clock.now + timedelta(days=30)


async def test_password_reset_link_works_once_and_ends_sessions(kit: Kit) -> None:
    await kit.user()
    pair = await kit.service.login("ann@example.com", PASSWORD)
    await kit.service.request_password_reset("ANN@example.com", ip="10.0.0.9")
    assert "https://tsbot.example.com/reset-password?token=" in kit.mailer.sent[-1].text
    token = kit.last_token("reset-password")
    with pytest.raises(WeakPasswordError):  # bad input: weak new password; the link stays usable
        await kit.service.reset_password(token, "weak")
    await kit.service.reset_password(token, "Brand-new-pass-7")
    with pytest.raises(TokenUsedError):  # bad input: reused reset token
        await kit.service.reset_password(token, "Another-pass-8")
    with pytest.raises(InvalidCredentialsError):
        await kit.service.login("ann@example.com", PASSWORD)
    assert await kit.service.login("ann@example.com", "Brand-new-pass-7")
    with pytest.raises(TokenRevokedError):  # the reset ended the old session
        await kit.service.refresh(pair.refresh_token)


async def test_expired_reset_token_is_refused(kit: Kit) -> None:
    await kit.user()
    await kit.service.request_password_reset("ann@example.com")
    token = kit.last_token("reset-password")
    kit.clock.advance(minutes=60)  # bad input: a reset link past password_reset_minutes
    with pytest.raises(TokenExpiredError):
        await kit.service.reset_password(token, "Brand-new-pass-7")
    await kit.service.register("b@example.com", "Fresh-password-1")
    with pytest.raises(TokenInvalidError):  # bad input: a confirmation token used as a reset token
        await kit.service.reset_password(kit.last_token("verify-email"), "Brand-new-pass-7")


async def test_reset_request_never_tells_whether_the_email_exists(kit: Kit) -> None:
    await kit.user()
    known = await kit.service.request_password_reset("ann@example.com")
    unknown = await kit.service.request_password_reset("nobody@example.com")  # bad input: unknown email
    malformed = await kit.service.request_password_reset("not-an-email")  # bad input: malformed email
    assert known is unknown is malformed is None
    assert [m.to for m in kit.mailer.sent] == ["ann@example.com"]
    kit.mailer.fail = TemporaryError("smtp down")
    assert await kit.service.request_password_reset("ann@example.com") is None  # a mail failure is not shown


async def test_a_new_reset_password_cancels_older_links(kit: Kit) -> None:
    await kit.user()
    await kit.service.request_password_reset("ann@example.com")
    first = kit.last_token("reset-password")
    await kit.service.request_password_reset("ann@example.com")
    second = kit.last_token("reset-password")
    await kit.service.reset_password(second, "Brand-new-pass-7")
    with pytest.raises(TokenUsedError):  # the older link stopped working with the reset
        await kit.service.reset_password(first, "Another-pass-8")
