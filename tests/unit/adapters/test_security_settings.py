"""The ``security.encryption_keys`` setting: read from the environment and YAML, never shown, and turned into the
vault that encrypts exchange keys."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from tsbot.adapters.secrets import KeyVault, vault_from_settings
from tsbot.config import load_settings
from tsbot.core.errors import ConfigError

ENV = "TSBOT_SECURITY__ENCRYPTION_KEYS"


def test_environment_json_list_gives_the_keys_newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    new, old = KeyVault.generate_key(), KeyVault.generate_key()
    monkeypatch.setenv(ENV, f'["{new}", "{old}"]')
    settings = load_settings()
    assert [k.get_secret_value() for k in settings.security.encryption_keys] == [new, old]
    vault = vault_from_settings(settings)
    # The older key still decrypts; the newest one encrypts.
    assert vault.decrypt(KeyVault([old]).encrypt("s3cret")) == "s3cret"
    assert KeyVault([new]).decrypt(vault.encrypt("fresh")) == "fresh"


def test_environment_object_and_user_yaml_forms(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key, other = KeyVault.generate_key(), KeyVault.generate_key()
    monkeypatch.setenv("TSBOT_SECURITY", f'{{"encryption_keys": ["{key}"]}}')
    assert [k.get_secret_value() for k in load_settings().security.encryption_keys] == [key]
    monkeypatch.delenv("TSBOT_SECURITY")
    app = tmp_path / "app.yaml"
    app.write_text(f"security:\n  encryption_keys:\n    - {other}\n    - {key}\n")
    monkeypatch.setenv("TSBOT_APP_CONFIG", str(app))
    assert [k.get_secret_value() for k in load_settings().security.encryption_keys] == [other, key]
    # The environment wins over the file.
    monkeypatch.setenv(ENV, f'["{key}"]')
    assert [k.get_secret_value() for k in load_settings().security.encryption_keys] == [key]


def test_a_single_json_string_is_one_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bad input: one key given as a JSON string instead of a list; taken as a list of one, not echoed in an error.
    key = KeyVault.generate_key()
    monkeypatch.setenv(ENV, f'"{key}"')
    settings = load_settings()
    assert [k.get_secret_value() for k in settings.security.encryption_keys] == [key]
    assert vault_from_settings(settings).decrypt(KeyVault([key]).encrypt("x")) == "x"


def test_a_key_that_is_not_json_fails_without_showing_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bad input: the bare key without JSON quotes or brackets.
    key = KeyVault.generate_key()
    monkeypatch.setenv(ENV, key)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert 'field "security"' in str(err.value) and str(err.value).startswith("invalid configuration")
    assert key not in "".join(traceback.format_exception(err.value))


def test_default_is_empty_and_vault_from_settings_says_what_to_set() -> None:
    # Bad input: no key configured at all.
    settings = load_settings()
    assert settings.security.encryption_keys == []
    with pytest.raises(ConfigError) as err:
        vault_from_settings(settings)
    message = str(err.value)
    assert "security.encryption_keys" in message and ENV in message
    assert "Fernet.generate_key()" in message


def test_empty_list_in_the_environment_is_refused_by_vault_from_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Bad input: the variable is set, to an empty list.
    monkeypatch.setenv(ENV, "[]")
    with pytest.raises(ConfigError, match="no encryption key for exchange keys is configured"):
        vault_from_settings(load_settings())


def test_malformed_key_is_refused_by_position_not_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bad input: the second key is not a Fernet key (a password pasted instead).
    good, bad = KeyVault.generate_key(), "correct-horse-battery-staple-password"
    monkeypatch.setenv(ENV, f'["{good}", "{bad}"]')
    with pytest.raises(ConfigError) as err:
        vault_from_settings(load_settings())
    assert "key #2" in str(err.value)
    assert bad not in str(err.value) and good not in str(err.value)


def test_a_wrong_element_type_names_the_setting_but_not_the_good_keys() -> None:
    # Bad input: a number among the keys; the message quotes the wrong element only.
    good = KeyVault.generate_key()
    with pytest.raises(ConfigError, match=r"security\.encryption_keys\.1") as err:
        load_settings(security={"encryption_keys": [good, 5]})
    assert good not in str(err.value)
    with pytest.raises(ConfigError, match=r"security\.encryption_key: unknown key"):
        load_settings(security={"encryption_key": [good]})


def test_repr_str_and_dumps_of_the_settings_hide_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [KeyVault.generate_key(), KeyVault.generate_key()]
    monkeypatch.setenv(ENV, f'["{keys[0]}", "{keys[1]}"]')
    settings = load_settings()
    shown = [
        repr(settings),
        str(settings),
        f"{settings}",
        repr(settings.security),
        str(settings.security.encryption_keys),
        repr(settings.model_dump()),
        settings.model_dump_json(),
        repr(vault_from_settings(settings)),
    ]
    assert "encryption_keys=[SecretStr('**********'), SecretStr('**********')]" in repr(settings)
    for text in shown:
        for key in keys:
            assert key not in text and key[:12] not in text
