"""The world the browser tests run in: bundled candles and headlines, an hourly signal history, scored signal
providers and users, stored through the services as the CLI and the monitoring cycle store them.

The crypto series end at :data:`END` (the bundled headlines end the day before, so signals carry news sentiment),
except one series, the *live* one, whose last bars are held back: :func:`find_pending_change` replays the live
symbol's signals over the last :data:`HISTORY_HOURS` in a scratch database and picks the last hour at which its
action changes, so storing that one bar and scanning it in a test is a real status change (what the monitoring
cycle does when a bar closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from tsbot.accounts.messages import MessageService
from tsbot.accounts.models import OPERATOR, Identity, Role, permissions_of
from tsbot.adapters.bundled import bundled_series, read_bundled_headlines, read_bundled_rows
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.messages import SqlMessageStore
from tsbot.adapters.storage.watch import SqlWatchlistStore
from tsbot.apps.api.auth import accounts_of_app
from tsbot.config import load_settings
from tsbot.core.time import utc_now
from tsbot.intake.models import EntryKind, Side, TradeIntent
from tsbot.intake.tracking import SignalTracker
from tsbot.market.models import SeriesKey
from tsbot.market.service import import_candles
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.sentiment.default_model import load_default_model
from tsbot.sentiment.models import Headline
from tsbot.sentiment.service import import_headlines
from tsbot.wiring import Services, open_services

#: Close time of the last bundled crypto bar the tests store (the bundled headlines end on 2022-07-05).
END = datetime(2022, 7, 6, 12, tzinfo=UTC)
CRYPTO = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT")
STOCKS = ("AAPL",)
#: Bars stored per series: the scan's 500-bar lookback plus the hours of history.
BARS = 700
#: Hours of hourly signal history stored before the tests start.
HISTORY_HOURS = 36
#: The symbols tried, in order, for the live status change.
LIVE_CANDIDATES = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
HOUR = timedelta(hours=1)
HOUR_MS = 3_600_000
PASSWORD = "correct horse battery staple 42"


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
    "viewer": Person("val@example.com", "Val Viewer", Role.VIEWER),
}


@dataclass(frozen=True)
class PendingChange:
    """The bar held back from the live series, and the change storing it makes."""

    key: SeriesKey
    asset_class: str
    bar: np.ndarray
    from_action: str
    to_action: str

    @property
    def closes_at(self) -> datetime:
        return datetime.fromtimestamp((int(self.bar[0, 0]) + HOUR_MS) / 1000, tz=UTC)


def _rows() -> dict[str, tuple[SeriesKey, str, np.ndarray]]:
    """The stored rows of each series: crypto up to :data:`END`, stocks their newest :data:`BARS`."""
    out = {}
    end_ms = int(END.timestamp() * 1000)
    for item in bundled_series():
        symbol = item.key.symbol
        if symbol not in CRYPTO and symbol not in STOCKS:
            continue
        rows = read_bundled_rows(item)
        if symbol in CRYPTO:
            rows = rows[rows[:, 0] + item.key.timeframe.ms <= end_ms]
        out[symbol] = (item.key, item.asset_class.value, rows[-BARS:])
    return out


def _headlines() -> list[Headline]:
    return [h for h in read_bundled_headlines() if END - timedelta(days=10) <= h.published_at <= END]


async def find_pending_change(scratch: Path) -> PendingChange:
    """Replay the candidates' hourly signals over the last :data:`HISTORY_HOURS` in a scratch database and pick
    the latest hour at which one of them changes action (the first candidate that has one).

    Raises:
        AssertionError: no candidate changes action in that window (the bundled data or the signal rules changed:
            widen the window or add candidates).
    """
    rows = _rows()
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{scratch / 'probe.sqlite'}", data_dir=scratch)
    async with open_services(settings) as services:
        await import_headlines(services.headlines, load_default_model(), _headlines())
        for symbol in LIVE_CANDIDATES:
            key, asset_class, series = rows[symbol]
            await import_candles(services.candles, key, asset_class, series)
        times = [END - HOUR * i for i in range(HISTORY_HOURS, -1, -1)]
        actions: dict[str, list[str]] = {s: [] for s in LIVE_CANDIDATES}
        for at in times:
            result = await services.scan_service().scan(list(LIVE_CANDIDATES), as_of=at, store=False)
            for signal in result.signals:
                actions[signal.key.symbol].append(signal.action.value)
    for symbol in LIVE_CANDIDATES:
        seen = actions[symbol]
        for i in range(len(seen) - 1, 12, -1):  # keep at least 12 hours of history before the change
            if seen[i] != seen[i - 1]:
                key, asset_class, series = rows[symbol]
                held = len(times) - i  # bars closing at times[i:] are held back
                return PendingChange(key, asset_class, series[-held:][:1], seen[i - 1], seen[i])
    raise AssertionError(f"no action change in the last {HISTORY_HOURS} h of {LIVE_CANDIDATES}: {actions}")


async def seed(services: Services, pending: PendingChange) -> None:
    """Store the candles (the live series without its held-back bars), the headlines, the hourly signal
    history and the providers' tracked signals."""
    rows = _rows()
    for key, asset_class, series in rows.values():
        if key == pending.key:
            series = series[series[:, 0] < pending.bar[0, 0]]
        await import_candles(services.candles, key, asset_class, series)
    await import_headlines(services.headlines, load_default_model(), _headlines())
    for i in range(HISTORY_HOURS, -1, -1):
        await services.scan_service().scan(list(CRYPTO), as_of=END - HOUR * i)
    await services.scan_service().scan(list(STOCKS))
    await _providers(services, rows)


