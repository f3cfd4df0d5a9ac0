"""The account service: one object the API, the Telegram bot and the command line call for everything about
users. Its methods live in small parts, one module each:

* :mod:`~tsbot.accounts.registration`: ``register``, ``resend_verification``, ``verify_email``,
  ``request_password_reset``, ``reset_password``;
* :mod:`~tsbot.accounts.sessions`: ``login``, ``refresh``, ``logout``, ``end_session``, ``authenticate``,
  ``decode_access_token``, ``change_password``, ``login_history``;
* :mod:`~tsbot.accounts.twofactor`: ``begin_totp``, ``confirm_totp``, ``disable_totp``, ``renew_recovery_codes``,
  ``recovery_codes_left``;
* :mod:`~tsbot.accounts.api_keys`: ``create_api_key``, ``list_api_keys``, ``revoke_api_key``,
  ``authenticate_api_key``;
* :mod:`~tsbot.accounts.admin`: ``create_user``, ``get_user``, ``find_user``, ``list_users``, ``set_role``,
  ``set_active``, ``deactivate``, ``set_active_until``, ``extend_activation``, ``delete_user``, ``audit_log``;
* :mod:`~tsbot.accounts.profile`: ``profile``, ``update_profile``.

Errors are the classes of :mod:`tsbot.accounts.errors` (their table maps them to HTTP statuses).
"""

from __future__ import annotations

from tsbot.accounts.admin import AdminPart
from tsbot.accounts.api_keys import ApiKeysPart
from tsbot.accounts.profile import ProfilePart


class AccountService(AdminPart, ApiKeysPart, ProfilePart):
    """Users, sign-in, tokens, two-factor sign-in, API keys, administration and the audit log.

    Args:
        users, tokens, api_keys, events: the stores (:mod:`tsbot.accounts.ports`).
        mailer: sends confirmation and password-reset emails.
        config: ``settings.accounts`` (token lifetimes, sign-in lock, email-token lifetimes, TOTP issuer,
            activation days).
        jwt_secret: signs access tokens (HS256); at least 32 bytes.
        public_url: where users reach tsbot (``settings.api.public_url``); emailed links start with it.
        secret_box: encrypts TOTP secrets; None: two-factor setup raises ConfigError saying how to configure a key.
        clock: the current time (aware UTC); tests pass their own.
        password_hash: the password hasher; default argon2id with pwdlib's recommended parameters.

    Raises:
        ConfigError: ``jwt_secret`` is shorter than 32 bytes.
    """
