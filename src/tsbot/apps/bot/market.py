"""Reading commands: ``/signals`` (the latest signal of each symbol on the user's watchlist), ``/signal BTC`` (the
latest signal of one symbol, explained), ``/alerts`` (the user's price alerts) and the last price of a symbol (free
text "price of BTC").

The watchlist is the user's own (tsbot → Signals → Watchlist); while it is empty the configured
``trading.watchlist`` stands in (empty too: every symbol with stored candles, as ``tsbot scan`` does), and the
answer says so. Signals are the stored ones
(:class:`~tsbot.adapters.storage.signal_queries.SqlSignalQueries`); the latest of a symbol is the newest ``as_of``
over its series (exchanges, timeframes).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Final

from telegram import Update
from telegram.ext import Application, CommandHandler

from tsbot.accounts.models import Permission, User
from tsbot.adapters.storage.signal_queries import SignalFilter, SqlSignalQueries
from tsbot.adapters.storage.watch import SqlPriceAlertStore, SqlWatchlistStore
from tsbot.apps.bot import symbols
from tsbot.apps.bot.context import BotContext, Context, for_linked, say
from tsbot.apps.bot.formatting import (
    alert_line,
    price,
    quote_of,
    signal_detail,
    signal_line,
    when,
    zone_of,
)
from tsbot.core.time import from_ms
from tsbot.signals.models import Signal
from tsbot.trading.paper_books import last_prices

#: Symbols listed by ``/signals`` at most, and series read for them.
MAX_SYMBOLS: Final = 30
MAX_SERIES: Final = 500
#: Alerts listed by ``/alerts`` at most.
MAX_ALERTS: Final = 20


def _rank(signal: Signal) -> tuple[datetime, int]:
    """Which of a symbol's signals is its latest: the newest ``as_of``, then the longer timeframe."""
    return signal.as_of, signal.key.timeframe.ms


async def watchlist_signals(bot: BotContext, user: User) -> str:
    """The ``/signals`` answer: the latest signal of each watched symbol, in watchlist order, times in the user's
    time zone."""
    services = bot.services
    mine = await SqlWatchlistStore(services.db).symbols(user.id)
    note = ""
    if not mine:
        known = await symbols.known(services)
        configured = services.settings.trading.watchlist
        mine = (
            [m for m in (known.match(t) for t in configured) if m is not None]
            if configured
            else list(known.symbols)
        )
        note = "Your watchlist is empty (tsbot → Signals → Watchlist): showing the default one.\n"
    if not mine:
        return note + "No symbols to show: no candles are stored yet."
    wanted = list(dict.fromkeys(mine))
    found, _ = await SqlSignalQueries(services.db).newest_per_series(
        SignalFilter(symbols=tuple(wanted[:MAX_SYMBOLS])), limit=MAX_SERIES
    )
    newest: dict[str, Signal] = {}
    for stored in found:
        signal = stored.signal
        best = newest.get(signal.key.symbol)
        if best is None or _rank(signal) > _rank(best):
            newest[signal.key.symbol] = signal
    if not newest:
        return note + f"No signals yet for {', '.join(wanted[:MAX_SYMBOLS])}."
    zone = zone_of(user)
    lines = [signal_line(newest[s], zone) for s in wanted if s in newest]
    if len(wanted) > MAX_SYMBOLS:
        lines.append(f"… and {len(wanted) - MAX_SYMBOLS} more symbols: see tsbot → Signals.")
    return note + "\n".join(lines) + "\nDetails: /signal SYMBOL"


async def symbol_signal(bot: BotContext, text: str, zone: tzinfo = UTC) -> str:
    """The ``/signal <text>`` answer: the newest signal of the symbol ``text`` names, explained (its time in
    ``zone``, the user's).

    Raises:
        NotFoundError: ``text`` names no known symbol.
    """
    known = await symbols.known(bot.services)
    symbol = known.resolve(text)
    found, _ = await SqlSignalQueries(bot.services.db).newest_per_series(SignalFilter(symbols=(symbol,)))
    if not found:
        return f"No signal for {symbol} yet: the next scan makes one."
    return signal_detail(max((s.signal for s in found), key=_rank), zone)


async def last_price(bot: BotContext, text: str, zone: tzinfo = UTC) -> str:
    """The last stored close of the symbol ``text`` names, with its bar's time in ``zone`` (the user's).

    Raises:
        NotFoundError: ``text`` names no known symbol.
    """
    known = await symbols.known(bot.services)
    symbol = known.tradable(known.resolve(text))
    last = (await last_prices(bot.services.candles, [symbol]))[symbol]
    key = last.series.key
    return (
        f"{symbol}: {price(last.price, quote_of(symbol))} (close of the {key.timeframe.value} bar of "
        f"{when(from_ms(last.open_ms), zone)} on {key.exchange})"
    )


async def user_alerts(bot: BotContext, user: User) -> str:
    """The ``/alerts`` answer: the user's price alerts, newest first."""
    alerts, total = await SqlPriceAlertStore(bot.services.db).page(user.id, limit=MAX_ALERTS)
    if not alerts:
        return "You have no price alerts. Set them in tsbot → Alerts."
    lines = [alert_line(a) for a in alerts]
    if total > len(alerts):
        lines.append(f"… and {total - len(alerts)} more in tsbot → Alerts.")
    return "\n".join(lines)


def register(application: Application, bot: BotContext) -> None:  # type: ignore[type-arg]
    """Add ``/signals``, ``/signal`` and ``/alerts`` to ``application``."""

    async def signals_command(update: Update, context: Context, user: User) -> None:
        await say(update, context, await watchlist_signals(bot, user))

    async def signal_command(update: Update, context: Context, user: User) -> None:
        text = " ".join(context.args or ()).strip()
        if not text:
            await say(update, context, "Which symbol? For example: /signal BTC")
            return
        await say(update, context, await symbol_signal(bot, text, zone_of(user)))

    async def alerts_command(update: Update, context: Context, user: User) -> None:
        await say(update, context, await user_alerts(bot, user))

    application.add_handler(
        CommandHandler("signals", for_linked(bot, Permission.READ_SIGNALS, signals_command))
    )
    application.add_handler(
        CommandHandler("signal", for_linked(bot, Permission.READ_SIGNALS, signal_command))
    )
    application.add_handler(CommandHandler("alerts", for_linked(bot, Permission.READ_MARKET, alerts_command)))
