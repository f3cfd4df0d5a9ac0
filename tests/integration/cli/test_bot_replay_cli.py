"""``tsbot bot replay`` of a follow bot on a real database (SQLite file and PostgreSQL): the followed provider's
tracked signals posted in the window are handed to the bot over the stored candles; the one whose entry zone holds
the price is traded, the other is skipped with its reason; there is no backtest of a follow bot (JSON null).

Bad input tried: a window in which the provider posted nothing on the bot's pairs, a provider with no tracked
signal at all, and a signal posted before the window (not followed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from tests.integration.cli.conftest import Invoke, store_candles

from tsbot.intake.models import EntryKind, Side, TradeIntent
from tsbot.intake.tracking import SignalTracker
from tsbot.market.models import Timeframe
from tsbot.wiring import Services

T0 = datetime(2026, 1, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)
# hourly BTC/USDT bars from T0 (open = close, high +1 %, low -1 %): flat at 100, then up to 110
CLOSES = [100.0, 100.0, 100.0, 101.0, 104.0, 106.0, 110.0, 110.0, 110.0, 110.0]


def zone(low: int, high: int, stop: int, target: int) -> TradeIntent:
    return TradeIntent("BTCUSDT", Side.LONG, (D(low), D(high)), EntryKind.ZONE, (D(target),), D(stop))


def start_follow_bot(tsbot: Invoke, name: str, provider: str) -> None:
    started = tsbot(
        "bot", "start", name, "--strategy", "follow", "--provider", provider, "--pairs", "BTC/USDT",
        "--capital", "10000", "--risk-per-trade", "0", "--max-position", "0.5", "--max-daily-loss", "0",
    )  # fmt: skip
    assert started.exit_code == 0, started.stderr


def test_a_follow_bot_is_replayed_on_its_providers_tracked_signals(
    tsbot: Invoke, with_services: Callable[..., object]
) -> None:
    async def stored(services: Services) -> list[str]:
        await store_candles(services, "binance", "BTC/USDT", Timeframe.H1, T0, CLOSES)
        tracker = SignalTracker(services.tracked_signals)
        # bad input: posted before the window (a market entry): it must not be followed
        early = TradeIntent("BTC/USDT", Side.LONG, targets=(D(120),), stop=D(80))
        await tracker.record_signal("alpha", "p0", early, T0 + HOUR / 2)
        inside = await tracker.record_signal("alpha", "p1", zone(98, 102, 90, 105), T0 + 2.5 * HOUR)
        # bad input: an entry zone the price never reaches
        above = await tracker.record_signal("alpha", "p2", zone(150, 160, 140, 170), T0 + 6.5 * HOUR)
        return [str(inside.id), str(above.id)]

    inside, above = with_services(stored)  # type: ignore[misc]
    start_follow_bot(tsbot, "copycat", "alpha")
    window = ("--start", "2026-01-05T02:00", "--end", "2026-01-05T09:00")
    done = tsbot("bot", "replay", "copycat", *window, "--json")
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["backtest"] is None  # no strategy: nothing to backtest
    assert report["bars"] == 8  # 02:00 to 09:00
    # p1 (02:30) at the 03:00 close of 100, inside 98-102: 5000 USDT (half the capital) at the 03:00 bar's open of
    # 101 with the 0.1 % taker fee buys 49.455495 BTC; its take-profit sells them at 105 in the 04:00 bar (2 bps
    # maker fee): 4 x 49.455495 - 4.995 - 1.0386
    assert report["paper"] == {"trades": 1, "equity": "10191.79", "pnl": "191.79"}
    follows = report["follows"]
    assert (follows["provider"], follows["signals"]) == ("alpha", 2)
    assert follows["skipped"] == [
        f"alpha signal {above} skipped: the price 110 is outside the entry zone 150-160"
    ]
    assert report["orders"] == 3  # the entry, its take-profit and the stop-loss that one cancelled; not p0

    status = tsbot("bot", "status", "copycat", "--json")
    events = json.loads(status.stdout)[0]["events"]
    assert any(e["kind"] == "note" and f"alpha signal {above} skipped" in e["message"] for e in events)
    assert any(e["kind"] == "replay" and "1 trades" in e["message"] for e in events)

    console = tsbot("bot", "replay", "copycat", *window)
    assert console.exit_code == 0, console.stderr
    assert "n/a" in console.stdout and "followed 2 signal(s) of alpha, 1 skipped" in console.stdout
    assert f"alpha signal {above} skipped: the price 110" in console.stdout
    assert f"alpha signal {inside}" not in console.stdout  # traded, not skipped

    # bad input: a window in which the provider posted nothing on the bot's pairs
    quiet = tsbot("bot", "replay", "copycat", "--start", "2026-01-05T07:00", "--end", "2026-01-05T09:00")
    said = " ".join(quiet.stderr.split())  # the error console wraps long lines
    assert quiet.exit_code == 1 and quiet.stdout == ""
    assert (
        "bot copycat has nothing to follow: provider alpha posted no tracked signal on BTC/USDT between "
        "2026-01-05 07:00 and 2026-01-05 10:00 UTC; its 3 signal(s) on them were posted from 2026-01-05 00:30 to "
        "2026-01-05 06:30 UTC: choose a window with --start and --end"
    ) in said


def test_a_follow_bot_whose_provider_has_no_signals_is_refused_with_the_reason(
    tsbot: Invoke, with_services: Callable[..., object]
) -> None:
    async def stored(services: Services) -> None:
        await store_candles(services, "binance", "BTC/USDT", Timeframe.H1, T0, CLOSES)
        eth = TradeIntent("ETH/USDT", Side.LONG, targets=(D(2100),), stop=D(1900))
        await SignalTracker(services.tracked_signals).record_signal("beta", "b1", eth, T0 + 3 * HOUR)

    with_services(stored)
    # bad input: a provider nothing was ever tracked for, and one that only posts on another pair
    start_follow_bot(tsbot, "ghostly", "ghost")
    start_follow_bot(tsbot, "wrong-pair", "beta")
    ghost = tsbot("bot", "replay", "ghostly", "--json")
    assert ghost.exit_code == 1 and ghost.stdout == ""
    assert "no signal of ghost is tracked yet" in " ".join(ghost.stderr.split())
    other = tsbot("bot", "replay", "wrong-pair")
    assert other.exit_code == 1 and "its 1 tracked signal(s) are on ETH/USDT" in " ".join(
        other.stderr.split()
    )
    status = tsbot("bot", "status", "ghostly", "--json")
    assert [e["kind"] for e in json.loads(status.stdout)[0]["events"]] == []  # nothing was replayed or stored
