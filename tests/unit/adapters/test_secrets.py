"""KeyVault: Fernet encryption of exchange keys, rotation over MultiFernet, and what its errors may show."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet

from tsbot.adapters.secrets import KeyDecryptionError, KeyVault
from tsbot.core.errors import ConfigError, OperationalError

SECRET = "binance-secret-Zq8Xv3Lm9Tr2Wy7N"
HINT = (
    "this exchange key was encrypted with a key that is no longer configured; add the old key to "
    "security.encryption_keys (after the new one) or enter the exchange key again"
)


def test_round_trip_returns_the_plaintext_and_the_token_does_not_contain_it():
    vault = KeyVault([KeyVault.generate_key()])
    token = vault.encrypt(SECRET)
    assert SECRET not in token
    assert vault.decrypt(token) == SECRET
    # Fernet tokens carry a random IV: the same plaintext never gives the same token twice.
    assert vault.encrypt(SECRET) != token
    assert vault.decrypt(vault.encrypt("")) == ""
    assert vault.decrypt(vault.encrypt("clé-ünïcode-秘密")) == "clé-ünïcode-秘密"


def test_generate_key_makes_distinct_valid_fernet_keys():
    first, second = KeyVault.generate_key(), KeyVault.generate_key()
    assert first != second
    assert len(base64.urlsafe_b64decode(first)) == 32
    Fernet(first.encode())  # accepted by the library itself


def test_old_token_decrypts_after_a_new_key_is_added_first_and_rotate_moves_it_to_the_new_key():
    old_key, new_key = KeyVault.generate_key(), KeyVault.generate_key()
    old_token = KeyVault([old_key]).encrypt(SECRET)

    both = KeyVault([new_key, old_key])
    assert both.decrypt(old_token) == SECRET
    assert both.needs_rotation(old_token) is True

    rotated = both.rotate(old_token)
    assert rotated != old_token
    assert both.needs_rotation(rotated) is False
    # The old key can now be dropped: the new key alone opens the rotated token, but not the old one.
    new_only = KeyVault([new_key])
    assert new_only.decrypt(rotated) == SECRET
    with pytest.raises(KeyDecryptionError):
        new_only.decrypt(old_token)
    # New values are encrypted with the newest key (first in the list).
    assert new_only.decrypt(both.encrypt("fresh")) == "fresh"


def test_changed_decryption_key_raises_key_decryption_error_with_the_fix():
    token = KeyVault([KeyVault.generate_key()]).encrypt(SECRET)
    other = KeyVault([KeyVault.generate_key()])
    with pytest.raises(KeyDecryptionError) as info:
        other.decrypt(token)
    assert str(info.value) == HINT
    assert isinstance(info.value, OperationalError)
    assert info.value.__cause__ is None and info.value.__context__ is None
    with pytest.raises(KeyDecryptionError, match="no longer configured"):
        other.rotate(token)
    with pytest.raises(KeyDecryptionError):
        other.needs_rotation(token)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), id="changed-tag"),
        pytest.param(lambda t: t[:20] + ("x" if t[20] != "x" else "y") + t[21:], id="changed-byte"),
        pytest.param(lambda t: t[:-10], id="truncated"),
        pytest.param(lambda t: "not a token", id="garbage"),
        pytest.param(lambda t: t + "é", id="non-ascii"),
    ],
)
def test_tampered_token_fails_to_decrypt(tamper):
    vault = KeyVault([KeyVault.generate_key()])
    token = vault.encrypt(SECRET)
    bad = tamper(token)
    assert bad != token
    with pytest.raises(KeyDecryptionError):
        vault.decrypt(bad)


@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param("not-a-fernet-key-but-a-long-secret-looking-value", id="not-base64-32-bytes"),
        pytest.param(base64.urlsafe_b64encode(b"k" * 16).decode(), id="16-bytes"),
        pytest.param("", id="empty-string"),
    ],
)
def test_malformed_key_raises_config_error_naming_the_setting_not_the_key(bad_key):
    good = KeyVault.generate_key()
    with pytest.raises(ConfigError) as info:
        KeyVault([good, bad_key])
    message = str(info.value)
    assert "security.encryption_keys" in message and "key #2" in message
    if bad_key:
        assert bad_key not in message
        assert bad_key not in repr(info.value)
    assert good not in message
    # The library's own exception (which could quote the key) is not chained.
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_empty_key_list_raises_config_error():
    with pytest.raises(ConfigError, match=r"security\.encryption_keys is empty"):
        KeyVault([])


def test_single_string_instead_of_list_raises_config_error_without_the_key():
    key = KeyVault.generate_key()
    with pytest.raises(ConfigError) as info:
        KeyVault(key)  # type: ignore[arg-type]
    assert "security.encryption_keys" in str(info.value) and key not in str(info.value)


def test_repr_and_str_hide_the_keys():
    keys = [KeyVault.generate_key(), KeyVault.generate_key()]
    vault = KeyVault(keys)
    for shown in (repr(vault), str(vault), f"{vault}", repr([vault])):
        assert "2 keys hidden" in shown
        for key in keys:
            assert key not in shown
            assert key[:12] not in shown
    assert not hasattr(vault, "__dict__")
