"""``tsbot train`` and ``tsbot model`` in a subprocess, as a user runs them: import the bundled data, train on
BTC/USDT 1h with a small configuration, scan with the model, list and switch models, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("tsbot"))


def _tsbot(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("tsbot")
    base = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    return base | {
        "TSBOT_DATA_DIR": str(data_dir),
        "COLUMNS": "200",
        "TSBOT_ML__N_ESTIMATORS": "20",
        "TSBOT_ML__MAX_DEPTH": "4",
        "TSBOT_ML__FOLDS": "3",
    }


def test_train_on_an_empty_store_says_to_import(env: dict[str, str]) -> None:
    result = _tsbot("train", "--symbols", "BTC/USDT", env=env)
    assert result.returncode == 1
    assert "tsbot data import" in result.stderr


@pytest.mark.slow
def test_import_train_scan_and_switch_models(env: dict[str, str]) -> None:
    assert _tsbot("data", "import", "--quiet", env=env).returncode == 0
    assert "no models yet" in _tsbot("model", "list", env=env).stdout

    # Nine months of bars (and a year in the second training): the whole path, in a fraction of the time.
    trained = _tsbot(
        "train",
        "--symbols",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--end",
        "2021-09-30T23:00:00Z",
        "--json",
        env=env,
    )
    assert trained.returncode == 0, trained.stderr
    report = json.loads(trained.stdout)
    assert report["model"] == {"id": 1, "name": "ensemble", "version": 1, "active": True}
    assert report["symbols"] == ["BTC/USDT"] and report["timeframe"] == "1h"
    assert len(report["folds"]) == 3 and report["hyperparameters"]["n_estimators"] == 20
    assert report["oos"]["rows"] == sum(f["test_rows"] for f in report["folds"])
    assert 0 < report["oos"]["accuracy"] < 1 and 0 < report["baseline"]["accuracy"] < 1
    assert report["train_start"].startswith("2021-01-09")  # 200 bars of warm-up after 2021-01-01 00:00
    assert "2021-09-01" < report["train_end"] < "2021-10-01"  # the last bar with a known 24-bar outcome

    scan = _tsbot("scan", "--symbols", "BTC/USDT", "ETH/USDT", "AAPL", "--json", env=env)
    assert scan.returncode == 0, scan.stderr
    signals = {s["symbol"]: s for s in json.loads(scan.stdout)}
    assert -1 <= signals["BTC/USDT"]["components"]["ml"] <= 1
    assert signals["ETH/USDT"]["components"]["ml"] is not None  # any 1h series is scored
    assert signals["AAPL"]["components"]["ml"] is None  # daily bars: not this model's timeframe
    assert any(r.startswith("ML ensemble") for r in signals["BTC/USDT"]["reasons"])

    table = _tsbot(
        "train",
        "--symbols",
        "BTC",
        "ETH",
        "--timeframe",
        "1h",
        "--start",
        "2022-01-01",
        "--horizon",
        "12",
        "--no-activate",
        env=env,
    )
    assert table.returncode == 0, table.stderr
    assert "ensemble v2 (id 2, not active)" in table.stdout
    for text in ("Walk-forward, out of sample", "pooled", "base acc", "Top features"):
        assert text in table.stdout

    listing = json.loads(_tsbot("model", "list", "--json", env=env).stdout)
    assert [(m["version"], m["active"]) for m in listing] == [(2, False), (1, True)]
    assert (
        listing[0]["symbols"] == ["BTC/USDT", "ETH/USDT"]
        and listing[0]["hyperparameters"]["horizon_bars"] == 12
        and listing[0]["train_start"].startswith("2022-01-01")  # the first training bar is --start
    )
    switched = _tsbot("model", "activate", "2", env=env)
    assert switched.returncode == 0 and "ensemble v2" in switched.stdout
    assert "yes" in _tsbot("model", "list", env=env).stdout

    unknown = _tsbot("train", "--symbols", "NOPE/USDT", env=env)
    assert unknown.returncode == 1 and "unknown symbol 'NOPE/USDT'" in unknown.stderr
    mixed = _tsbot("train", "--symbols", "BTC/USDT", "AAPL", env=env)
    assert mixed.returncode == 1 and "--timeframe" in mixed.stderr
    short = _tsbot("train", "--symbols", "BTC/USDT", "--timeframe", "1h", "--start", "2022-10-10", env=env)
    assert short.returncode == 1 and "too few bars" in short.stderr and "BTC/USDT" in short.stderr
    missing = _tsbot("model", "activate", "99", env=env)
    assert missing.returncode == 1 and "no model with id 99" in missing.stderr
    bad = _tsbot("train", "--labeling", "sideways", env=env)
    assert bad.returncode == 2 and "labeling" in bad.stderr
