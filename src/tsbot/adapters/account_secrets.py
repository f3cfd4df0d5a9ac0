"""Secrets of the account service: the :class:`~tsbot.accounts.ports.SecretBox` that encrypts TOTP secrets with the
Fernet keys of ``security.encryption_keys`` (:class:`~tsbot.adapters.secrets.KeyVault`), and the secret that
signs access tokens (``security.jwt_secret``, or one generated once into ``<data_dir>/jwt.secret``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from tsbot.accounts.tokens import MIN_SECRET_BYTES
from tsbot.adapters.secrets import KeyDecryptionError, KeyVault, vault_from_settings
from tsbot.core.errors import ConfigError, OperationalError

if TYPE_CHECKING:
    from tsbot.config import Settings

#: File under ``data_dir`` holding the generated access-token secret (mode 0600).
JWT_SECRET_FILE = "jwt.secret"


class TotpSecretError(OperationalError):
    """A stored two-factor secret cannot be decrypted with the configured keys."""


class VaultSecretBox:
    """Encrypts and decrypts TOTP secrets with a :class:`KeyVault` (newest key encrypts, all decrypt)."""

    __slots__ = ("_vault",)

    def __init__(self, vault: KeyVault) -> None:
        self._vault = vault

    def __repr__(self) -> str:
        return f"VaultSecretBox({self._vault!r})"

    def encrypt(self, plaintext: str) -> str:
        """``plaintext`` as a Fernet token (ASCII)."""
        return self._vault.encrypt(plaintext)

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext of a Fernet token.

        Raises:
            TotpSecretError: no configured key opens it (the key that encrypted it was removed).
        """
        try:
            return self._vault.decrypt(ciphertext)
        except KeyDecryptionError:
            raise TotpSecretError(
                "a two-factor secret cannot be decrypted: the key that encrypted it is no longer in "
                "security.encryption_keys; add that key back (after the newest), or have an admin turn two-factor "
                "sign-in off for this user"
            ) from None


def secret_box_from_settings(settings: Settings) -> VaultSecretBox | None:
    """The secret box over ``security.encryption_keys``, or None when no key is configured.

    Raises:
        ConfigError: a configured key is not a valid Fernet key.
    """
    if not settings.security.encryption_keys:
        return None
    return VaultSecretBox(vault_from_settings(settings))


def jwt_secret_from_settings(settings: Settings) -> str:
    """The secret that signs access tokens: ``security.jwt_secret`` when set, else the one in
    ``<data_dir>/jwt.secret``, generated (86 random urlsafe characters, file mode 0600) the first time.

    Raises:
        ConfigError: the configured secret is shorter than 32 bytes, or the file cannot be read or written, or
            holds too short a secret.
    """
    configured = settings.security.jwt_secret
    if configured is not None and configured.get_secret_value():
        value = configured.get_secret_value()
        if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"security.jwt_secret is too short: use at least {MIN_SECRET_BYTES} random characters"
            )
        return value
    return _secret_file(Path(settings.data_dir) / JWT_SECRET_FILE)


def _secret_file(path: Path) -> str:
    """Read the secret in ``path``; when there is none, write a new random one (mode 0600). The new file is
    written aside and linked into place, so two processes starting together end up with the same secret."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            aside = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(64) + "\n")
            try:
                with contextlib.suppress(
                    FileExistsError
                ):  # another process won the race: its secret is the one
                    os.link(aside, path)
            finally:
                aside.unlink()
        elif path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            path.chmod(0o600)  # someone widened it: only the owner may read the signing secret
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read or create the access-token secret file {path}: {type(exc).__name__}; "
            "fix its permissions or set security.jwt_secret (TSBOT_SECURITY__JWT_SECRET)"
        ) from None
    if len(value.encode("ascii")) < MIN_SECRET_BYTES:
        raise ConfigError(f"{path} holds too short a secret: delete it to have a new one generated")
    return value
