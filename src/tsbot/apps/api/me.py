"""The signed-in user's own account: ``/api/v1/me/...``.

Reading the profile works with an access token or an API key. Changing the account (profile, password,
two-factor sign-in, API keys, ending the session) needs an access token from a password sign-in: an API key is a
program's credential and may never widen or take over the account (403).

======================================  =======================================================================
route                                   what it does
======================================  =======================================================================
GET /me                                 the profile: role, permissions, preferences
PATCH /me                               display name, time zone, language, currency, notification preferences
POST /me/password                       change the password (ends every other session)
GET /me/logins                          sign-in history, newest first
DELETE /me/session                      end this session (the access and refresh tokens of this sign-in)
GET /me/2fa                             two-factor status and recovery codes left
POST /me/2fa/setup                      start two-factor setup: secret and otpauth URI
POST /me/2fa/confirm                    confirm with a code: two-factor on, recovery codes shown once
POST /me/2fa/disable                    turn it off (needs a current code)
POST /me/2fa/recovery-codes             new recovery codes (needs a current code; the old ones stop working)
GET /me/api-keys                        my API keys (never the key itself)
POST /me/api-keys                       a new key, shown once (201)
DELETE /me/api-keys/{api_key_id}        revoke a key (204)
======================================  =======================================================================
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response

from tsbot.apps.api.account_models import (
    ApiKeyIn,
    ApiKeyOut,
    ChangePasswordIn,
    CodeIn,
    LoginEventOut,
    MessageOut,
    NewApiKeyOut,
    ProfileIn,
    RecoveryCodesOut,
    TotpSetupOut,
    TotpStatusOut,
    UserOut,
)
from tsbot.apps.api.auth import AccountsDep, PasswordSession, SignedIn, caller_ip, forget_identities

router = APIRouter(prefix="/api/v1/me", tags=["me"], dependencies=[Depends(forget_identities)])

Session = PasswordSession
_NO_CONTENT = {"status_code": status.HTTP_204_NO_CONTENT, "response_class": Response}


@router.get("")
async def profile(identity: SignedIn, accounts: AccountsDep) -> UserOut:
    """My profile."""
    return UserOut.of(await accounts.profile(identity.user.id))


@router.patch("", responses={422: {"description": "unknown time zone, language or currency"}})
async def update_profile(
    body: ProfileIn, identity: Session, request: Request, accounts: AccountsDep
) -> UserOut:
    """Change the fields given; the others stay."""
    user = await accounts.update_profile(
        identity.user.id,
        display_name=body.display_name,
        time_zone=body.time_zone,
        language=body.language,
        currency=body.currency,
        notifications=body.notifications,
        ip=caller_ip(request),
    )
    return UserOut.of(user)


@router.post("/password", responses={401: {"description": "the current password is wrong"}})
async def change_password(
    body: ChangePasswordIn, identity: Session, request: Request, accounts: AccountsDep
) -> MessageOut:
    """Change the password; every other session ends, this one stays signed in."""
    await accounts.change_password(
        identity.user.id,
        body.current_password,
        body.new_password,
        keep_session=identity.session_id,
        ip=caller_ip(request),
    )
    return MessageOut(status="ok", message="password changed; other sessions were signed out")


@router.get("/logins")
async def login_history(
    identity: Session, accounts: AccountsDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[LoginEventOut]:
    """My sign-in attempts, newest first: when, from where, with which outcome."""
    return [LoginEventOut.of(e) for e in await accounts.login_history(identity.user.id, limit)]


@router.delete("/session", **_NO_CONTENT)
async def end_session(identity: Session, request: Request, accounts: AccountsDep) -> Response:
    """Sign out this session: its refresh token and every access token of it stop working."""
    assert identity.session_id is not None  # an access token always names its session
    await accounts.end_session(identity.user.id, identity.session_id, ip=caller_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/2fa")
async def totp_status(identity: Session, accounts: AccountsDep) -> TotpStatusOut:
    """Whether two-factor sign-in is on, and how many recovery codes are left."""
    user = await accounts.profile(identity.user.id)
    left = await accounts.recovery_codes_left(user.id) if user.totp_enabled else 0
    return TotpStatusOut(enabled=user.totp_enabled, recovery_codes_left=left)


@router.post("/2fa/setup", responses={400: {"description": "two-factor sign-in is already on"}})
async def begin_totp(identity: Session, request: Request, accounts: AccountsDep) -> TotpSetupOut:
    """Start two-factor setup; it takes effect once a code from the authenticator is confirmed."""
    setup = await accounts.begin_totp(identity.user.id, ip=caller_ip(request))
    return TotpSetupOut(secret=setup.secret, uri=setup.uri)


@router.post("/2fa/confirm", responses={401: {"description": "wrong code"}})
async def confirm_totp(
    body: CodeIn, identity: Session, request: Request, accounts: AccountsDep
) -> RecoveryCodesOut:
    """Turn two-factor sign-in on with a code from the authenticator; the recovery codes are shown this once."""
    codes = await accounts.confirm_totp(identity.user.id, body.code, ip=caller_ip(request))
    return RecoveryCodesOut(codes=list(codes.codes))


@router.post("/2fa/disable", responses={401: {"description": "wrong code"}})
async def disable_totp(
    body: CodeIn, identity: Session, request: Request, accounts: AccountsDep
) -> MessageOut:
    """Turn two-factor sign-in off (needs an authenticator or recovery code)."""
    await accounts.disable_totp(identity.user.id, body.code, ip=caller_ip(request))
    return MessageOut(status="ok", message="two-factor sign-in is off")


@router.post("/2fa/recovery-codes", responses={401: {"description": "wrong code"}})
async def renew_recovery_codes(
    body: CodeIn, identity: Session, request: Request, accounts: AccountsDep
) -> RecoveryCodesOut:
    """New recovery codes (the old ones stop working), shown this once."""
    codes = await accounts.renew_recovery_codes(identity.user.id, body.code, ip=caller_ip(request))
    return RecoveryCodesOut(codes=list(codes.codes))


@router.get("/api-keys")
async def list_api_keys(identity: Session, accounts: AccountsDep) -> list[ApiKeyOut]:
    """My API keys, revoked ones included; never the keys themselves."""
    return [ApiKeyOut.of(k) for k in await accounts.list_api_keys(identity.user.id)]


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    responses={403: {"description": "a scope your role lacks"}, 422: {"description": "bad name or date"}},
)
async def create_api_key(
    body: ApiKeyIn, identity: Session, request: Request, accounts: AccountsDep
) -> NewApiKeyOut:
    """A new API key with ``scopes`` (at most your role's permissions); ``key`` is shown this once."""
    new = await accounts.create_api_key(
        identity.user.id, body.name, body.scopes, expires_at=body.expires_at, ip=caller_ip(request)
    )
    return NewApiKeyOut(key=new.key, api_key=ApiKeyOut.of(new.info))


@router.delete(
    "/api-keys/{api_key_id}", responses={404: {"description": "no such key of yours"}}, **_NO_CONTENT
)
async def revoke_api_key(
    api_key_id: str, identity: Session, request: Request, accounts: AccountsDep
) -> Response:
    """Revoke one of my API keys; it is refused from now on."""
    await accounts.revoke_api_key(identity.user.id, api_key_id, ip=caller_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


__all__ = ["router"]
