"""``tsbot serve --replay``, ``tsbot cycle`` and ``tsbot worker`` as a user runs them (real processes)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

EXE = str(Path(sys.executable).with_name("tsbot"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env.update(TSBOT_DATA_DIR=str(tmp_path), TSBOT_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", **extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_worker_without_a_broker_says_how_to_set_one(tmp_path: Path) -> None:
    """Bad input: no TSBOT_BROKER_URL."""
    done = subprocess.run([EXE, "worker"], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "TSBOT_BROKER_URL" in done.stdout + done.stderr


def test_worker_with_a_broker_url_of_another_scheme_is_refused(tmp_path: Path) -> None:
    """Bad input: TSBOT_BROKER_URL=http://..."""
    env = _env(tmp_path, TSBOT_BROKER_URL="http://127.0.0.1:5672/")
    done = subprocess.run([EXE, "worker"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "amqp://" in done.stdout + done.stderr


def test_cycle_on_an_empty_store_says_to_import_data(tmp_path: Path) -> None:
    """Bad input: a cycle with no candles stored."""
    done = subprocess.run([EXE, "cycle"], env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "tsbot data import" in done.stdout + done.stderr


@pytest.mark.slow
def test_serve_replay_imports_the_bundled_data_and_runs_cycles_on_the_replay_clock(tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [EXE, "serve", "--replay", "--speed", "3600", "--interval", "1", "--port", str(port)],
        env=_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        runs = 0.0
        while time.monotonic() < deadline and runs < 2:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
            try:
                metrics = httpx.get(f"{base}/api/v1/metrics", timeout=5).text
                found = re.search(r"^tsbot_cycle_runs_total (\S+)$", metrics, re.M)
                runs = float(found.group(1)) if found else 0.0
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert runs >= 2, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
        assert httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200
        assert httpx.get(f"{base}/dashboard", timeout=5).status_code == 200
        output = (tmp_path / "serve.log").read_text(errors="replace")
        assert "replay 2022-" in output  # the replay starts 80% through the bundled hourly history
        # each cycle ran as of the replay clock's time, not as of the latest stored candle
        assert re.search(r"cycle as of 2022-\d\d-\d\d \d\d:\d\d UTC: 17 monitored", output), output[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
