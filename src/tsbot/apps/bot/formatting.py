"""How the Telegram bot writes things: plain text (no Markdown or HTML, so nothing a user or a provider wrote can
break a message), compact lines, every number with its unit.

Money and quantities are :class:`~decimal.Decimal` and written in plain notation with thousands separators
(``1,234.5 USDT``); cash figures of a portfolio are rounded to cents; signal prices (floats from the scan) to six
significant digits. Times are shown in the linked user's time zone (their profile's; UTC when none is set or the
stored name is no zone), written as notifications write them (:func:`tsbot.notify.templates.human_time`):
``2026-11-21 11:00 CET``, ``2026-11-21 10:00 UTC``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from tsbot.accounts.models import User
from tsbot.apps.desk import PortfolioView
from tsbot.notify.templates import human_time, time_zone
from tsbot.signals.alerts import PriceAlert
from tsbot.signals.models import Signal
from tsbot.trading.bots import Approval, BotConfig
from tsbot.trading.models import Order, OrderStatus, OrderType

#: Longest text Telegram takes in one message (characters).
MAX_MESSAGE_CHARS: Final = 4096
#: Reasons shown under a signal.
TOP_REASONS: Final = 3
_CENT: Final = Decimal("0.01")


def num(value: Decimal | float | int, places: int | None = None) -> str:
    """``value`` in plain notation with thousands separators and no trailing zeros (``1,234.5``); rounded half-even
    to ``places`` decimals when given. Floats go through ``repr`` so 0.1 stays 0.1."""
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        return str(number)
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    text = format(number.normalize(), ",f")
    return "0" if text in ("-0", "+0") else text


def price(value: Decimal | float, unit: str) -> str:
    """A price to six significant digits with its unit: ``64,123.5 USDT``, ``0.0000123457 USDT``."""
    number = Decimal(repr(value)) if isinstance(value, float) else value
    rounded = Decimal(f"{number:.6g}") if number.is_finite() else number
    return f"{num(rounded)} {unit}".rstrip()


def cash(value: Decimal, unit: str, *, signed: bool = False) -> str:
    """A cash figure rounded to cents with its unit (``1,234.50 USDT``); ``signed`` adds ``+`` to gains."""
    rounded = value.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    text = format(rounded, ",f")
    if signed and rounded > 0:
        text = "+" + text
    return f"{text} {unit}"


def pct(ratio: float) -> str:
    """A ratio in [0, 1] as whole percent: ``0.714`` -> ``71%``."""
    return f"{ratio * 100:.0f}%"


def zone_of(user: User | None) -> tzinfo:
    """The time zone ``user`` reads times in: their profile's IANA zone; UTC for no user, no zone set, or a stored
    name that is no zone (:func:`tsbot.notify.templates.time_zone`, as notifications resolve it)."""
    return time_zone(None if user is None else user.preferences.time_zone)


def when(at: datetime, zone: tzinfo = UTC) -> str:
    """An aware time in ``zone``, to the minute, with the zone's abbreviation: ``2026-11-21 10:00 UTC``,
    ``2026-11-21 11:00 CET`` (:func:`tsbot.notify.templates.human_time`)."""
    return human_time(at, zone)


def clip(text: str) -> str:
    """``text`` cut to :data:`MAX_MESSAGE_CHARS` (ending in ``…`` when cut)."""
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def quote_of(symbol: str) -> str:
    """The quote currency of ``BASE/QUOTE``; ``USD`` for a bare stock ticker."""
    return symbol.partition("/")[2] or "USD"


def signal_line(signal: Signal, zone: tzinfo = UTC) -> str:
    """One compact line: ``BTC/USDT 1h binance: BUY score +0.62, conf 71%, 64,123.5 USDT (2026-11-21 10:00 UTC)``,
    the time in ``zone``."""
    k = signal.key
    return (
        f"{k.symbol} {k.timeframe.value} {k.exchange}: {signal.action.value} score {signal.score:+.2f}, "
        f"conf {pct(signal.confidence)}, {price(signal.price, quote_of(k.symbol))} ({when(signal.as_of, zone)})"
    )


def signal_detail(signal: Signal, zone: tzinfo = UTC) -> str:
    """The signal explained: action, score, confidence, price, stop, targets and the top reasons; its time in
    ``zone``."""
    k, unit = signal.key, quote_of(signal.key.symbol)
    lines = [
        f"{k.symbol}: {signal.action.value}",
        f"{k.exchange} {k.timeframe.value}, as of {when(signal.as_of, zone)}",
        f"score {signal.score:+.2f} (-1 to +1), confidence {pct(signal.confidence)}",
        f"price {price(signal.price, unit)}",
    ]
    if signal.stop_loss is not None:
        lines.append(f"stop {price(signal.stop_loss, unit)}")
    if signal.take_profit:
        lines.append("targets " + ", ".join(price(t, unit) for t in signal.take_profit))
    if signal.reasons:
        lines.append("why:")
        lines.extend(f"• {r}" for r in signal.reasons[:TOP_REASONS])
    return "\n".join(lines)


def portfolio_text(view: PortfolioView) -> str:
    """A portfolio's figures in its base currency: equity, cash, positions, P&L, fees."""
    v, base = view.valuation, view.valuation.base_currency
    lines = [
        f"{view.info.name} (paper, {base})",
        f"equity {cash(v.equity, base)}",
        f"cash {cash(v.cash, base)} · positions {cash(v.positions_value, base)} ({len(v.holdings)})",
        f"P&L unrealised {cash(v.unrealised_pnl, base, signed=True)} · realised "
        f"{cash(v.realised_pnl, base, signed=True)} · fees {cash(v.fees, base)}",
    ]
    if view.unvalued:
        lines.append("not valued (no rate to " + base + "): " + ", ".join(view.unvalued))
    return "\n".join(lines)


