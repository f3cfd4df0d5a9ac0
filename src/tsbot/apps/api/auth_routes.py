"""Signing up and signing in: ``/api/v1/auth/...``. These routes need no credentials (the token they take is the
credential), except ``logout``, which only needs the refresh token it ends.

==============================  ==================================================================================
route                           what it does
==============================  ==================================================================================
POST /auth/register             creates a ``viewer`` account and emails a confirmation link (201)
POST /auth/verify-email         confirms the address with the token from that email
POST /auth/resend-verification  sends the confirmation email again (202; same answer for an unknown address)
POST /auth/login                email + password (+ two-factor code) -> access and refresh tokens
POST /auth/token                the same sign-in as an OAuth2 password form (for OpenAPI clients' "Authorize")
POST /auth/refresh              exchanges a refresh token for a new pair (rotation; reuse ends the session)
POST /auth/logout               ends the session of a refresh token (204)
POST /auth/password/forgot      emails a password-reset link (202; same answer for an unknown address)
POST /auth/password/reset       sets a new password with the token from that email (ends every session)
==============================  ==================================================================================

Refusals: 401 wrong email or password (one message for both), wrong two-factor code, or a bad token;
401 with ``type`` ``unauthorized`` and the message "two-factor code required" when the code is missing;
403 inactive account or unconfirmed email; 409 address taken; 422 weak password or malformed address;
429 too many failed sign-ins (``Retry-After``). Sign-in attempts are counted per account and per client address
(``accounts.login_max_failures`` in ``accounts.login_window_minutes``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import Response

from tsbot.apps.api.account_models import (
    MAX_PASSWORD,
    EmailIn,
    LoginIn,
    MessageOut,
    RefreshIn,
    RegisterIn,
    ResetPasswordIn,
    TokenIn,
    TokensOut,
    UserOut,
)
from tsbot.apps.api.auth import AccountsDep, caller_ip, forget_identities
from tsbot.core.time import utc_now

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], dependencies=[Depends(forget_identities)])

_UNAUTHORIZED = {401: {"description": "wrong credentials or token"}}
_SENT = MessageOut(
    status="accepted",
    message="if an account with this address exists and needs it, an email is on its way",
)


def _agent(request: Request) -> str | None:
    agent = request.headers.get("user-agent")
    return agent[:300] if agent else None


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "address taken"}, 422: {"description": "weak password or bad address"}},
)
async def register(body: RegisterIn, request: Request, accounts: AccountsDep) -> UserOut:
    """Create a ``viewer`` account and email a confirmation link to ``email``."""
    user = await accounts.register(str(body.email), body.password, body.display_name, ip=caller_ip(request))
    return UserOut.of(user)


@router.post("/verify-email", responses=_UNAUTHORIZED)
async def verify_email(body: TokenIn, request: Request, accounts: AccountsDep) -> UserOut:
    """Confirm the address with the token from the confirmation email (single use)."""
    return UserOut.of(await accounts.verify_email(body.token, ip=caller_ip(request)))


@router.post("/resend-verification", status_code=status.HTTP_202_ACCEPTED)
async def resend_verification(body: EmailIn, request: Request, accounts: AccountsDep) -> MessageOut:
    """Send the confirmation email again. The answer is the same whether or not the address is known."""
    await accounts.resend_verification(body.email, ip=caller_ip(request))
    return _SENT


@router.post(
    "/login",
    responses={
        **_UNAUTHORIZED,
        403: {"description": "account inactive or email not confirmed"},
        429: {"description": "too many failed sign-ins; Retry-After says when to try again"},
    },
)
async def login(body: LoginIn, request: Request, accounts: AccountsDep) -> TokensOut:
    """Sign in: an access token (``accounts.access_token_minutes``) and a refresh token
    (``accounts.refresh_token_days``)."""
    pair = await accounts.login(
        body.email,
        body.password,
        totp_code=body.totp_code,
        ip=caller_ip(request),
        user_agent=_agent(request),
    )
    return TokensOut.of(pair, utc_now())


@router.post("/token", responses=_UNAUTHORIZED)
async def token(
    request: Request,
    accounts: AccountsDep,
    username: Annotated[str, Form(min_length=1, max_length=320, description="the account's email")],
    password: Annotated[str, Form(min_length=1, max_length=MAX_PASSWORD)],
    client_secret: Annotated[
        str | None, Form(max_length=16, description="the two-factor code, when two-factor sign-in is on")
    ] = None,
) -> TokensOut:
    """The OAuth2 password flow over a form (``username`` is the email): what OpenAPI tools' "Authorize" sends.
    A two-factor code goes in ``client_secret``."""
    pair = await accounts.login(
        username, password, totp_code=client_secret, ip=caller_ip(request), user_agent=_agent(request)
    )
    return TokensOut.of(pair, utc_now())


@router.post("/refresh", responses=_UNAUTHORIZED)
async def refresh(body: RefreshIn, request: Request, accounts: AccountsDep) -> TokensOut:
    """Exchange a refresh token for a new pair. Each refresh token works once: a second use ends the session."""
    pair = await accounts.refresh(body.refresh_token, ip=caller_ip(request), user_agent=_agent(request))
    return TokensOut.of(pair, utc_now())


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(body: RefreshIn, request: Request, accounts: AccountsDep) -> Response:
    """End the session of ``refresh_token``: it and every access token of the session stop working. An unknown
    or already-ended token is answered the same way."""
    await accounts.logout(body.refresh_token, ip=caller_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password/forgot", status_code=status.HTTP_202_ACCEPTED)
async def forgot_password(body: EmailIn, request: Request, accounts: AccountsDep) -> MessageOut:
    """Email a password-reset link (valid ``accounts.password_reset_minutes``). The answer is the same whether or
    not the address is known."""
    await accounts.request_password_reset(body.email, ip=caller_ip(request))
    return _SENT


@router.post("/password/reset", responses=_UNAUTHORIZED)
async def reset_password(body: ResetPasswordIn, request: Request, accounts: AccountsDep) -> MessageOut:
    """Set a new password with the reset token (single use); every session of the account ends."""
    await accounts.reset_password(body.token, body.new_password, ip=caller_ip(request))
    return MessageOut(status="ok", message="password changed; sign in with the new password")
