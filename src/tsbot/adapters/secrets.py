"""Encryption of exchange API keys at rest, with key rotation.

Exchange keys and secrets are stored encrypted with Fernet (AES-128-CBC with an HMAC-SHA256 tag, from
``cryptography``). The encryption keys come from the setting ``security.encryption_keys``: a list of Fernet keys
(32 bytes, urlsafe base64), newest first. New values are always encrypted with the newest key; a value encrypted
with an older key still decrypts while that key stays in the list, and :meth:`KeyVault.rotate` re-encrypts it with
the newest one, after which the old key can be dropped.

Decrypted values are returned only to the caller that signs requests (the broker adapters); they never appear in
a message, a ``repr`` or a log written here.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tsbot.core.errors import ConfigError, OperationalError

if TYPE_CHECKING:
    from tsbot.config import Settings

SETTING = "security.encryption_keys"
#: The environment variable that sets :data:`SETTING` (a JSON list, newest key first).
ENV_VAR = "TSBOT_SECURITY__ENCRYPTION_KEYS"


class KeyDecryptionError(OperationalError):
    """A stored exchange key could not be decrypted: no configured encryption key opens it (the key that encrypted
    it was removed or replaced), or the stored value was altered."""


_DECRYPT_HINT = (
    "this exchange key was encrypted with a key that is no longer configured; add the old key to "
    f"{SETTING} (after the new one) or enter the exchange key again"
)


class KeyVault:
    """Encrypts and decrypts exchange keys with the configured Fernet keys.

    Args:
        keys: Fernet keys (urlsafe base64 of 32 random bytes, as :meth:`generate_key` makes), newest first. The
            newest encrypts; all of them are tried to decrypt.

    Raises:
        ConfigError: the list is empty or a key is not a valid Fernet key. The message names the setting
            ``security.encryption_keys`` and the position of the bad key, never the key itself.
    """

    __slots__ = ("_fernet", "_newest", "_count")

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str | bytes):
            raise ConfigError(f"{SETTING} must be a list of keys (newest first), not a single string")
        if not keys:
            raise ConfigError(
                f"{SETTING} is empty: add an encryption key (generate one with KeyVault.generate_key() or "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            )
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            fernets.append(_fernet(key, position))
        self._newest = fernets[0]
        self._fernet = MultiFernet(fernets)
        self._count = len(fernets)

    def encrypt(self, plaintext: str) -> str:
        """``plaintext`` (UTF-8) encrypted with the newest key: a urlsafe base64 Fernet token (ASCII) that also
        records the time of encryption (UTC)."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of ``token``, trying every configured key, newest first.

        Raises:
            KeyDecryptionError: no configured key opens the token (it was encrypted with a key no longer
                configured, or it was altered).
        """
        try:
            data = self._fernet.decrypt(_token_bytes(token))
        except InvalidToken:
            data = None
        if data is None:
            raise KeyDecryptionError(_DECRYPT_HINT)
        return data.decode("utf-8")

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the newest key (a new token; its plaintext is unchanged). The encryption
        time of the original is kept.

        Raises:
            KeyDecryptionError: no configured key opens the token.
        """
        try:
            rotated = self._fernet.rotate(_token_bytes(token))
        except InvalidToken:
            rotated = None
        if rotated is None:
            raise KeyDecryptionError(_DECRYPT_HINT)
        return rotated.decode("ascii")

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` opens with an older configured key but not with the newest one.

        Raises:
            KeyDecryptionError: no configured key opens the token.
        """
        raw = _token_bytes(token)
        try:
            self._newest.decrypt(raw)
        except InvalidToken:
            self.decrypt(token)  # raises KeyDecryptionError when no key opens it at all
            return True
        return False

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key (urlsafe base64 text of 32 bytes) to put first in ``security.encryption_keys``."""
        return Fernet.generate_key().decode("ascii")

    def __repr__(self) -> str:
        return f"KeyVault(<{self._count} key{'s' if self._count != 1 else ''} hidden>)"

    __str__ = __repr__


def vault_from_settings(settings: Settings) -> KeyVault:
    """The :class:`KeyVault` over ``settings.security.encryption_keys`` (newest first).

    Raises:
        ConfigError: no key is configured (the message names the setting, its environment variable and how to
            generate a key), or a configured key is not a valid Fernet key (the message gives its position only).
    """
    keys = [secret.get_secret_value() for secret in settings.security.encryption_keys]
    if not keys:
        raise ConfigError(
            f"no encryption key for exchange keys is configured: set {SETTING} (in the YAML file named by "
            f"TSBOT_APP_CONFIG) or the environment variable {ENV_VAR} to a JSON list of Fernet keys, newest "
            f"first (e.g. {ENV_VAR}='[\"<key>\"]'); generate a key with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        )
    return KeyVault(keys)


def _fernet(key: str, position: int) -> Fernet:
    """The Fernet of one configured key; a bad key raises ConfigError naming only its position."""
    bad = f"{SETTING}: key #{position} is not a valid Fernet key (urlsafe base64 of 32 bytes, 44 characters)"
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(bad)
    try:
        fernet = Fernet(key.strip().encode("ascii"))
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        fernet = None
    if fernet is None:
        # Raised outside the except block so the library's exception (which may quote the key) is not chained.
        raise ConfigError(bad)
    return fernet


def _token_bytes(token: str) -> bytes:
    """The ASCII bytes of a token; a token with other characters can never be valid."""
    try:
        return token.encode("ascii")
    except (UnicodeEncodeError, AttributeError):
        return b"!"