def positions_text(views: Sequence[PortfolioView]) -> str:
    """Open positions of every portfolio: quantity, average entry, last close, unrealised P&L."""
    lines: list[str] = []
    for view in views:
        for hv in view.valuation.holdings:
            h, unit = hv.holding, quote_of(hv.holding.symbol)
            entry = "?" if h.avg_entry is None else price(h.avg_entry, unit)
            lines.append(
                f"{h.symbol} {num(h.qty)} @ {entry}, last {price(hv.price, unit)}, "
                f"P&L {cash(hv.unrealised_pnl, view.valuation.base_currency, signed=True)} ({view.info.name})"
            )
    return "\n".join(lines) if lines else "No open positions."


def order_text(order: Order) -> str:
    """One order: ``BUY 0.1 BTC/USDT limit 42,000 USDT: open, filled 0 (tsb-...)``."""
    r = order.request
    unit = quote_of(r.symbol)
    what = f"{r.side.value.upper()} {num(r.qty)} {r.symbol}"
    if r.quote_qty is not None and r.order_type is OrderType.MARKET:
        what = f"{r.side.value.upper()} {num(r.quote_qty)} {unit} of {r.symbol}"
    how = {
        OrderType.MARKET: "at market",
        OrderType.LIMIT: f"limit {price(r.price, unit)}" if r.price is not None else "limit",
        OrderType.STOP: f"stop {price(r.stop_price, unit)}" if r.stop_price is not None else "stop",
        OrderType.STOP_LIMIT: "stop-limit",
    }[r.order_type]
    status = order.status.value.replace("_", " ")
    if order.filled_qty > 0 and order.avg_fill_price is not None:
        status += f", {num(order.filled_qty)} at {price(order.avg_fill_price, unit)}"
        if order.fees:
            status += f", fees {num(order.fees)}"
    if order.status is OrderStatus.REJECTED and order.history:
        status += f" ({order.history[-1].reason})"
    return f"{what} {how}: {status} ({r.client_order_id})"


def orders_text(orders: Iterable[Order]) -> str:
    """Orders, one per line; ``No orders yet.`` for none."""
    lines = [order_text(o) for o in orders]
    return "\n".join(lines) if lines else "No orders yet."


def alert_line(alert: PriceAlert) -> str:
    """``BTC/USDT above 70,000 (active, repeats): note``."""
    state = "active" if alert.active else "done"
    if alert.repeat:
        state += ", repeats"
    if alert.trigger_count:
        state += f", fired {alert.trigger_count}x"
    note = f": {alert.note}" if alert.note else ""
    return f"{alert.symbol} {alert.condition.value} {num(alert.price)} ({state}){note}"


def approval_text(approval: Approval, bot: BotConfig | None, zone: tzinfo = UTC) -> str:
    """A proposed order for a person to decide: the summary and when it expires (in ``zone``)."""
    who = f"bot {bot.name}" if bot is not None else "proposed"
    return f"{who}: {approval.summary}\nexpires {when(approval.expires_at, zone)}"
