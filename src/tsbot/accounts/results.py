"""Secrets handed to a person once: tokens after sign-in, a new API key, a TOTP setup, recovery codes.

Their ``repr`` and ``str`` never show the secret, so a result that reaches a log or a traceback leaks nothing; read
the attribute to hand it over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tsbot.accounts.records import ApiKeyInfo


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a sign-in or a refresh returns.

    Attributes:
        access_token: a JWT (HS256) to send as ``Authorization: Bearer``; valid until ``access_expires_at`` (UTC).
        refresh_token: an opaque random token to exchange once for a new pair (rotation) until
            ``refresh_expires_at``.
        session_id: the sign-in session (refresh-token family) both belong to.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime
    session_id: str
    token_type: str = "bearer"


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A just-created API key: ``key`` (``tsb_`` + 43 random characters) is shown this once and never again."""

    key: str = field(repr=False)
    info: ApiKeyInfo


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """Two-factor setup: ``secret`` (base32) and ``uri`` (``otpauth://totp/...``, for a QR code) go to the
    authenticator app; the setup takes effect when a code from the app is confirmed."""

    secret: str = field(repr=False)
    uri: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class RecoveryCodes:
    """Ten single-use recovery codes (``xxxxx-xxxxx``), shown once; each replaces one authenticator code."""

    codes: tuple[str, ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.codes)
