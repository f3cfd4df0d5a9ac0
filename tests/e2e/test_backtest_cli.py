"""``tsbot backtest``, ``tsbot lookahead`` and ``tsbot optimize`` in a subprocess, as a user runs them on the
bundled candles, with bad input."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.readme import README, readme_command_lines

EXE = str(Path(sys.executable).with_name("tsbot"))


def _tsbot(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("tsbot")
    base = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env = base | {
        "TSBOT_DATA_DIR": str(data_dir),
        "COLUMNS": "200",
        "TSBOT_ML__N_ESTIMATORS": "15",
        "TSBOT_ML__MAX_DEPTH": "4",
    }
    imported = _tsbot("data", "import", "--quiet", env=env)
    assert imported.returncode == 0, imported.stderr
    return env


def test_backtest_json_has_trades_and_stats_and_writes_a_report(env: dict[str, str], tmp_path: Path) -> None:
    report = tmp_path / "sma.html"
    args = ["backtest", "--strategy", "sma_cross", "--symbols", "BTC/USDT", "--timeframe", "1h"]
    window = ["--start", "2021-06-01", "--end", "2022-06-01", "--fill", "close"]
    result = _tsbot(*args, *window, "--json", "--report", str(report), env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"trades", "stats"} <= set(out)
    trades, stats = out["trades"], out["stats"]
    assert stats["trades"] == len(trades) > 20
    assert all("2021-06-01" <= t["entry_at"] <= t["exit_at"] <= "2022-06-01T00:00:00Z" for t in trades)
    assert stats["final_equity"] == pytest.approx(10_000 + sum(t["pnl"] for t in trades), rel=1e-6)
    assert out["config"]["fill"] == "close" and out["strategy"] == {
        "strategy": "sma_cross",
        "params": {"fast": 10, "slow": 50, "allow_short": 0},
    }
    html = report.read_text()
    assert "<script src=" not in html and "sma_cross on BTC/USDT 1h" in html


def test_backtest_table_and_param_override(env: dict[str, str]) -> None:
    result = _tsbot(
        "backtest", "--strategy", "scalping", "--symbols", "ETH/USDT", "--param", "rsi_low=20", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "scalping on ETH/USDT 1h" in result.stdout and "buy and hold" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "martingale"], "built-in strategies: scalping, swing"),
        (["--strategy", "sma_cross", "--param", "fast"], "expected NAME=NUMBER"),
        (["--strategy", "sma_cross", "--param", "fast=80"], "must be shorter than slow"),
        (["--start", "2022-01-01", "--end", "2021-01-01"], "must be after --start"),
        (["--fill", "tomorrow"], "tomorrow"),
    ],
)
def test_backtest_bad_options_exit_2_with_the_reason(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = _tsbot("backtest", "--symbols", "BTC/USDT", *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr


def test_backtest_of_a_period_shorter_than_the_warm_up_exits_1(env: dict[str, str]) -> None:
    result = _tsbot("backtest", "--symbols", "BTC/USDT", "--end", "2021-01-03", env=env)
    assert result.returncode == 1
    assert "needs 200 bars of warm-up" in result.stderr


def test_unknown_symbol_exits_1(env: dict[str, str]) -> None:
    result = _tsbot("backtest", "--symbols", "NOPE/USDT", env=env)
    assert result.returncode == 1 and "NOPE/USDT" in result.stderr


def test_lookahead_passes_for_built_in_strategies(env: dict[str, str]) -> None:
    result = _tsbot(
        "lookahead", "--symbols", "ETH/USDT", "--timeframe", "1h", "--samples", "8", "--json", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reports = json.loads(result.stdout)
    assert [r["strategy"] for r in reports] == ["scalping", "swing", "ai_adaptive", "fused", "sma_cross"]
    assert all(r["passed"] and r["checked_bars"] == 8 for r in reports)


def test_lookahead_checks_each_series_at_its_own_timeframe_when_none_is_named(env: dict[str, str]) -> None:
    # the bundled crypto is stored at 1h and the stocks at 1d; each series is checked on its own
    result = _tsbot(
        "lookahead", "--strategy", "sma_cross", "--symbols", "BTC/USDT", "SPY", "--samples", "4", "--json", env=env
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    reports = json.loads(result.stdout)
    assert [r["series"] for r in reports] == ["binance:BTC/USDT:1h", "us:SPY:1d"]
    assert all(r["passed"] and r["checked_bars"] == 4 for r in reports)


def test_a_backtest_of_series_in_several_timeframes_asks_for_one(env: dict[str, str]) -> None:
    # bad input tried: a portfolio of a 1h and a 1d series with no --timeframe
    result = _tsbot("backtest", "--strategy", "sma_cross", "--symbols", "BTC/USDT", "SPY", env=env)
    assert result.returncode == 1 and result.stdout == ""
    message = " ".join(result.stderr.split())
    assert "(1h: 1 series, 1d: 1 series)" in message and "--timeframe 1h" in message


def test_the_readme_sma_cross_example_runs_as_written(env: dict[str, str]) -> None:
    line = next(
        x for x in readme_command_lines(README.read_text()) if x.startswith("backtest --strategy sma_cross")
    )
    result = _tsbot(*shlex.split(line), env=env)
    assert result.returncode == 0, result.stderr
    title = " ".join(result.stdout.split())
    assert "sma_cross on ADA/USDT" in title and "XRP/USDT 1h" in title  # every bundled 1h pair


@pytest.mark.slow
def test_walk_forward_with_ml_reports_only_out_of_sample_folds(env: dict[str, str]) -> None:
    result = _tsbot(
        "backtest", "--strategy", "ai_adaptive", "--symbols", "BTC/USDT", "--timeframe", "1h",
        "--walk-forward", "--folds", "3", "--json", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    folds = out["walk_forward"]["folds"]
    assert len(folds) == 3
    first_test = folds[0]["test_start_ms"]
    assert out["stats"]["start_ms"] == first_test
    assert all(t["entry_at"] >= _iso(first_test) for t in out["trades"])
    assert not any("too little history" in n for n in out["notes"])


@pytest.mark.slow
def test_optimize_reports_the_deflated_sharpe_of_the_winner(env: dict[str, str]) -> None:
    result = _tsbot(
        "optimize", "--strategy", "sma_cross", "--symbols", "BTC/USDT", "--timeframe", "1h",
        "--trials", "6", "--folds", "3", "--json", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert len(out["trials"]) == 6
    assert out["trials"][0]["params"] == {"fast": 10, "slow": 50, "allow_short": 0}  # the defaults go first
    assert 0.0 <= out["deflated_sharpe"] <= 1.0
    assert out["stats"]["trials"] >= 2 and out["stats"]["deflated_sharpe"] is not None
    best = max(
        (t for t in out["trials"] if t["sharpe_per_bar"] is not None), key=lambda t: t["sharpe_per_bar"]
    )
    assert out["best_params"] == best["params"]


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
