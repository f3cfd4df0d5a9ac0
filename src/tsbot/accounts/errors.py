"""Errors of user accounts, sign-in and tokens.

Every error here is an :class:`~tsbot.core.errors.OperationalError` (retrying the same request changes nothing) and
its message is safe to show to the person signing in: it never holds a password, a token, a key or a hash, and
the answers to "wrong password" and "no such email" are the same. The API maps them to HTTP in one place:

=============================  ======  ===========================================================
class                          status  meaning
=============================  ======  ===========================================================
:class:`AuthenticationError`   401     credentials or token refused (subclasses say why)
:class:`AccountLockedError`    429     too many failed sign-ins; ``retry_at`` says when to try again
:class:`AccountInactiveError`  403     deactivated, or past its activation date
:class:`EmailNotVerifiedError` 403     the email address is not confirmed yet
:class:`PermissionDeniedError` 403     signed in, but the role or key scope does not allow it
:class:`AccountInputError`     422     a weak password, a malformed email, an unknown time zone ...
:class:`EmailTakenError`       409     registration with an address already in use
:class:`LastAdminError`        409     the change would leave no active administrator
:class:`UserNotFoundError`     404     no such user
=============================  ======  ===========================================================
"""

from __future__ import annotations

from datetime import UTC, datetime

from tsbot.core.errors import DataError, NotFoundError, OperationalError


class AccountsError(OperationalError):
    """Base class of the accounts errors."""


class AuthenticationError(AccountsError):
    """Who is asking could not be established: wrong credentials, or a bad, expired or revoked token."""


class InvalidCredentialsError(AuthenticationError):
    """Wrong email or password. The same message for an unknown email and a wrong password."""

    def __init__(self) -> None:
        super().__init__("wrong email or password")


class TwoFactorRequiredError(AuthenticationError):
    """The password was right and the account has two-factor sign-in: send the authenticator code too."""

    def __init__(self) -> None:
        super().__init__("two-factor code required: enter the 6-digit code from your authenticator app")


class InvalidTwoFactorCodeError(AuthenticationError):
    """The authenticator (or recovery) code is wrong, expired, or was already used."""

    def __init__(self) -> None:
        super().__init__("wrong two-factor code (or recovery code); codes change every 30 seconds")


class AccountLockedError(AuthenticationError):
    """Too many failed sign-ins for this account or from this address within the window.

    Attributes:
        retry_at: when the next try is accepted (UTC). The error is raised before the password is checked, so it
            says nothing about whether the password was right.
    """

    def __init__(self, retry_at: datetime) -> None:
        self.retry_at = retry_at.astimezone(UTC)
        super().__init__(f"too many failed sign-ins; try again after {self.retry_at:%Y-%m-%d %H:%M:%S} UTC")


class AccountInactiveError(AuthenticationError):
    """The account is deactivated, or its activation ran out (``active_until`` passed); an admin must act."""


class EmailNotVerifiedError(AuthenticationError):
    """The account's email address is not confirmed yet: follow the link sent by email (or ask for a new one)."""

    def __init__(self) -> None:
        super().__init__(
            "email address not confirmed yet: follow the link in the email we sent (or ask for a new one)"
        )


class TokenError(AuthenticationError):
    """A token (access, refresh, email link, API key) was refused."""


class TokenExpiredError(TokenError):
    """The token was valid but its time ran out."""


class TokenInvalidError(TokenError):
    """The token is malformed, unknown, signed with another secret or algorithm, or otherwise forged."""


class TokenTypeError(TokenError):
    """A genuine token of another kind (e.g. not an access token where one is needed)."""


class TokenRevokedError(TokenError):
    """The token (or its sign-in session, or the API key) was revoked: sign in again."""


class TokenUsedError(TokenError):
    """A single-use link (email confirmation, password reset) was already used."""


class TokenReuseError(TokenRevokedError):
    """A refresh token was presented a second time: it may have been stolen, so its whole session was ended."""

    def __init__(self) -> None:
        super().__init__(
            "this refresh token was already used; the session was ended for safety: sign in again"
        )


class PermissionDeniedError(AccountsError):
    """The signed-in user (or API key) lacks the permission the action needs."""


class AccountInputError(AccountsError, DataError):
    """A value given for an account is not acceptable; the message says what is allowed."""


class WeakPasswordError(AccountInputError):
    """The password breaks the password policy (the message says which rule)."""


class InvalidEmailError(AccountInputError):
    """The email address is malformed (the message says why)."""


class EmailTakenError(AccountsError):
    """An account with this email address exists already."""

    def __init__(self) -> None:
        super().__init__("an account with this email address exists already: sign in or reset the password")


class LastAdminError(AccountsError):
    """The change would leave no active administrator."""

    def __init__(self) -> None:
        super().__init__("refused: this would leave no active admin; make another user admin first")


class UserNotFoundError(AccountsError, NotFoundError):
    """No user has this id (or email)."""
