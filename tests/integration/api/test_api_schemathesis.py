"""schemathesis over the whole OpenAPI schema of a real ``tsbot api`` server, as a signed-in administrator (every
permission, so every route runs its code): no answer is a 5xx, and every answer matches the schema (status codes,
content types, bodies). The database holds the bundled candles, so market routes answer with data.

One deterministic pass (fixed seed, no time budget): the examples, every coverage case and up to
``MAX_EXAMPLES`` fuzzed cases per operation. The database is filled in this process (bundled import, the admin)
rather than by two more ``tsbot`` processes.

Runs on PostgreSQL when one answers (always in CI), else on SQLite. Marked slow (about a minute).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from tests.integration.api.test_api_cli import EXE, Server

from tsbot.accounts.models import OPERATOR, Role
from tsbot.apps.cli.data import import_bundled
from tsbot.config import load_settings
from tsbot.wiring import open_services

ADMIN = "fuzz-admin@example.com"
PASSWORD = "correct horse battery staple 42"
#: Paths left out: ending the run's own session (DELETE) would leave the rest of the run signed out (so would
#: the admin routes on the administrator's own account: left out by tests/support/schemathesis_hooks.py).
EXCLUDED_PATHS = ("/api/v1/me/session",)
ROOT = Path(__file__).resolve().parents[3]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
#: Fuzzed cases per operation (the coverage phase's cases come on top).
MAX_EXAMPLES = 15
#: Seconds the whole pass may take before the test fails (it takes about a minute).
RUN_TIMEOUT_S = 600


@pytest.fixture
def fuzz_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url: str | None = request.getfixturevalue("pg_database_url")
    return url or f"sqlite+aiosqlite:///{tmp_path / 'fuzz.sqlite'}"


async def _fill(database_url: str, data_dir: Path) -> None:
    """The bundled candles and headlines (what ``tsbot data import`` loads) and the administrator."""
    settings = load_settings(database_url=database_url, data_dir=data_dir)
    await import_bundled(settings, show_progress=False)
    async with open_services(settings) as services:
        await services.accounts().create_user(OPERATOR, ADMIN, PASSWORD, Role.ADMIN)


@pytest.fixture
def server(fuzz_database: str, tmp_path: Path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env |= {
        "TSBOT_DATABASE_URL": fuzz_database,
        "TSBOT_DATA_DIR": str(tmp_path),
        "TSBOT_LOG_LEVEL": "WARNING",
        "TSBOT_API__REQUESTS_PER_HOUR": "1000000",
        "TSBOT_API__ORDERS_PER_HOUR": "1000000",
        "TSBOT_SECURITY__ENCRYPTION_KEYS": f'["{Fernet.generate_key().decode()}"]',
    }
    asyncio.run(_fill(fuzz_database, tmp_path))
    started = Server([], env, tmp_path / "api.log")
    try:
        started.wait_healthy()
        yield started
    finally:
        started.stop()


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(server: Server, tmp_path: Path) -> None:
    login = httpx.post(
        f"{server.base}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = httpx.get(f"{server.base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    env = os.environ | {
        "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        "TSBOT_FUZZ_ADMIN_ID": me.json()["id"],
    }
    args = [
        str(Path(EXE).with_name("schemathesis")),
        "run",
        f"{server.base}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--request-timeout",
        "30",
        "--seed",
        "20261121",
        "--no-color",
        "--suppress-health-check",
        "all",
    ]
    for path in EXCLUDED_PATHS:
        args += ["--exclude-path", path]
    done = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    server_errors = [line for line in server.log.read_text().splitlines() if "error" in line.lower()]
    report = done.stdout[-12_000:] + done.stderr[-3_000:] + "\nserver:\n" + "\n".join(server_errors[-40:])
    assert done.returncode == 0, report
    assert "passed" in done.stdout.lower(), report
    # the run's own session lasted to its end (tests/support/schemathesis_hooks.py): every call ran signed in, as
    # the administrator, not as an anonymous caller
    me = httpx.get(f"{server.base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 200, me.text
