"""``tsbot parse`` in a subprocess: JSON lines, =====-separated text, stdin, bad lines, --eval, the LLM fallback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.shared_data import require_shared_data
from tests.support.chat_server import ChatServer, answer

EXE = str(Path(sys.executable).with_name("tsbot"))
KEYS = ["id", "kind", "signal", "update", "confidence"]

STACKED = "#ATA/USDT\nLONG\nLeverage cross 20x\n\nENTRY:\n0.1235\n0.1225\n\nTAKE PROFIT\n0.1249\n0.1260\n\nSL: 0.1160"
TEMPLATE = (
    "Binance Futures\n#UMA/USDT Take-Profit target 4 ✅\nProfit: 112.3596% 📈\nPeriod: 1 Days 20 Hours ⏰"
)


def _tsbot(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, input=stdin, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    return base | {"TSBOT_DATA_DIR": str(tmp_path)}


def _lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_json_lines_file_gives_one_object_per_post_in_order(env: dict[str, str], tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text(
        "\n".join(
            json.dumps({"id": i, "text": t}) for i, t in [("p1", STACKED), ("p2", TEMPLATE), ("p3", "gm")]
        )
        + "\n",
        encoding="utf-8",
    )
    result = _tsbot("parse", str(posts), env=env)
    assert result.returncode == 0, result.stderr
    out = _lines(result.stdout)
    assert [o["id"] for o in out] == ["p1", "p2", "p3"]
    assert all(list(o) == KEYS for o in out)
    assert out[0]["kind"] == "signal"
    assert out[0]["signal"]["entry"] == [0.1235, 0.1225]
    assert out[0]["signal"]["entry_kind"] == "list"
    assert out[1]["update"] == {
        "symbol": "UMA/USDT",
        "event": "target_hit",
        "target_index": 4,
        "price": None,
        "profit_pct": 112.3596,
        "period": "1 Days 20 Hours",
    }
    assert out[2]["kind"] == "other"


def test_plain_text_from_stdin_split_by_separator_lines(env: dict[str, str]) -> None:
    result = _tsbot("parse", env=env, stdin=f"{STACKED}\n=====\n{TEMPLATE}\n==============================\n")
    assert result.returncode == 0, result.stderr
    out = _lines(result.stdout)
    assert [o["kind"] for o in out] == ["signal", "update"]
    assert [o["id"] for o in out] == ["1", "2"]


def test_small_prices_are_written_in_plain_notation(env: dict[str, str]) -> None:
    post = "PEPE/USDT\nSHORT\nEntry 0.0000065\nTarget 1 0.0000060\nSL 0.0000070"
    result = _tsbot("parse", env=env, stdin=json.dumps({"text": post}) + "\n")
    assert result.returncode == 0, result.stderr
    assert '"entry": [0.0000065]' in result.stdout
    assert not re.search(r"\de-\d", result.stdout)


def test_bad_lines_are_reported_and_nothing_else_is_lost(env: dict[str, str]) -> None:
    # Bad input tried: a line that is not JSON and an object without "text", between two good posts.
    lines = [
        json.dumps({"text": STACKED}),
        "{not json",
        json.dumps({"body": "x"}),
        json.dumps({"text": "hi"}),
    ]
    stdin = "\n".join(lines)
    result = _tsbot("parse", env=env, stdin=stdin + "\n")
    assert result.returncode == 1
    out = _lines(result.stdout)
    assert len(out) == 4
    assert out[0]["kind"] == "signal" and out[3]["kind"] == "other"
    assert "line 2: not JSON" in out[1]["error"]
    assert "string 'text'" in out[2]["error"]
    assert "line 2" in result.stderr


def test_missing_file_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    result = _tsbot("parse", str(tmp_path / "nope.jsonl"), env=env)
    assert result.returncode == 2
    assert "no such file" in result.stderr


@pytest.mark.shared_data
def test_eval_on_the_labelled_development_set(env: dict[str, str]) -> None:
    labelled = require_shared_data() / "telegram_signals" / "labeled_dev.jsonl"
    result = _tsbot("parse", "--eval", str(labelled), env=env | {"COLUMNS": "120"})
    assert result.returncode == 0, result.stderr
    figures = {
        line.split(":")[0].strip(): float(line.split(":")[1])
        for line in result.stdout.splitlines()
        if line.startswith(("kind accuracy", "whole-post exact match"))
    }
    print(figures)
    assert figures["kind accuracy"] >= 0.99
    assert figures["whole-post exact match"] >= 0.97


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer()
    try:
        yield server
    finally:
        server.close()


def test_unsure_posts_go_to_the_configured_language_model(
    env: dict[str, str], chat_server: ChatServer
) -> None:
    # An informal call the rules can only half read; the model's answer is checked against the text.
    post = "thinking about a long on #INJ near 21.5, targets 23 and 25, invalid below 20"
    chat_server.script(
        answer(
            json.dumps(
                {
                    "kind": "signal",
                    "signal": {
                        "symbol": "INJ",
                        "side": "long",
                        "entry": [21.5],
                        "entry_kind": "single",
                        "targets": [23, 25],
                        "stop": 20,
                        "leverage": None,
                        "margin": None,
                        "exchanges": [],
                    },
                    "update": None,
                }
            )
        )
    )
    llm_env = env | {
        "TSBOT_INTAKE__LLM__ENABLED": "true",
        "TSBOT_INTAKE__LLM__BASE_URL": chat_server.base_url,
        "TSBOT_INTAKE__LLM__MIN_CONFIDENCE": "0.99",
    }
    result = _tsbot("parse", env=llm_env, stdin=json.dumps({"id": "x", "text": post}) + "\n")
    assert result.returncode == 0, result.stderr
    out = _lines(result.stdout)[0]
    assert out["kind"] == "signal"
    assert out["signal"]["targets"] == [23, 25] and out["signal"]["stop"] == 20
    assert out["confidence"] <= 0.8
    assert len(chat_server.requests) == 1 and post in json.dumps(
        chat_server.requests[0].messages, ensure_ascii=False
    )

    # Switched off on the command line: no request, the rule reading is kept.
    result = _tsbot("parse", "--no-llm", env=llm_env, stdin=json.dumps({"id": "x", "text": post}) + "\n")
    assert result.returncode == 0, result.stderr
    assert len(chat_server.requests) == 1
