"""Configuration: defaults, environment overrides, user YAML files, and clear errors for wrong values."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsbot.config import load_settings
from tsbot.core.errors import ConfigError
from tsbot.market.models import Timeframe


def test_defaults_come_from_the_shipped_yaml() -> None:
    s = load_settings()
    assert s.trading.buy_threshold == 0.15
    assert s.trading.sell_threshold == -0.15
    assert s.trading.take_profit_r == [1.0, 2.0, 3.0]
    assert s.trading.stop_atr_multiple == 2.0
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")


def test_environment_overrides_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSBOT_TRADING__BUY_THRESHOLD", "0.25")
    monkeypatch.setenv("TSBOT_TRADING__TIMEFRAME", "4h")
    monkeypatch.setenv("TSBOT_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    s = load_settings()
    assert s.trading.buy_threshold == 0.25
    assert s.trading.timeframe is Timeframe.H4
    assert s.effective_database_url == "postgresql+asyncpg://u@h/db"


def test_user_trading_file_overlays_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trading.yaml"
    path.write_text("sell_threshold: -0.3\nsentiment:\n  half_life_hours: 6\n")
    monkeypatch.setenv("TSBOT_TRADING_CONFIG", str(path))
    s = load_settings()
    assert s.trading.sell_threshold == -0.3
    assert s.trading.sentiment.half_life_hours == 6
    assert s.trading.sentiment.max_age_hours == 72  # untouched default


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("TSBOT_TRADING__TIMEFRAME", "2h", "trading.timeframe"),
        ("TSBOT_LOG_LEVEL", "LOUD", "log_level"),
        ("TSBOT_TRADING__BUY_THRESHOLD", "1.5", "trading.buy_threshold"),
        ("TSBOT_TRADING__TAKE_PROFIT_R", "[2, 1]", "trading.take_profit_r"),
    ],
)
def test_wrong_value_names_key_and_allowed_values(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert named in str(info.value)
    assert repr(value) in str(info.value) or value in str(info.value)


def test_wrong_timeframe_lists_allowed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSBOT_TRADING__TIMEFRAME", "2h")
    with pytest.raises(ConfigError, match="'1h'.*'4h'.*'1d'"):
        load_settings()


def test_malformed_yaml_names_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trading.yaml"
    path.write_text("buy_threshold: 0.2\nweights: [technical: 1\n")  # unclosed flow sequence
    monkeypatch.setenv("TSBOT_TRADING_CONFIG", str(path))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(path) in str(info.value)
    assert "line" in str(info.value)


def test_misspelt_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trading.yaml"
    path.write_text("buy_treshold: 0.2\n")
    monkeypatch.setenv("TSBOT_TRADING_CONFIG", str(path))
    with pytest.raises(ConfigError, match=r"trading\.buy_treshold: unknown key"):
        load_settings()


def test_yaml_that_is_not_a_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.yaml"
    path.write_text("- just\n- a list\n")
    monkeypatch.setenv("TSBOT_APP_CONFIG", str(path))
    with pytest.raises(ConfigError, match="mapping"):
        load_settings()


def test_missing_user_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TSBOT_APP_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings()
