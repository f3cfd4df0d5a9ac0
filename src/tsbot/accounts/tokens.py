"""Access tokens (JWT, HS256) and opaque random tokens.

An access token is a JWT signed with HMAC-SHA256 (RFC 7518 section 3.2) carrying ``sub`` (user id), ``role``,
``sid`` (sign-in session), ``iat`` and ``exp`` (seconds since the epoch, UTC), ``jti`` (random id) and
``type="access"``. Only HS256 is accepted: a token declaring another algorithm (``none`` included) is refused
before its signature is looked at.

Refresh tokens, email tokens and API keys are opaque random strings (``secrets.token_urlsafe``); stores keep only
their SHA-256 digest (:func:`digest`): they carry 256 bits of randomness, so a fast hash is enough.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import jwt

from tsbot.accounts.errors import TokenExpiredError, TokenInvalidError, TokenTypeError
from tsbot.accounts.models import Role
from tsbot.core.errors import ConfigError

ALGORITHM: Final = "HS256"
ACCESS: Final = "access"
ISSUER: Final = "tsbot"
#: HS256 keys shorter than the hash output (32 bytes) are refused (RFC 7518 section 3.2).
MIN_SECRET_BYTES: Final = 32
#: Accepted clock difference for ``iat`` in the future, in seconds.
CLOCK_SKEW_S: Final = 60
_REQUIRED: Final = ["sub", "role", "sid", "iat", "exp", "jti", "type", "iss"]


def new_token(nbytes: int = 32) -> str:
    """A random urlsafe token of ``nbytes`` random bytes (43 characters for 32)."""
    return secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """SHA-256 of ``token`` (UTF-8) as 64 hex characters: what stores keep instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_id() -> str:
    """A new random id (UUID4 text)."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The checked content of an access token: the user, the role when it was issued, the session, the token id
    and its issue and expiry times (UTC, whole seconds)."""

    user_id: str
    role: Role
    session_id: str
    jti: str
    issued_at: datetime
    expires_at: datetime


class AccessTokenCodec:
    """Issues and checks access tokens with one HS256 secret.

    Args:
        secret: at least :data:`MIN_SECRET_BYTES` bytes (UTF-8).
        lifetime: how long a token is valid.

    Raises:
        ConfigError: the secret is too short (the message names ``security.jwt_secret``, never the value).
    """

    __slots__ = ("_secret", "_lifetime")

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        if not isinstance(secret, str) or len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"security.jwt_secret is too short: use at least {MIN_SECRET_BYTES} random characters "
                "(or leave it empty to have one generated)"
            )
        self._secret = secret
        self._lifetime = lifetime

    def __repr__(self) -> str:
        return "AccessTokenCodec(<secret hidden>)"

    __str__ = __repr__

    def issue(self, user_id: str, role: Role, session_id: str, at: datetime) -> tuple[str, datetime]:
        """A signed access token issued at ``at`` (UTC) and its expiry time."""
        issued = at.astimezone(UTC).replace(microsecond=0)
        expires = issued + self._lifetime
        claims = {
            "sub": user_id,
            "role": Role(role).value,
            "sid": session_id,
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": new_id(),
            "type": ACCESS,
            "iss": ISSUER,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), expires

    def decode(self, token: str, at: datetime) -> AccessClaims:
        """The claims of ``token`` checked at time ``at`` (UTC).

        Raises:
            TokenInvalidError: not a JWT, an algorithm other than HS256 (``none`` included), a signature that does
                not match the secret, a missing claim or a wrong issuer.
            TokenTypeError: a genuine token that is not an access token.
            TokenExpiredError: ``exp`` is at or before ``at``.
        """
        if not isinstance(token, str) or not token:
            raise TokenInvalidError("no access token given")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenInvalidError("malformed access token") from None
        if header.get("alg") != ALGORITHM:
            raise TokenInvalidError(f"access token refused: algorithm must be {ALGORITHM}")
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            raise TokenInvalidError(
                "access token signature does not match: token forged or secret changed"
            ) from None
        except jwt.PyJWTError as exc:
            raise TokenInvalidError(f"invalid access token: {type(exc).__name__}") from None
        if claims.get("type") != ACCESS:
            raise TokenTypeError("not an access token")
        try:
            role = Role(claims["role"])
            issued = datetime.fromtimestamp(int(claims["iat"]), tz=UTC)
            expires = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
        except (ValueError, TypeError, OverflowError, OSError):
            raise TokenInvalidError("invalid access token: bad claim values") from None
        if expires <= at:
            raise TokenExpiredError("access token expired: refresh it or sign in again")
        if issued > at + timedelta(seconds=CLOCK_SKEW_S):
            raise TokenInvalidError("invalid access token: issued in the future")
        return AccessClaims(str(claims["sub"]), role, str(claims["sid"]), str(claims["jti"]), issued, expires)
