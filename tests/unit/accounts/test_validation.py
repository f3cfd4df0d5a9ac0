"""Account input checks: the password policy, email syntax, display names and preferences."""

from __future__ import annotations

import pytest

from tsbot.accounts.errors import AccountInputError, InvalidEmailError, WeakPasswordError
from tsbot.accounts.validation import (
    check_currency,
    check_display_name,
    check_language,
    check_notifications,
    check_password,
    check_time_zone,
    normalise_email,
)


def test_email_is_lowercased_and_trimmed() -> None:
    assert normalise_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "ann",
        "ann@",
        "@example.com",
        "ann@@example.com",
        "ann example@example.com",
        "a" * 330 + "@x.io",
    ],
)
def test_malformed_email_is_refused(bad: str) -> None:  # bad input: malformed addresses
    with pytest.raises(InvalidEmailError):
        normalise_email(bad)


def test_good_password_passes() -> None:
    check_password("Correct-horse-42", "ann@example.com")
    check_password("lowercase and spaces", None)  # letters and other characters: two classes


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Short-1", "too short"),  # bad input: fewer than 10 characters
        ("abcdefghijkl", "too simple"),  # bad input: one class only (lowercase)
        ("123456789012", "too simple"),  # bad input: digits only
        ("ANN@EXAMPLE.COM", "email"),  # bad input: the email itself (another case)
        ("ann.lee.1234@example.com", "email"),
        ("x" * 1025 + "A", "too long"),
    ],
)
def test_weak_password_is_refused_with_the_rule(password: str, rule: str) -> None:
    with pytest.raises(WeakPasswordError) as caught:
        check_password(password, "ann.lee.1234@example.com" if "ann.lee" in password else "ann@example.com")
    assert rule in str(caught.value)
    assert password not in str(caught.value)


def test_display_name_keeps_injection_text_verbatim() -> None:
    # bad input: SQL and script injection strings are data, kept as typed
    for text in ("Robert'); DROP TABLE users;--", "<script>alert('x')</script>", "\"quoted\" & 'single'"):
        assert check_display_name(f"  {text} ") == text


@pytest.mark.parametrize("bad", ["", "   ", "x" * 101, "two\nlines", "tab\there", "zero\u200bwidth"])
def test_bad_display_name_is_refused(bad: str) -> None:  # bad input: empty, too long, control characters
    with pytest.raises(AccountInputError):
        check_display_name(bad)


def test_time_zone_language_currency_are_checked() -> None:
    assert check_time_zone("Europe/Berlin") == "Europe/Berlin"
    assert check_language("PT-BR") == "pt-BR"
    assert check_currency(" usdt ") == "USDT"
    for bad_zone in ("Mars/Olympus", "../../etc/passwd", ""):  # bad input: unknown and path-like zones
        with pytest.raises(AccountInputError, match="time zone"):
            check_time_zone(bad_zone)
    with pytest.raises(AccountInputError, match="language"):
        check_language("english!")
    with pytest.raises(AccountInputError, match="currency"):
        check_currency("US$")


def test_notification_preferences_accept_scalars_only() -> None:
    assert check_notifications({"email": True, "min_confidence": 0.6, "channel": "telegram"}) == {
        "email": True,
        "min_confidence": 0.6,
        "channel": "telegram",
    }
    with pytest.raises(AccountInputError, match="Email"):  # bad input: uppercase key
        check_notifications({"Email": True})
    with pytest.raises(AccountInputError, match="nested"):  # bad input: nested object value
        check_notifications({"nested": {"a": 1}})
    with pytest.raises(AccountInputError, match="nan"):  # bad input: a number JSON cannot hold
        check_notifications({"nan": float("nan")})
