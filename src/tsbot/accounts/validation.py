"""Checks of what people type into their account: email addresses, passwords, names and preferences.

Messages say what is allowed and never repeat a password.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from tsbot.accounts.errors import AccountInputError, InvalidEmailError, WeakPasswordError
from tsbot.accounts.models import NotificationValue, Preferences

#: Passwords shorter than this are refused (NIST SP 800-63B asks for at least 8; tsbot asks for 10).
MIN_PASSWORD_LENGTH: Final = 10
#: Longer passwords are refused so that hashing one cannot be used to exhaust the server.
MAX_PASSWORD_LENGTH: Final = 1024
MAX_DISPLAY_NAME: Final = 100
MAX_NOTIFICATION_KEYS: Final = 50
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$", re.IGNORECASE)
_CURRENCY = re.compile(r"^[A-Z0-9]{3,6}$")
_NOTIFICATION_KEY = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_URL = re.compile(r"^https?://[^\s/?#@]+(?:[/?#][^\s]{0,190})?$", re.IGNORECASE)


def normalise_email(email: str) -> str:
    """The address checked for syntax (RFC 5322 / 6531, internationalised domains allowed; the domain is not
    looked up) and lowercased, so that one address has one account.

    Raises:
        InvalidEmailError: the address is malformed (the message says why).
    """
    if not isinstance(email, str) or not email.strip():
        raise InvalidEmailError("email address is empty")
    if len(email) > 320:
        raise InvalidEmailError("email address is too long (at most 320 characters)")
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmailError(f"not a valid email address: {exc}") from None
    return checked.normalized.lower()


def check_password(password: str, email: str | None = None) -> None:
    """Apply the password policy: at least :data:`MIN_PASSWORD_LENGTH` characters (at most
    :data:`MAX_PASSWORD_LENGTH`), characters of at least two classes (lowercase, uppercase, digits, other), and
    not the email address (or the part before its ``@``), ignoring case.

    Raises:
        WeakPasswordError: a rule is broken; the message names the rule, never the password.
    """
    if not isinstance(password, str):
        raise WeakPasswordError("password must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"password too short: at least {MIN_PASSWORD_LENGTH} characters (got {len(password)})"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPasswordError(f"password too long: at most {MAX_PASSWORD_LENGTH} characters")
    classes = {_char_class(c) for c in password}
    if len(classes) < 2:
        raise WeakPasswordError(
            "password too simple: mix at least two kinds of characters (lowercase, uppercase, digits, symbols)"
        )
    if email:
        folded = password.casefold()
        local = email.split("@", 1)[0].casefold()
        if folded == email.casefold() or folded == local:
            raise WeakPasswordError("password must not be your email address")


def _char_class(char: str) -> str:
    if char.islower():
        return "lower"
    if char.isupper():
        return "upper"
    if char.isdigit():
        return "digit"
    return "other"


def check_display_name(name: str) -> str:
    """The display name with surrounding spaces removed: 1 to :data:`MAX_DISPLAY_NAME` characters, no control
    characters. Anything else (quotes, ``<script>``, SQL) is kept verbatim: it is data, escaped where shown.

    Raises:
        AccountInputError: empty, too long, or holding control characters.
    """
    if not isinstance(name, str):
        raise AccountInputError("display name must be text")
    name = name.strip()
    if not name:
        raise AccountInputError("display name is empty")
    if len(name) > MAX_DISPLAY_NAME:
        raise AccountInputError(f"display name too long: at most {MAX_DISPLAY_NAME} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise AccountInputError("display name must not hold control characters (line breaks, tabs ...)")
    return name


def check_time_zone(name: str) -> str:
    """An IANA time zone name (``UTC``, ``Europe/Berlin``, ``America/New_York``).

    Raises:
        AccountInputError: no such time zone.
    """
    value = (name or "").strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise AccountInputError(
            f"unknown time zone {value!r}: use an IANA name such as UTC, Europe/Berlin or America/New_York"
        ) from None
    return value


def check_language(tag: str) -> str:
    """A language tag (``en``, ``de``, ``pt-BR``; BCP 47 shape), lowercased language part.

    Raises:
        AccountInputError: not a language tag.
    """
    value = (tag or "").strip()
    if not _LANGUAGE.match(value) or len(value) > 35:
        raise AccountInputError(f"not a language tag: {value!r} (e.g. en, de, pt-BR)")
    head, *rest = value.split("-")
    return "-".join([head.lower(), *rest])


def check_currency(code: str) -> str:
    """A display currency code, uppercased: 3 to 6 letters or digits (``USD``, ``EUR``, ``BTC``, ``USDT``).

    Raises:
        AccountInputError: not such a code.
    """
    value = (code or "").strip().upper()
    if not _CURRENCY.match(value):
        raise AccountInputError(f"not a currency code: {code!r} (3 to 6 letters, e.g. USD, EUR, USDT)")
    return value


def check_notifications(prefs: Mapping[str, object]) -> dict[str, NotificationValue]:
    """Notification preferences: at most :data:`MAX_NOTIFICATION_KEYS` keys (lowercase, ``a-z0-9_.-``, up to 64
    characters, starting with a letter), values true/false, numbers or short text (up to 200 characters). A key
    ending in ``_url`` (``slack_webhook_url``) holds an ``https://`` or ``http://`` URL with a host and no spaces, or
    the empty text (none).

    Raises:
        AccountInputError: a key or value breaks these rules (the message names the key).
    """
    if not isinstance(prefs, Mapping):
        raise AccountInputError("notification preferences must be an object of key: value")
    if len(prefs) > MAX_NOTIFICATION_KEYS:
        raise AccountInputError(f"too many notification preferences: at most {MAX_NOTIFICATION_KEYS}")
    out: dict[str, NotificationValue] = {}
    for key, value in prefs.items():
        if not isinstance(key, str) or not _NOTIFICATION_KEY.match(key):
            raise AccountInputError(
                f"bad notification preference name {key!r}: lowercase letters, digits, _ . - (up to 64)"
            )
        number = isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value))
        if key.endswith("_url") and not (isinstance(value, str) and (not value or _URL.match(value))):
            raise AccountInputError(
                f"notification preference {key}: an https:// address (up to 200 characters), or empty for none"
            )
        if number or (isinstance(value, str) and len(value) <= 200):
            out[key] = value
        else:
            raise AccountInputError(
                f"notification preference {key}: value must be true/false, a number or short text"
            )
    return out


def check_preferences(prefs: Preferences) -> Preferences:
    """``prefs`` with every field checked and normalised (see the ``check_*`` functions).

    Raises:
        AccountInputError: a field is not acceptable.
    """
    return Preferences(
        time_zone=check_time_zone(prefs.time_zone),
        language=check_language(prefs.language),
        currency=check_currency(prefs.currency),
        notifications=check_notifications(prefs.notifications),
    )
