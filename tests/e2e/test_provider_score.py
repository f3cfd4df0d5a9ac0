"""``tsbot provider score`` in a subprocess on the bundled Binance candles and real signal posts.

``tests/data/provider_posts.jsonl`` holds real posts of two signal-post collections (a futures channel,
"sentinel", and the CryptobotCZ sample of several channels), copied verbatim; they are third-party texts used by
the tests only. Each object's ``source_id`` names the post in the labelled development set it comes from; the
``posted_at`` times were chosen inside the bundled candles where the prices fit each post, so that the replay
fills, takes targets and stops. The expected figures below were checked against the candles bar by bar.

The main runs start ``tsbot`` as a user does (a subprocess); the error cases run the same command in process
(typer's runner), which spares a few seconds of interpreter start-up each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tsbot.apps.cli.main import app

EXE = str(Path(sys.executable).with_name("tsbot"))
POSTS = Path(__file__).resolve().parents[1] / "data" / "provider_posts.jsonl"


def _tsbot(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _in_process(*args: str, data_dir: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"TSBOT_DATA_DIR": data_dir, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def _env(data_dir: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    return base | {"TSBOT_DATA_DIR": str(data_dir), "COLUMNS": "200"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A data dir holding the bundled dataset (``tsbot data import``)."""
    env = _env(tmp_path_factory.mktemp("tsbot"))
    imported = _tsbot("data", "import", "--quiet", env=env)
    assert imported.returncode == 0, imported.stderr
    return env


@pytest.mark.slow
def test_scores_of_real_posts_on_the_bundled_candles(env: dict[str, str]) -> None:
    result = _tsbot("provider", "score", "--posts", str(POSTS), "--exchange", "binance", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["exchange"] == "binance" and report["timeframe"] == "1h"
    assert report["settings"]["risk_per_trade_ratio"] == 0.01 and report["skipped_lines"] == []
    crypto, sentinel = report["providers"]
    assert (sentinel["provider"], sentinel["posts"], sentinel["signals"], sentinel["updates"]) == (
        "sentinel",
        9,
        7,
        2,
    )
    assert (sentinel["filled"], sentinel["wins"], sentinel["losses"]) == (5, 3, 2)
    assert sentinel["fill_rate"] == pytest.approx(5 / 6, abs=1e-4)  # REEF has no candles: not counted
    assert sentinel["no_data_symbols"] == ["REEF/USDT"]
    reasons = {t["post_id"]: (t["exit_reason"], t["targets_hit"]) for t in sentinel["trades"]}
    assert reasons == {
        "s-01": ("target", 8),  # ADA long: all eight targets
        "s-02": ("stop", 6),  # XRP short: six targets, then the stop (a net win)
        "s-03": ("stop", 0),  # BTC long: both entries, then the stop
        "s-04": ("no_data", 0),  # REEF: not among the bundled pairs
        "s-05": ("target", 8),  # BTC short
        "s-07": ("stop", 0),  # LINK short
        "s-08": ("not_filled", 0),  # LTC short: price already past the first target
    }
    btc = next(t for t in sentinel["trades"] if t["post_id"] == "s-03")
    # Limits at 42300 (04:00 bar, low 42026) and 41700 (05:00 bar, low 41670): average 42000; the 14:00 bar's
    # low of 41214.83 takes the stop at 41300. R = -700 / 700 - fees 0.04 % x (42000 + 41300) / 700.
    assert (btc["entry"], btc["exit"], btc["filled_at"], btc["exit_at"]) == (
        42000.0,
        41300.0,
        "2021-08-01T04:00:00Z",
        "2021-08-01T14:00:00Z",
    )
    assert btc["r"] == pytest.approx(-1 - 0.0004 * (42000 + 41300) / 700, abs=1e-4)
    assert (crypto["provider"], crypto["filled"], crypto["wins"], crypto["losses"]) == (
        "cryptobotcz",
        2,
        1,
        1,
    )
    total = report["total"]
    assert (total["signals"], total["filled"], total["wins"], total["no_data"]) == (9, 7, 4, 1)
    assert 0 < total["max_drawdown_ratio"] < 0.05 and total["total_return_ratio"] > 0
    assert len(sentinel["equity"]) == 6 and sentinel["equity"][0][1] == 1.0


@pytest.mark.slow
def test_table_html_provider_filter_and_bad_lines(env: dict[str, str], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    table = _tsbot(
        "provider", "score", "--posts", str(POSTS), "--exchange", "Binance", "--html", str(page), env=env
    )
    assert table.returncode == 0, table.stderr
    assert "Provider scores" in table.stdout and "sentinel" in table.stdout and "cryptobotcz" in table.stdout
    assert "no candles for REEF/USDT" in table.stdout and f"HTML report written to {page}" in table.stdout
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and "<polyline" in html and "<script" not in html
    assert "s-03" in html and "REEF/USDT" in html

    # Bad input: a cut JSON line, a post without posted_at, and one dated before the candles start.
    posts = tmp_path / "posts.jsonl"
    text = POSTS.read_text(encoding="utf-8")
    early = json.loads(text.splitlines()[2]) | {"id": "early", "posted_at": "2019-06-01T00:00:00Z"}
    posts.write_text(
        text
        + '{"id": "bad", "provider": "sentinel", "text": \n'
        + json.dumps({"id": "nodate", "provider": "sentinel", "text": "#BTC/USDT LONG"})
        + "\n"
        + json.dumps(early)
        + "\n",
        encoding="utf-8",
    )
    data_dir = env["TSBOT_DATA_DIR"]
    args = ("provider", "score", "--posts", str(posts), "--exchange", "binance")
    code, out, err = _in_process(*args, "--provider", "sentinel", "--json", data_dir=data_dir)
    assert code == 0, err
    report = json.loads(out)
    assert [p["provider"] for p in report["providers"]] == ["sentinel"]
    assert [(s["line"], s["provider"]) for s in report["skipped_lines"]] == [(12, None), (13, "sentinel")]
    assert "missing posted_at" in report["skipped_lines"][1]["reason"]
    assert "skipped line 12: not valid JSON" in err
    sentinel = report["providers"][0]
    assert sentinel["signals"] == 8 and sentinel["no_data"] == 2 and sentinel["filled"] == 5
    before = next(t for t in sentinel["trades"] if t["post_id"] == "early")
    assert before["exit_reason"] == "no_data" and "before the first candle" in before["note"]

    code, _, err = _in_process(*args, "--timeframe", "4h", data_dir=data_dir)
    assert code == 1 and "no binance 4h candles are stored" in err


def test_bad_arguments_exit_2_and_an_empty_store_says_to_import(tmp_path: Path) -> None:
    data_dir = str(tmp_path)
    args = ("provider", "score", "--exchange", "binance")
    code, _, err = _in_process(*args, "--posts", str(tmp_path / "nope.jsonl"), data_dir=data_dir)
    assert code == 2 and "does not exist" in err  # bad input: a missing posts file
    code, _, err = _in_process(*args, "--posts", str(POSTS), "--timeframe", "7m", data_dir=data_dir)
    assert code == 2 and "allowed" in err  # bad input: an unknown timeframe
    code, _, err = _in_process(*args, "--posts", str(POSTS), "--provider", "x", data_dir=data_dir)
    assert code == 2 and "providers: cryptobotcz, sentinel" in err  # bad input: a provider not in the file
    code, _, err = _in_process(*args, "--posts", str(POSTS), data_dir=data_dir)
    assert code == 1 and "tsbot data import" in err  # bad input: nothing stored yet
