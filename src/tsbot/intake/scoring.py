"""Provider scoring: replay a signal channel's posts over candles ("backtest this channel before you follow it").

Rules of the replay (one trade per signal post, no look-ahead):

* **Start.** The first bar used is the first bar whose open time is strictly after ``posted_at``: the bar that
  contains the post is skipped, since nobody knows where in that bar the post came.
* **Entries.** ``MARKET`` fills at the open of the first bar. ``SINGLE``, ``LIST`` and ``ZONE`` are limit orders:
  a long entry price ``p`` fills in a bar whose low is ``<= p``, at ``min(open, p)`` (a bar that opens through the
  price fills at its open); shorts mirror this. ``LIST`` and ``ZONE`` (its two edges) split the position into equal
  base quantities, one per price; the fill price is their average. Orders still open are cancelled when the first
  take-profit is hit or ``entry_expiry_hours`` after the post. A signal whose first take-profit is reached before
  any entry fills is cancelled (``not_filled``), as Cornix cancels it.
* **Exits.** Equal fractions of the filled quantity close at each take-profit (Cornix's default); a bar that
  opens beyond a take-profit closes that fraction at its open. The stop stays where the post put it after the
  first take-profit (no break-even move). The stop closes all that is left, at the stop or at the open when the bar
  opens through it. When one bar touches both the stop and a take-profit, the stop is taken (the conservative
  rule). In a bar where an entry order fills inside the bar, take-profits are checked from the next bar on, since
  the bar's high (low for shorts) may have come before the fill; the stop is checked in that bar.
* **Time.** A trade still open ``max_hold_hours`` after its fill bar opened closes at the close of the bar that
  ends at or after that time (``timeout``); one still open when the candles end closes at the last close
  (``end_of_data``).
* **No stop.** A signal without a stop has no stop exit; its R uses a risk of :data:`NO_STOP_RISK_RATIO` (a 10 %
  adverse move from the average entry), so its losses can exceed 1 R. Such signals are counted.
* **R and fees.** ``fee_ratio`` of the notional is paid on every fill, entries and exits. The R of a trade is its
  profit net of fees divided by ``|average entry - stop| x filled quantity``. Leverage does not change R.
* **Equity.** Following the provider starts at equity 1.0; each trade risks ``risk_per_trade_ratio`` of the equity
  at its fill (the equity after the trades that exited in an earlier bar), so it changes equity by
  ``equity_at_fill x risk_per_trade_ratio x R``. Trades are applied in exit order; the maximum drawdown is taken on
  that curve. Equity never goes below zero.

Prices are float64 in the quote currency; times are aware UTC datetimes, candle times int64 ms UTC.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np

from tsbot.config import ProviderScoringConfig
from tsbot.core.errors import DataError
from tsbot.core.time import from_ms, parse_utc, to_ms
from tsbot.intake.models import EntryKind, ParsedPost, PostKind, Side, TradeIntent
from tsbot.intake.symbols import split_symbol
from tsbot.market.models import CandleFrame, Timeframe

#: Risk assumed for R when a signal gives no stop: an adverse move of 10 % of the average entry price.
NO_STOP_RISK_RATIO = 0.10
#: Quote currencies tried when a symbol is written without a separator (``SOLUSDT``) or as a base alone.
QUOTES = ("USDT", "BUSD", "USDC", "USD")
_HOUR_MS = 3_600_000


class ExitReason(StrEnum):
    """How a replayed signal ended."""

    TARGET = "target"  # every take-profit was hit
    STOP = "stop"  # the stop closed what was left (possibly after some take-profits)
    EXPIRED = "expired"  # no entry filled within entry_expiry_hours
    TIMEOUT = "timeout"  # closed at a bar's close after max_hold_hours
    END_OF_DATA = "end_of_data"  # still open when the candles end; closed at the last close
    NOT_FILLED = "not_filled"  # cancelled before any fill (first target first) or the candles ended first
    NO_DATA = "no_data"  # no candles for the symbol around posted_at


@dataclass(frozen=True, slots=True)
class Post:
    """One line of a posts file: post ``id``, ``provider`` (channel), ``posted_at`` (aware UTC), ``text``."""

    id: str
    provider: str
    posted_at: datetime
    text: str
    line_no: int = 0


@dataclass(frozen=True, slots=True)
class SkippedLine:
    """A line of a posts file that was not used: its 1-based number, why, and the provider when it names one."""

    line_no: int
    reason: str
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class PostsFile:
    """The readable posts of a file in file order, and the lines skipped."""

    posts: tuple[Post, ...]
    skipped: tuple[SkippedLine, ...]


@dataclass(frozen=True, slots=True)
class PostReading:
    """A post with the parser's reading of it (``parsed``), or ``error`` when the parser failed on it."""

    post: Post
    parsed: ParsedPost | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayedTrade:
    """What following one signal post would have done.

    ``entry`` and ``exit`` are average fill prices (quote currency); ``filled_at`` is the open time of the bar of
    the first fill and ``exit_at`` that of the bar of the last exit (UTC). ``r`` is None for signals never filled.
    """

    post_id: str
    provider: str
    symbol: str
    side: Side
    posted_at: datetime
    exit_reason: ExitReason
    filled_at: datetime | None = None
    exit_at: datetime | None = None
    entry: float | None = None
    exit: float | None = None
    r: float | None = None
    targets_hit: int = 0
    entries_filled: int = 0
    has_stop: bool = True
    note: str = ""

    @property
    def filled(self) -> bool:
        """Whether any entry filled (the trade has an R)."""
        return self.r is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape: times as ISO 8601 ``Z`` strings, prices to 10 significant digits, R to 4 decimals."""
        return {
            "post_id": self.post_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "posted_at": _iso(self.posted_at),
            "filled_at": _iso(self.filled_at),
            "exit_at": _iso(self.exit_at),
            "entry": _price(self.entry),
            "exit": _price(self.exit),
            "exit_reason": self.exit_reason.value,
            "r": None if self.r is None else round(self.r, 4),
            "targets_hit": self.targets_hit,
            "entries_filled": self.entries_filled,
            "has_stop": self.has_stop,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class ProviderScore:
    """The figures of one provider.

    ``fill_rate`` is filled / (signals - no_data); ``win_rate`` wins / filled (a win has R > 0); ``average_r`` over
    filled trades; ``profit_factor`` is the sum of positive R over minus the sum of negative R (``inf`` with wins
    and no losses, None with neither). ``equity`` holds ``(time, equity)`` points: the start (1.0 at the first fill)
    and each exit.
    """

    provider: str
    posts: int
    signals: int
    updates: int
    other: int
    filled: int
    fill_rate: float
    wins: int
    losses: int
    win_rate: float
    average_r: float
    profit_factor: float | None
    total_return_ratio: float
    max_drawdown_ratio: float
    signals_without_stop: int
    no_data: int
    no_data_symbols: tuple[str, ...]
    skipped_lines: tuple[int, ...]
    trades: tuple[ReplayedTrade, ...] = field(repr=False)
    equity: tuple[tuple[datetime, float], ...] = field(repr=False)

    def to_dict(self, *, with_trades: bool = True) -> dict[str, Any]:
        """JSON shape; ``profit_factor`` is a number, the string ``"inf"``, or null."""
        pf = self.profit_factor
        out: dict[str, Any] = {
            "provider": self.provider,
            "posts": self.posts,
            "signals": self.signals,
            "updates": self.updates,
            "other": self.other,
            "filled": self.filled,
            "fill_rate": round(self.fill_rate, 4),
            "wins": self.wins,
            "losses": self.losses,
            "win_rate": round(self.win_rate, 4),
            "average_r": round(self.average_r, 4),
            "profit_factor": None if pf is None else ("inf" if math.isinf(pf) else round(pf, 4)),
            "total_return_ratio": round(self.total_return_ratio, 6),
            "max_drawdown_ratio": round(self.max_drawdown_ratio, 6),
            "signals_without_stop": self.signals_without_stop,
            "no_data": self.no_data,
            "no_data_symbols": list(self.no_data_symbols),
            "skipped_lines": list(self.skipped_lines),
        }
        if with_trades:
            out["trades"] = [t.to_dict() for t in self.trades]
            out["equity"] = [[_iso(at), round(eq, 6)] for at, eq in self.equity]
        return out


@dataclass(frozen=True, slots=True)
class ScoreReport:
    """Scores of every provider in a posts file (sorted by name), their total, and the skipped lines."""

    providers: tuple[ProviderScore, ...]
    total: ProviderScore
    skipped: tuple[SkippedLine, ...]


# ---------------------------------------------------------------------------------------------------------- posts


def _price(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.10g}")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def parse_posted_at(value: Any) -> datetime:
    """``posted_at`` of a post: ISO 8601 text with a zone, or integer milliseconds since the epoch (UTC).

    Raises:
        DataError: the value is neither, or the ISO text has no zone.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return from_ms(value)
    if isinstance(value, str) and value.strip().isdigit():
        return from_ms(int(value.strip()))
    if not isinstance(value, str):
        raise DataError(f"posted_at must be ISO 8601 text or epoch milliseconds, got {value!r}")
    raw = value.strip()
    naive = raw[:-1] if raw.endswith(("Z", "z")) else raw
    try:
        has_zone = raw.endswith(("Z", "z")) or datetime.fromisoformat(naive).tzinfo is not None
    except ValueError:
        has_zone = False
    at = parse_utc(raw)
    if not has_zone:
        raise DataError(f"posted_at {value!r} has no time zone (write 2022-05-01T12:00:00Z)")
    return at


