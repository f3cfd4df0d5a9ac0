"""The ``tsbot`` command in a subprocess, as a user runs it: import, scan (table and JSON), and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("tsbot"))
JSON_KEYS = [
    "symbol",
    "exchange",
    "timeframe",
    "as_of",
    "action",
    "score",
    "confidence",
    "price",
    "stop_loss",
    "take_profit",
    "components",
    "reasons",
    "headlines",
]


def _tsbot(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("tsbot")
    base = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    return base | {"TSBOT_DATA_DIR": str(data_dir), "COLUMNS": "200"}


def test_scan_on_an_empty_store_says_to_import(env: dict[str, str]) -> None:
    result = _tsbot("scan", env=env)
    assert result.returncode == 1
    assert "tsbot data import" in result.stderr


@pytest.mark.slow
def test_import_then_scan_every_bundled_series(env: dict[str, str]) -> None:
    first = _tsbot("data", "import", env=env)
    assert first.returncode == 0, first.stderr
    assert "BTC/USDT" in first.stdout and "Headlines: 7,524 read" in first.stdout
    second = _tsbot("data", "import", "--quiet", env=env)
    assert second.returncode == 0
    listing = _tsbot("data", "list", env=env)
    assert listing.stdout.count("binance") == 12 and "SPY" in listing.stdout

    table = _tsbot("scan", env=env)
    assert table.returncode == 0, table.stderr
    for symbol in ("BTC/USDT", "DOGE/USDT", "SPY", "AAPL", "KO"):
        assert symbol in table.stdout
    assert "RSI" in table.stdout

    out = _tsbot("scan", "--json", env=env)
    signals = json.loads(out.stdout)
    assert len(signals) == 17
    assert all(list(s) == JSON_KEYS for s in signals)
    assert {s["action"] for s in signals} <= {"BUY", "SELL", "HOLD"}

    picked = json.loads(
        _tsbot(
            "scan",
            "--json",
            "--symbols",
            "BTC/USDT",
            "ETH/USDT",
            "--timeframe",
            "1h",
            "--as-of",
            "2022-03-01T12:00:00Z",
            env=env,
        ).stdout
    )
    assert [s["symbol"] for s in picked] == ["BTC/USDT", "ETH/USDT"]
    assert all(s["as_of"] == "2022-03-01T12:00:00Z" for s in picked)
    assert all(s["components"]["sentiment"] is not None for s in picked)


@pytest.mark.slow
def test_bad_input_gets_clear_errors(env: dict[str, str]) -> None:
    if _tsbot("data", "list", env=env).stdout.count("binance") < 12:
        assert _tsbot("data", "import", "--quiet", env=env).returncode == 0
    unknown = _tsbot("scan", "--symbols", "NOPE/USDT", env=env)
    assert unknown.returncode == 1
    assert "unknown symbol 'NOPE/USDT'" in unknown.stderr and "BTC/USDT" in unknown.stderr
    early = _tsbot("scan", "--as-of", "2001-01-01", "--symbols", "BTC/USDT", env=env)
    assert early.returncode == 1 and "before the first closed candle" in early.stderr
    garbled = _tsbot("scan", "--as-of", "yesterday-ish", env=env)
    assert garbled.returncode == 2 and "ISO-8601" in garbled.stderr
    bad_tf = _tsbot("scan", "--timeframe", "7m", env=env)
    assert bad_tf.returncode == 2 and "allowed" in bad_tf.stderr


def test_malformed_config_file_stops_with_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "trading.yaml"
    path.write_text("weights:\n  technical: 0.7\n sentiment: [\n")
    result = _tsbot("scan", env=env | {"TSBOT_TRADING_CONFIG": str(path)})
    assert result.returncode == 2
    assert str(path) in result.stderr and "line" in result.stderr
