"""Two-factor sign-in: setup with a confirmed code, sign-in with codes and recovery codes, wrong and replayed
codes refused, turning it off, and the error when no encryption key is configured."""

from __future__ import annotations

import pyotp
import pytest
from tests.unit.accounts.conftest import PASSWORD, Kit, make_kit

from tsbot.accounts.errors import (
    AccountLockedError,
    AccountsError,
    InvalidTwoFactorCodeError,
    TwoFactorRequiredError,
)
from tsbot.accounts.models import OPERATOR, Role
from tsbot.accounts.records import AuditAction, LoginOutcome
from tsbot.core.errors import ConfigError


def _code(secret: str, kit: Kit, step_offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(kit.clock.now.timestamp() + 30 * step_offset)


async def _enabled(kit: Kit) -> tuple[str, str, tuple[str, ...]]:
    user = await kit.user()
    setup = await kit.service.begin_totp(user.id)
    codes = await kit.service.confirm_totp(user.id, _code(setup.secret, kit))
    return user.id, setup.secret, codes.codes


async def test_setup_needs_a_confirmed_code(kit: Kit) -> None:
    user = await kit.user()
    setup = await kit.service.begin_totp(user.id)
    assert setup.uri.startswith("otpauth://totp/tsbot:ann%40example.com?secret=")
    stored = kit.users.users[user.id]
    assert stored.totp_secret is not None and setup.secret not in stored.totp_secret  # stored sealed
    assert not stored.user.totp_enabled  # not in force before a code is confirmed
    with pytest.raises(InvalidTwoFactorCodeError):  # bad input: wrong TOTP code
        await kit.service.confirm_totp(
            user.id, "000000" if _code(setup.secret, kit) != "000000" else "111111"
        )
    codes = await kit.service.confirm_totp(user.id, _code(setup.secret, kit))
    assert len(codes) == 10 and await kit.service.recovery_codes_left(user.id) == 10
    assert (await kit.service.profile(user.id)).totp_enabled


async def test_login_asks_for_the_code_and_refuses_wrong_or_replayed_ones(kit: Kit) -> None:
    _, secret, _ = await _enabled(kit)
    with pytest.raises(TwoFactorRequiredError):
        await kit.service.login("ann@example.com", PASSWORD)
    with pytest.raises(InvalidTwoFactorCodeError):  # bad input: wrong TOTP code
        await kit.service.login("ann@example.com", PASSWORD, totp_code="12345x")
    kit.clock.advance(seconds=30)
    code = _code(secret, kit)
    assert await kit.service.login("ann@example.com", PASSWORD, totp_code=code)
    with pytest.raises(InvalidTwoFactorCodeError):  # bad input: the same code replayed
        await kit.service.login("ann@example.com", PASSWORD, totp_code=code)
    outcomes = [e.outcome for e in kit.events.logins]
    assert outcomes.count(LoginOutcome.BAD_TOTP) == 2 and LoginOutcome.TOTP_REQUIRED in outcomes


async def test_wrong_codes_count_towards_the_lock(kit: Kit) -> None:
    await _enabled(kit)
    for _ in range(5):  # bad input: guessing codes with the right password
        with pytest.raises(InvalidTwoFactorCodeError):
            await kit.service.login("ann@example.com", PASSWORD, totp_code="999999x")
    with pytest.raises(AccountLockedError):
        await kit.service.login("ann@example.com", PASSWORD, totp_code="123456")


async def test_recovery_code_signs_in_once(kit: Kit) -> None:
    user_id, _, codes = await _enabled(kit)
    assert await kit.service.login("ann@example.com", PASSWORD, totp_code=codes[0].upper())
    with pytest.raises(InvalidTwoFactorCodeError):  # bad input: a used recovery code
        await kit.service.login("ann@example.com", PASSWORD, totp_code=codes[0])
    assert await kit.service.recovery_codes_left(user_id) == 9
    assert any(e.action is AuditAction.RECOVERY_CODE_USED for e in kit.events.entries)


async def test_disable_with_a_code_or_a_recovery_code(kit: Kit) -> None:
    user_id, secret, codes = await _enabled(kit)
    with pytest.raises(InvalidTwoFactorCodeError):  # bad input: wrong code to turn it off
        await kit.service.disable_totp(user_id, "not-a-code")
    await kit.service.disable_totp(user_id, codes[3])
    assert not (await kit.service.profile(user_id)).totp_enabled
    assert await kit.service.recovery_codes_left(user_id) == 0
    assert await kit.service.login("ann@example.com", PASSWORD)  # no code needed any more
    with pytest.raises(AccountsError, match="not on"):
        await kit.service.disable_totp(user_id, _code(secret, kit))


async def test_renew_recovery_codes_replaces_them(kit: Kit) -> None:
    user_id, secret, old = await _enabled(kit)
    kit.clock.advance(seconds=30)
    new = await kit.service.renew_recovery_codes(user_id, _code(secret, kit))
    assert set(new.codes).isdisjoint(old)
    with pytest.raises(InvalidTwoFactorCodeError):  # an old recovery code no longer works
        await kit.service.login("ann@example.com", PASSWORD, totp_code=old[0])


async def test_admin_reset_turns_it_off(kit: Kit) -> None:
    user_id, _, _ = await _enabled(kit)
    user = await kit.service.reset_totp(OPERATOR, user_id)
    assert not user.totp_enabled and await kit.service.recovery_codes_left(user_id) == 0
    assert user.role is Role.TRADER


async def test_without_an_encryption_key_setup_says_how_to_configure_one() -> None:
    kit = make_kit(box=False)
    user = await kit.user()
    with pytest.raises(ConfigError, match="TSBOT_SECURITY__ENCRYPTION_KEYS"):  # bad input: no key configured
        await kit.service.begin_totp(user.id)