def read_posts(lines: Iterable[str]) -> PostsFile:
    """Read a JSONL posts file: one object ``{"id", "provider" (or "channel"), "posted_at", "text"}`` per line.

    Blank lines are ignored. A line that is not a JSON object, lacks a field or has an unreadable ``posted_at``
    is skipped and reported with its 1-based line number; reading never stops on a bad line.
    """
    posts: list[Post] = []
    skipped: list[SkippedLine] = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.append(SkippedLine(line_no, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(data, dict):
            skipped.append(SkippedLine(line_no, "not a JSON object"))
            continue
        provider = data.get("provider") or data.get("channel")
        provider = str(provider) if provider not in (None, "") else None
        missing = [k for k in ("id", "posted_at", "text") if data.get(k) in (None, "")]
        if provider is None:
            missing.insert(1, "provider")
        if missing:
            skipped.append(SkippedLine(line_no, f"missing {', '.join(missing)}", provider))
            continue
        if not isinstance(data["text"], str):
            skipped.append(SkippedLine(line_no, "text is not a string", provider))
            continue
        try:
            posted_at = parse_posted_at(data["posted_at"])
        except DataError as exc:
            skipped.append(SkippedLine(line_no, str(exc), provider))
            continue
        posts.append(Post(str(data["id"]), str(provider), posted_at, data["text"], line_no))
    return PostsFile(tuple(posts), tuple(skipped))


def read_all(posts: Sequence[Post], parse: Callable[[str], ParsedPost]) -> list[PostReading]:
    """Run the post parser over every post; a parser exception is kept as the reading's ``error``."""
    out: list[PostReading] = []
    for post in posts:
        try:
            out.append(PostReading(post, parse(post.text)))
        except Exception as exc:  # noqa: BLE001 - one unreadable post must not stop the scoring of the rest
            out.append(PostReading(post, None, f"parser failed: {type(exc).__name__}: {exc}"))
    return out


def resolve_symbol(symbol: str, known: Collection[str]) -> str | None:
    """The store's symbol for a post's symbol, or None.

    ``SOL/USDT`` maps to itself, ``SOL`` to ``SOL/USDT`` (then the other :data:`QUOTES`), ``SOLUSDT`` to
    ``SOL/USDT``; matching ignores case. Only symbols in ``known`` are returned.
    """
    text = symbol.strip().upper()
    by_upper = {k.upper(): k for k in known}
    if "/" in text:
        return by_upper.get(text)
    for quote in QUOTES:
        if (hit := by_upper.get(f"{text}/{quote}")) is not None:
            return hit
    base, quote = split_symbol(text, QUOTES)
    return by_upper.get(f"{base}/{quote}") if quote else None


def wanted_series(
    readings: Iterable[PostReading], known: Collection[str]
) -> dict[str, tuple[datetime, datetime]]:
    """Store symbols the signals of ``readings`` need (those resolvable within ``known``), each with the earliest
    and the latest ``posted_at`` of its signals (aware UTC)."""
    out: dict[str, tuple[datetime, datetime]] = {}
    for reading in readings:
        signal = reading.parsed.signal if reading.parsed is not None else None
        if signal is not None and (hit := resolve_symbol(signal.symbol, known)) is not None:
            at = reading.post.posted_at
            first, last = out.get(hit, (at, at))
            out[hit] = (min(first, at), max(last, at))
    return out


def replay_reach_ms(config: ProviderScoringConfig, timeframe: Timeframe) -> int:
    """How far past ``posted_at`` a replay may read bars, in ms: entry expiry + maximum hold + one bar."""
    return round((config.entry_expiry_hours + config.max_hold_hours) * _HOUR_MS) + timeframe.ms


# --------------------------------------------------------------------------------------------------------- replay


@dataclass(slots=True)
class _Book:
    """Running state of one replayed trade, in long-equivalent prices (shorts are negated)."""

    fee_ratio: float
    qty: float = 0.0
    cost: float = 0.0
    closed: float = 0.0
    proceeds: float = 0.0
    fees: float = 0.0
    fills: int = 0
    fill_ms: int | None = None

    def buy(self, qty: float, price: float, at_ms: int) -> None:
        self.qty += qty
        self.cost += qty * price
        self.fees += self.fee_ratio * abs(price) * qty
        self.fills += 1
        if self.fill_ms is None:
            self.fill_ms = at_ms

    def sell(self, qty: float, price: float) -> None:
        self.closed += qty
        self.proceeds += qty * price
        self.fees += self.fee_ratio * abs(price) * qty


def replay_signal(
    intent: TradeIntent,
    posted_at: datetime,
    frame: CandleFrame,
    timeframe: Timeframe,
    config: ProviderScoringConfig,
    *,
    post_id: str = "",
    provider: str = "",
) -> ReplayedTrade:
    """Replay one signal over the candles of its symbol (see the module docstring for every rule).

    Args:
        intent: the signal; ``intent.symbol`` is reported as given.
        posted_at: when the post was published (aware UTC).
        frame: the symbol's candles, oldest first; only bars opening after ``posted_at`` are read, and at most up
            to ``posted_at + entry_expiry_hours + max_hold_hours`` plus one bar.
        timeframe: the candles' timeframe (bar length for the hold time).
        config: risk, expiry, hold time and fee settings.

    Returns:
        The trade; ``exit_reason`` ``no_data`` when no bar opens after ``posted_at`` or the post is older than the
        first bar.
    """
    long = intent.side is Side.LONG
    has_stop = intent.stop is not None
    base = {"post_id": post_id, "provider": provider, "symbol": intent.symbol, "side": intent.side}
    base |= {"posted_at": posted_at, "has_stop": has_stop}
    times_all = frame.open_time_ms
    posted_ms = to_ms(posted_at)
    if len(frame) == 0:
        return ReplayedTrade(**base, exit_reason=ExitReason.NO_DATA, note="no candles")
    if posted_ms < int(times_all[0]):
        first = _iso(from_ms(int(times_all[0])))
        return ReplayedTrade(
            **base, exit_reason=ExitReason.NO_DATA, note=f"posted before the first candle {first}"
        )
    start = int(np.searchsorted(times_all, posted_ms, side="right"))
    if start >= len(frame):
        return ReplayedTrade(**base, exit_reason=ExitReason.NO_DATA, note="posted after the last candle")
    expiry_ms = round(config.entry_expiry_hours * _HOUR_MS)
    hold_ms = round(config.max_hold_hours * _HOUR_MS)
    stop_at = int(np.searchsorted(times_all, posted_ms + replay_reach_ms(config, timeframe), side="right"))
    window = slice(start, stop_at)
    sign = 1.0 if long else -1.0
    lows, highs = (frame.low, frame.high) if long else (frame.high, frame.low)
    bars = (
        times_all[window].tolist(),
        (sign * frame.open[window]).tolist(),
        (sign * highs[window]).tolist(),
        (sign * lows[window]).tolist(),
        (sign * frame.close[window]).tolist(),
    )
    market = intent.entry_kind is EntryKind.MARKET or not intent.entry
    entries = [] if market else [sign * float(p) for p in intent.entry]
    targets = [sign * float(t) for t in intent.targets]
    stop = None if intent.stop is None else sign * float(intent.stop)
    book = _Book(config.fee_ratio)
    reason, exit_ms, hit, note = _simulate(
        bars, market, entries, targets, stop, book, posted_ms + expiry_ms, hold_ms, timeframe.ms
    )
    if book.qty <= 0:
        return ReplayedTrade(**base, exit_reason=reason, note=note)
    avg_entry = book.cost / book.qty
    pnl = book.proceeds - book.cost - book.fees
    distance = abs(avg_entry - stop) if stop is not None else 0.0
    if distance <= 1e-12 * abs(avg_entry):
        distance = NO_STOP_RISK_RATIO * abs(avg_entry)
    assert book.fill_ms is not None and exit_ms is not None
    return ReplayedTrade(
        **base,
        exit_reason=reason,
        filled_at=from_ms(book.fill_ms),
        exit_at=from_ms(exit_ms),
        entry=sign * avg_entry,
        exit=sign * book.proceeds / book.qty,
        r=pnl / (distance * book.qty),
        targets_hit=hit,
        entries_filled=book.fills,
        note=note,
    )


def _simulate(
    bars: tuple[list[int], list[float], list[float], list[float], list[float]],
    market: bool,
    entries: list[float],
    targets: list[float],
    stop: float | None,
    book: _Book,
    expires_ms: int,
    hold_ms: int,
    bar_ms: int,
) -> tuple[ExitReason, int | None, int, str]:
    """Walk the bars of a long-equivalent trade. Returns (reason, exit bar open ms, targets hit, note)."""
    times, opens, highs, lows, closes = bars
    pending: list[float | None] = [None] if market else list(entries)
    part = 1.0 / len(pending)
    hit = 0
    per_target = 0.0
    for t, o, h, lo, c in zip(times, opens, highs, lows, closes, strict=True):
        filled_inside = False
        if pending and t >= expires_ms:
            pending = []
            if book.qty <= 0:
                return ExitReason.EXPIRED, None, 0, "no entry filled before the expiry"
        if pending:
            still: list[float | None] = []
            for p in pending:
                if p is None:
                    book.buy(part, o, t)
                elif lo <= p:
                    book.buy(part, min(o, p), t)
                    filled_inside = filled_inside or o > p
                else:
                    still.append(p)
            pending = still
            if book.qty <= 0 and targets and h >= targets[0]:
                return ExitReason.NOT_FILLED, None, 0, "first target reached before any entry filled"
        if book.qty <= 0:
            continue
        if stop is not None and lo <= stop:
            book.sell(book.qty - book.closed, min(o, stop))
            return ExitReason.STOP, t, hit, ""
        if not filled_inside:
            while hit < len(targets) and h >= targets[hit]:
                if hit == 0:
                    pending = []
                    per_target = book.qty / len(targets)
                last = hit == len(targets) - 1
                book.sell(book.qty - book.closed if last else per_target, max(o, targets[hit]))
                hit += 1
            if targets and hit == len(targets):
                return ExitReason.TARGET, t, hit, ""
        assert book.fill_ms is not None
        if t + bar_ms >= book.fill_ms + hold_ms:
            book.sell(book.qty - book.closed, c)
            return ExitReason.TIMEOUT, t, hit, ""
    if book.qty <= 0:
        return ExitReason.NOT_FILLED, None, 0, "the candles end before the entry expired"
    book.sell(book.qty - book.closed, closes[-1])
    return ExitReason.END_OF_DATA, times[-1], hit, "the candles end while the trade is open"


# --------------------------------------------------------------------------------------------------------- scores


def equity_curve(
    trades: Iterable[ReplayedTrade], risk_per_trade_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Equity of following the filled ``trades`` with a fixed risk per trade (see the module docstring).

    Returns:
        ``(times_ms, equity)``: int64 ms UTC and float64, both of shape ``(k + 1,)`` for ``k`` filled trades: the
        first fill time with equity 1.0, then each exit in exit order. ``(0,)`` arrays when nothing filled.
    """
    closed = [t for t in trades if t.r is not None and t.filled_at is not None and t.exit_at is not None]
    if not closed:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    order = sorted(range(len(closed)), key=lambda i: (closed[i].exit_at, closed[i].filled_at, i))
    exit_ms: list[int] = []
    after: list[float] = []
    equity = 1.0
    for i in order:
        trade = closed[i]
        k = bisect.bisect_left(exit_ms, to_ms(trade.filled_at))  # type: ignore[arg-type]
        at_fill = after[k - 1] if k else 1.0
        equity = max(0.0, equity + at_fill * risk_per_trade_ratio * float(trade.r))  # type: ignore[arg-type]
        exit_ms.append(to_ms(trade.exit_at))  # type: ignore[arg-type]
        after.append(equity)
    start = min(to_ms(t.filled_at) for t in closed)  # type: ignore[arg-type]
    return np.array([start, *exit_ms], dtype=np.int64), np.array([1.0, *after], dtype=np.float64)


def max_drawdown_ratio(equity: np.ndarray) -> float:
    """Largest fall from a running peak as a ratio of that peak, for equity of shape ``(n,)``; 0.0 when n < 2."""
    if equity.shape[0] < 2:
        return 0.0
    peak = np.maximum.accumulate(equity)
    return float(np.max((peak - equity) / peak))


def score_trades(
    provider: str,
    trades: Sequence[ReplayedTrade],
    config: ProviderScoringConfig,
    *,
    posts: int = 0,
    updates: int = 0,
    other: int = 0,
    skipped_lines: Sequence[int] = (),
) -> ProviderScore:
    """The figures of one provider from its replayed signals (see :class:`ProviderScore`)."""
    filled = [t for t in trades if t.r is not None]
    rs = np.array([t.r for t in filled], dtype=np.float64)
    gains, pains = float(rs[rs > 0].sum()), float(-rs[rs < 0].sum())
    wins, losses = int((rs > 0).sum()), int((rs < 0).sum())
    if losses:
        profit_factor: float | None = gains / pains
    else:
        profit_factor = math.inf if wins else None
    no_data = [t for t in trades if t.exit_reason is ExitReason.NO_DATA]
    replayable = len(trades) - len(no_data)
    times, equity = equity_curve(filled, config.risk_per_trade_ratio)
    return ProviderScore(
        provider=provider,
        posts=posts,
        signals=len(trades),
        updates=updates,
        other=other,
        filled=len(filled),
        fill_rate=len(filled) / replayable if replayable else 0.0,
        wins=wins,
        losses=losses,
        win_rate=wins / len(filled) if filled else 0.0,
        average_r=float(rs.mean()) if filled else 0.0,
        profit_factor=profit_factor,
        total_return_ratio=float(equity[-1] - 1.0) if equity.shape[0] else 0.0,
        max_drawdown_ratio=max_drawdown_ratio(equity),
        signals_without_stop=sum(1 for t in trades if not t.has_stop),
        no_data=len(no_data),
        no_data_symbols=tuple(sorted({t.symbol for t in no_data})),
        skipped_lines=tuple(skipped_lines),
        trades=tuple(trades),
        equity=tuple((from_ms(int(at)), float(eq)) for at, eq in zip(times, equity, strict=True)),
    )


def score_readings(
    readings: Sequence[PostReading],
    frames: Mapping[str, CandleFrame],
    timeframe: Timeframe,
    config: ProviderScoringConfig,
    *,
    skipped: Sequence[SkippedLine] = (),
) -> ScoreReport:
    """Replay every signal of ``readings`` and score each provider and all of them together.

    Args:
        readings: parsed posts (:func:`read_all`), in any order.
        frames: candles by store symbol (``SOL/USDT``) on one exchange and ``timeframe``; a signal whose symbol
            does not resolve to a key (:func:`resolve_symbol`) is counted as ``no_data``.
        skipped: lines of the posts file already skipped; parser failures are added to them.
    """
    by_provider: dict[str, list[PostReading]] = {}
    for reading in readings:
        by_provider.setdefault(reading.post.provider, []).append(reading)
    all_skipped = list(skipped)
    for reading in readings:
        if reading.error is not None:
            all_skipped.append(SkippedLine(reading.post.line_no, reading.error, reading.post.provider))
    all_skipped.sort(key=lambda s: s.line_no)
    scores: list[ProviderScore] = []
    every: list[ReplayedTrade] = []
    counts = {"posts": 0, "updates": 0, "other": 0}
    names = sorted(set(by_provider) | {s.provider for s in all_skipped if s.provider is not None})
    for name in names:
        mine = by_provider.get(name, [])
        trades: list[ReplayedTrade] = []
        updates = other = 0
        for reading in sorted(mine, key=lambda r: (r.post.posted_at, r.post.line_no)):
            parsed = reading.parsed
            if parsed is None:
                continue
            if parsed.kind is PostKind.SIGNAL and parsed.signal is not None:
                trades.append(_replay_post(reading.post, parsed.signal, frames, timeframe, config))
            elif parsed.kind is PostKind.UPDATE:
                updates += 1
            else:
                other += 1
        lines = [s.line_no for s in all_skipped if s.provider == name]
        scores.append(
            score_trades(
                name, trades, config, posts=len(mine), updates=updates, other=other, skipped_lines=lines
            )
        )
        every.extend(trades)
        counts["posts"] += len(mine)
        counts["updates"] += updates
        counts["other"] += other
    total = score_trades("all", every, config, skipped_lines=[s.line_no for s in all_skipped], **counts)
    return ScoreReport(tuple(scores), total, tuple(all_skipped))


def _replay_post(
    post: Post,
    intent: TradeIntent,
    frames: Mapping[str, CandleFrame],
    timeframe: Timeframe,
    config: ProviderScoringConfig,
) -> ReplayedTrade:
    symbol = resolve_symbol(intent.symbol, frames.keys())
    if symbol is None:
        return ReplayedTrade(
            post.id,
            post.provider,
            intent.symbol,
            intent.side,
            post.posted_at,
            ExitReason.NO_DATA,
            has_stop=intent.stop is not None,
            note=f"no {timeframe.value} candles for {intent.symbol}",
        )
    trade = replay_signal(
        intent, post.posted_at, frames[symbol], timeframe, config, post_id=post.id, provider=post.provider
    )
    return trade if trade.symbol == symbol else replace(trade, symbol=symbol)
