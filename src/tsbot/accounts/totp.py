"""Time-based one-time passwords (TOTP, RFC 6238: 6 digits, 30-second steps, HMAC-SHA1, the authenticator-app
default) and recovery codes.

A code is accepted for the current step and one step either side (clock drift of up to 30 s), and only for a step
later than the last accepted one, so a code cannot be replayed.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Final

import pyotp

STEP_SECONDS: Final = 30
DIGITS: Final = 6
#: Steps either side of the current one that are accepted.
DRIFT_STEPS: Final = 1
RECOVERY_CODES: Final = 10
#: Letters and digits without look-alikes (0/o, 1/l/i): 32 symbols, 10 of them make 50 bits per code.
_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"


def new_secret() -> str:
    """A new random TOTP secret: 32 base32 characters (160 bits, the RFC 4226 recommendation)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/<issuer>:<account>?secret=...&issuer=...`` URI authenticator apps read (QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def code_at(secret: str, step: int) -> str:
    """The code of time step ``step`` (seconds since the epoch // 30)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def looks_like_totp(code: str) -> bool:
    """True when ``code`` (spaces ignored) is six digits."""
    text = code.replace(" ", "")
    return len(text) == DIGITS and text.isdigit()


def matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step whose code is ``code`` (spaces ignored), within :data:`DRIFT_STEPS` of ``at`` and later than
    ``last_step``; None when there is none (wrong, too old, or already used)."""
    text = code.replace(" ", "")
    if not looks_like_totp(text):
        return None
    current = int(at.timestamp()) // STEP_SECONDS
    for step in sorted(
        range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1), key=lambda s: abs(s - current)
    ):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, step), text):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> tuple[str, ...]:
    """``count`` random recovery codes shaped ``xxxxx-xxxxx``."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return tuple(codes)


def normalise_recovery_code(code: str) -> str:
    """The code as stored (hashed): lowercase, without dashes and spaces."""
    return code.strip().lower().replace("-", "").replace(" ", "")
