"""The access-token secret (configured, or generated once into ``<data_dir>/jwt.secret`` with mode 0600) and the
Fernet secret box for TOTP secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tsbot.adapters.account_secrets import (
    TotpSecretError,
    VaultSecretBox,
    jwt_secret_from_settings,
    secret_box_from_settings,
)
from tsbot.adapters.secrets import KeyVault
from tsbot.config import load_settings
from tsbot.core.errors import ConfigError


def test_configured_secret_is_used(tmp_path: Path) -> None:
    secret = "s" * 40
    assert (
        jwt_secret_from_settings(load_settings(data_dir=tmp_path, security={"jwt_secret": secret})) == secret
    )
    assert not (tmp_path / "jwt.secret").exists()


def test_short_configured_secret_is_refused(tmp_path: Path) -> None:  # bad input: a 10-character secret
    settings = load_settings(data_dir=tmp_path, security={"jwt_secret": "too-short!"})
    with pytest.raises(ConfigError, match="at least 32") as caught:
        jwt_secret_from_settings(settings)
    assert "too-short!" not in str(caught.value)


def test_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "new")
    first = jwt_secret_from_settings(settings)
    path = tmp_path / "new" / "jwt.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 64
    assert [p.name for p in path.parent.iterdir()] == ["jwt.secret"]  # no temporary file left behind
    path.chmod(0o644)  # someone widened it
    assert jwt_secret_from_settings(settings) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_truncated_secret_file_is_refused(tmp_path: Path) -> None:  # bad input: a file holding 5 characters
    (tmp_path / "jwt.secret").write_text("short")
    with pytest.raises(ConfigError, match="delete it"):
        jwt_secret_from_settings(load_settings(data_dir=tmp_path))


def test_secret_box_round_trip_and_a_removed_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = VaultSecretBox(KeyVault([old])).encrypt("JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert VaultSecretBox(KeyVault([new, old])).decrypt(sealed) == "JBSWY3DPEHPK3PXP"  # rotation keeps it
    with pytest.raises(TotpSecretError, match="security.encryption_keys"):  # bad input: the old key removed
        VaultSecretBox(KeyVault([new])).decrypt(sealed)
    assert old not in repr(VaultSecretBox(KeyVault([old])))


def test_secret_box_from_settings() -> None:
    assert secret_box_from_settings(load_settings()) is None
    key = Fernet.generate_key().decode()
    assert isinstance(
        secret_box_from_settings(load_settings(security={"encryption_keys": [key]})), VaultSecretBox
    )
    with pytest.raises(ConfigError, match="key #1"):  # bad input: not a Fernet key
        secret_box_from_settings(load_settings(security={"encryption_keys": ["nope"]}))
