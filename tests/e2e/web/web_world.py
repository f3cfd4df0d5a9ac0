"""The world the browser tests run in: ``tsbot serve --replay`` over a fresh SQLite database (serve imports the
bundled candles and headlines itself), the administrator made with ``tsbot user create`` and the other users by
the administrator, and their watchlists, paper book and messages to the admins set through the running server's API,
as a user would.

The replay clock moves an hour of the bundled hourly history per cycle, so the signals the dashboards show are the
ones the monitoring cycle stores as it goes, and their status changes are pushed live.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tsbot.accounts.models import Role
from tsbot.adapters.bundled import bundled_series
from tsbot.market.models import Timeframe

#: The ``tsbot`` command of this environment.
EXE = str(Path(sys.executable).with_name("tsbot"))
PASSWORD = "correct horse battery staple 42"
#: The bundled hourly crypto pairs: their signals change every few replayed hours.
CRYPTO = tuple(
    s.key.symbol
    for s in bundled_series()
    if s.asset_class.value == "crypto" and s.key.timeframe is Timeframe.H1
)


@dataclass(frozen=True)
class Person:
    """A user the tests sign in as."""

    email: str
    display_name: str
    role: Role
    watchlist: tuple[str, ...] = ()


PEOPLE = {
    "admin": Person("ada@example.com", "Ada Admin", Role.ADMIN),
    "trader": Person("tom@example.com", "Tom Trader", Role.TRADER, CRYPTO),
    "newcomer": Person("nina@example.com", "Nina Newcomer", Role.TRADER, ("BTC/USDT", "ETH/USDT")),
    "leaver": Person("leo@example.com", "Leo Leaver", Role.TRADER, ("BTC/USDT", "SOL/USDT")),
}


def serve_env(data_dir: Path) -> dict[str, str]:
    """The environment of the ``tsbot`` processes: this one's without any ``TSBOT_*`` variable, plus a data folder
    (the SQLite database lives there) and warnings-only logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSBOT_")}
    env.update(TSBOT_DATA_DIR=str(data_dir), TSBOT_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    return env


def create_users(env: dict[str, str], base_url: str, timeout_s: float = 120) -> None:
    """Create everyone in :data:`PEOPLE`, as an operator and an administrator would: the administrator with
    ``tsbot user create EMAIL --role admin --name NAME --password-stdin``, the others by that administrator
    through the running server's API (``POST /admin/users``).

    Raises:
        AssertionError: the command failed (its output is in the message).
        httpx.HTTPStatusError: the server refused a user.
    """
    admin = PEOPLE["admin"]
    assert admin.role is Role.ADMIN
    args = [EXE, "user", "create", admin.email, "--role", admin.role.value]
    args += ["--name", admin.display_name, "--password-stdin"]
    done = subprocess.run(
        args, env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=timeout_s, check=False
    )
    assert done.returncode == 0, f"{admin.email}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    with signed_in(base_url, "admin") as api:
        for person in PEOPLE.values():
            if person is admin:
                continue
            body = {
                "email": person.email,
                "password": PASSWORD,
                "role": person.role.value,
                "display_name": person.display_name,
            }
            api.post("/admin/users", json=body).raise_for_status()


@contextmanager
def signed_in(base_url: str, who: str) -> Iterator[httpx.Client]:
    """An API client (base ``<base_url>/api/v1``) signed in as ``who`` (a key of :data:`PEOPLE`)."""
    with httpx.Client(base_url=base_url + "/api/v1", timeout=20) as api:
        login = api.post("/auth/login", json={"email": PEOPLE[who].email, "password": PASSWORD})
        login.raise_for_status()
        api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield api


def set_up_accounts(base_url: str) -> None:
    """Through the API: each person's watchlist, a funded paper portfolio for the trader with three filled buys and a
    resting limit order, and two messages to the admins."""
    for who, person in PEOPLE.items():
        if not person.watchlist:
            continue
        with signed_in(base_url, who) as api:
            answer = api.put("/signals/watchlist", json={"symbols": list(person.watchlist)})
            answer.raise_for_status()
            assert answer.json()["symbols"] == list(person.watchlist)
    with signed_in(base_url, "trader") as api:
        made = api.post("/portfolios", json={"name": "Swing book", "base_currency": "USD"})
        made.raise_for_status()
        pid = made.json()["portfolio_id"]
        api.post(f"/portfolios/{pid}/deposit", json={"asset": "USDT", "amount": "25000"}).raise_for_status()
        orders = [
            {"symbol": "BTC/USDT", "quantity": "0.25"},
            {"symbol": "ETH/USDT", "quantity": "3"},
            {"symbol": "SOL/USDT", "quantity": "60"},
            {"symbol": "ETH/USDT", "quantity": "1", "type": "limit", "price": "500"},
        ]
        for order in orders:
            api.post("/orders", json={"portfolio_id": pid, "side": "buy", **order}).raise_for_status()
        api.post(
            "/messages/admins",
            json={
                "subject": "Stocks in the watchlist",
                "body": "Are hourly signals for US stocks planned? The daily AAPL ones work well.",
            },
        ).raise_for_status()
    with signed_in(base_url, "newcomer") as api:
        api.post(
            "/messages/admins",
            json={
                "subject": "Paper trading",
                "body": "Could the paper account start with more than $10,000? I would like to try the BTC signals.",
            },
        ).raise_for_status()
