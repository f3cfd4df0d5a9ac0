"""``tsbot bot start|status|replay|pause|resume|stop`` on the bundled candles, in process (typer's runner) against a
real SQLite database in a temporary data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tsbot.apps.cli.main import app, expand_multi_value


def tsbot(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, expand_multi_value(args), env={"TSBOT_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tsbot")
    code, _, err = tsbot(folder, "data", "import", "--quiet")
    assert code == 0, err
    return folder


def status(data_dir: Path, name: str) -> dict[str, object]:
    code, out, err = tsbot(data_dir, "bot", "status", name, "--json")
    assert code == 0, err
    (bot,) = json.loads(out)
    return bot


def test_start_replay_and_the_lifecycle_of_a_bot(data_dir: Path) -> None:
    code, out, err = tsbot(
        data_dir, "bot", "start", "swinger", "--strategy", "swing", "--pairs", "BTC/USDT", "ETH/USDT",
        "--capital", "10000", "--risk-per-trade", "0", "--max-position", "1", "--max-daily-loss", "0",
    )  # fmt: skip
    assert code == 0, err
    assert "bot swinger running: swing on BTC/USDT, ETH/USDT 1h, capital 10000" in out
    bot = status(data_dir, "swinger")
    assert (bot["status"], bot["pairs"], bot["mode"]) == ("running", ["BTC/USDT", "ETH/USDT"], "paper")

    code, out, err = tsbot(
        data_dir, "bot", "replay", "swinger", "--start", "2022-07-01", "--end", "2022-09-01"
    )
    assert code == 0, err
    row = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()[:6] in ("trades",)}
    paper_trades, backtest_trades = (int(x) for x in row["trades"])
    assert paper_trades == backtest_trades > 0  # the paper bot and the backtest took the same trades
    assert "2,978 bars from 2022-07-01 00:00" in out  # two pairs x 62 days x 24 h (+ the end bar of each)
    events = status(data_dir, "swinger")["events"]
    assert any(e["kind"] == "replay" and f"{paper_trades} trades" in e["message"] for e in events)

    code, out, _ = tsbot(data_dir, "bot", "pause", "swinger", "--reason", "news day")
    assert code == 0 and "paused (news day)" in out
    # bad input: replaying a paused bot is refused with the reason
    code, _, err = tsbot(data_dir, "bot", "replay", "swinger")
    assert code == 1 and "is paused: resume it" in err
    assert tsbot(data_dir, "bot", "resume", "swinger")[0] == 0
    code, out, _ = tsbot(data_dir, "bot", "stop", "swinger")
    assert code == 0 and "stopped" in out
    # bad input: a stopped bot cannot come back
    code, _, err = tsbot(data_dir, "bot", "resume", "swinger")
    assert code == 1 and "stopped bot cannot be resumed" in err
    assert [e["kind"] for e in status(data_dir, "swinger")["events"]][:3] == ["status", "status", "status"]


def test_bad_bots_are_refused_with_every_reason(data_dir: Path) -> None:
    # bad input: an unknown strategy, a pair without a slash and no capital, all at once
    code, _, err = tsbot(
        data_dir, "bot", "start", "broken", "--strategy", "moonshot", "--pairs", "BTCUSDT", "--capital", "0"
    )
    assert code == 1
    assert "unknown strategy 'moonshot'" in err and "BTCUSDT" in err and "capital" in err
    # bad input: a bot name that does not exist
    code, _, err = tsbot(data_dir, "bot", "status", "ghost")
    assert code == 1 and "ghost" in err
    # bad input: the same name twice
    args = ("bot", "start", "twice", "--strategy", "fused", "--pairs", "BTC/USDT", "--capital", "500")
    assert tsbot(data_dir, *args)[0] == 0
    code, _, err = tsbot(data_dir, *args)
    assert code == 1 and "a bot named twice exists" in err
