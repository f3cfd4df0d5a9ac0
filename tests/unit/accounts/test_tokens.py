"""Access tokens (HS256 JWT): issue, expiry, forgery (another secret, ``alg: none``, another algorithm), wrong
type; TOTP codes once each; secrets hidden from repr."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pyotp
import pytest

from tsbot.accounts.errors import TokenExpiredError, TokenInvalidError, TokenTypeError
from tsbot.accounts.models import Role
from tsbot.accounts.tokens import AccessTokenCodec, digest
from tsbot.accounts.totp import (
    code_at,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalise_recovery_code,
)
from tsbot.core.errors import ConfigError

SECRET = "a-signing-secret-that-is-long-enough-for-hs256-and-hs512-too-0123456789"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _codec() -> AccessTokenCodec:
    return AccessTokenCodec(SECRET, timedelta(minutes=30))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_issued_token_decodes_with_its_claims() -> None:
    token, expires = _codec().issue("u1", Role.TRADER, "s1", T0)
    claims = _codec().decode(token, T0 + timedelta(minutes=29))
    assert (claims.user_id, claims.role, claims.session_id) == ("u1", Role.TRADER, "s1")
    assert claims.expires_at == expires == T0 + timedelta(minutes=30)
    raw = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert raw["type"] == "access" and raw["jti"] and raw["iat"] == int(T0.timestamp())


def test_expired_token_is_refused() -> None:  # bad input: expired access token
    token, _ = _codec().issue("u1", Role.VIEWER, "s1", T0)
    with pytest.raises(TokenExpiredError):
        _codec().decode(token, T0 + timedelta(minutes=30))


def test_token_signed_with_another_secret_is_refused() -> None:  # bad input: forged with another secret
    token, _ = AccessTokenCodec("another-secret-that-is-also-long-enough", timedelta(minutes=5)).issue(
        "u1", Role.ADMIN, "s1", T0
    )
    with pytest.raises(TokenInvalidError, match="signature"):
        _codec().decode(token, T0)


def test_alg_none_token_is_refused() -> None:  # bad input: unsigned token claiming admin
    claims = {"sub": "u1", "role": "admin", "sid": "s1", "iat": 1, "exp": 9_999_999_999, "jti": "j",
              "type": "access", "iss": "tsbot"}  # fmt: skip
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(TokenInvalidError, match="algorithm"):
        _codec().decode(unsigned, T0)


def test_other_algorithm_with_the_secret_is_refused() -> None:  # bad input: HS512 with the right secret
    claims = {"sub": "u1", "role": "admin", "sid": "s1", "iat": int(T0.timestamp()),
              "exp": int(T0.timestamp()) + 60, "jti": "j", "type": "access", "iss": "tsbot"}  # fmt: skip
    token = jwt.encode(claims, SECRET, algorithm="HS512")
    with pytest.raises(TokenInvalidError, match="algorithm"):
        _codec().decode(token, T0)


def test_wrong_type_and_missing_claims_are_refused() -> None:
    base = {"sub": "u1", "role": "viewer", "sid": "s1", "iat": int(T0.timestamp()),
            "exp": int(T0.timestamp()) + 60, "jti": "j", "iss": "tsbot"}  # fmt: skip
    refresh_like = jwt.encode({**base, "type": "refresh"}, SECRET, algorithm="HS256")
    with pytest.raises(TokenTypeError):  # bad input: a genuine token of another type
        _codec().decode(refresh_like, T0)
    no_session = jwt.encode({k: v for k, v in base.items() if k != "sid"} | {"type": "access"}, SECRET)
    with pytest.raises(TokenInvalidError):  # bad input: missing claim
        _codec().decode(no_session, T0)
    for garbage in ("", "abc", "a.b.c", "Bearer xyz"):  # bad input: not a JWT at all
        with pytest.raises(TokenInvalidError):
            _codec().decode(garbage, T0)


def test_short_secret_is_a_config_error_and_repr_hides_the_secret() -> None:
    with pytest.raises(ConfigError, match="jwt_secret"):  # bad input: secret under 32 bytes
        AccessTokenCodec("short", timedelta(minutes=5))
    assert SECRET not in repr(_codec()) and SECRET not in str(_codec())


def test_totp_code_is_accepted_once_within_drift() -> None:
    secret = new_secret()
    step = int(T0.timestamp()) // 30
    assert matching_step(secret, code_at(secret, step), T0, None) == step
    assert matching_step(secret, code_at(secret, step - 1), T0, None) == step - 1  # 30 s of clock drift
    assert matching_step(secret, code_at(secret, step), T0, step) is None  # bad input: replayed code
    assert matching_step(secret, code_at(secret, step - 3), T0, None) is None  # bad input: stale code
    assert matching_step(secret, "12345", T0, None) is None  # bad input: five digits
    assert pyotp.TOTP(secret).at(T0) == code_at(secret, step)  # what an authenticator app shows


def test_recovery_codes_are_distinct_and_normalise() -> None:
    codes = new_recovery_codes()
    assert len(set(codes)) == 10 and all(len(c) == 11 and c[5] == "-" for c in codes)
    assert normalise_recovery_code(" " + codes[0].upper() + " ") == codes[0].replace("-", "")
    assert digest("x") == digest("x") != digest("y") and len(digest("x")) == 64