async def _providers(services: Services, rows: dict[str, tuple[SeriesKey, str, np.ndarray]]) -> None:
    """Three signal channels with a few posts each, priced from the stored candles (replayed by the API)."""
    tracker = SignalTracker(services.tracked_signals)
    plans = {
        "Alpha Signals": [
            ("BTC/USDT", Side.LONG, 240),
            ("ETH/USDT", Side.LONG, 200),
            ("SOL/USDT", Side.LONG, 150),
        ],
        "Moon Desk": [
            ("XRP/USDT", Side.LONG, 300),
            ("BNB/USDT", Side.LONG, 180),
            ("BTC/USDT", Side.LONG, 90),
        ],
        "Bear Cave": [("ETH/USDT", Side.SHORT, 260), ("SOL/USDT", Side.SHORT, 120)],
    }
    for provider, posts in plans.items():
        for n, (symbol, side, bars_back) in enumerate(posts):
            _, _, series = rows[symbol]
            bar = series[-bars_back]
            close = Decimal(str(round(float(bar[4]), 4)))
            sign = Decimal(1) if side is Side.LONG else Decimal(-1)
            targets = tuple(close * (1 + sign * Decimal(p)) for p in ("0.015", "0.03", "0.05"))
            intent = TradeIntent(
                symbol, side, (close,), EntryKind.SINGLE, targets, close * (1 - sign * Decimal("0.025"))
            )
            posted = datetime.fromtimestamp(int(bar[0]) / 1000, tz=UTC)
            await tracker.record_signal(provider, f"{provider[:4].lower()}-{n}", intent, posted)


async def create_people(services: Services, app: object) -> dict[str, str]:
    """The users of :data:`PEOPLE` (email confirmed, password :data:`PASSWORD`), their watchlists, two messages
    users sent to the admins and a welcome notification for the trader; returns each person's user id."""
    accounts = accounts_of_app(app)  # type: ignore[arg-type]
    watch = SqlWatchlistStore(services.db)
    users = {}
    for name, person in PEOPLE.items():
        users[name] = await accounts.create_user(
            OPERATOR, person.email, PASSWORD, person.role, display_name=person.display_name
        )
        for symbol in person.watchlist:
            await watch.add(users[name].id, symbol)
    messages = MessageService(SqlMessageStore(services.db), SqlUserStore(services.db))
    for who, subject, body in (
        (
            "viewer",
            "Trader role",
            "Could I get the trader role? I would like to try paper trading the BTC signals.",
        ),
        (
            "trader",
            "Stocks in the watchlist",
            "Are daily signals for more US stocks planned? AAPL works well.",
        ),
    ):
        user = users[who]
        sender = Identity(user, permissions_of(user.role))
        await messages.contact_admins(sender, subject, body)
    welcome = NotificationRequest(
        users["trader"].id,
        NotificationType.SYSTEM,
        "welcome",
        {
            "title": "Welcome to tsbot",
            "message": "Your watchlist is set up: 5 crypto pairs.",
            "severity": "info",
        },
    )
    notifications = services.notifications()
    await notifications.enqueue([welcome], now=utc_now())
    await notifications.dispatch(now=utc_now())
    return {name: user.id for name, user in users.items()}
