"""Request and response bodies of the signal routes (:mod:`tsbot.apps.api.signals`).

Prices of signals are numbers in the quote currency (signals are computed in float64); times are ISO-8601 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from tsbot.adapters.storage.signal_queries import SeriesScanState, StoredSignal
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import HeadlineRef, Signal, StatusChange

#: Most symbols one watchlist holds.
MAX_WATCHLIST = 200
#: Most symbols one generate request covers.
MAX_GENERATE = 20

#: A symbol as a client writes it (``BTC/USDT``, ``BTC-USDT``, ``BTCUSDT``, ``BTC``).
SymbolText = Annotated[str, Field(min_length=1, max_length=40)]


class ComponentsOut(BaseModel):
    """Component scores of a signal, each in [-1, 1]; null when the component had no evidence."""

    technical: float = Field(description="indicator score, in [-1, 1]")
    sentiment: float | None = Field(description="news sentiment, in [-1, 1]; null without headlines")
    ml: float | None = Field(description="ML ensemble score, in [-1, 1]; null without an active model")


class SignalHeadlineOut(BaseModel):
    """A headline that moved the signal's sentiment."""

    title: str
    source: str
    url: str
    published_at: datetime
    score: float = Field(description="the model's score of the headline, in [-1, 1]")
    contribution: float = Field(description="its share of the sentiment component, in [-1, 1]")

    @classmethod
    def of(cls, ref: HeadlineRef) -> SignalHeadlineOut:
        return cls(
            title=ref.title,
            source=ref.source,
            url=ref.url,
            published_at=ref.published_at,
            score=ref.score,
            contribution=ref.contribution,
        )


class SignalOut(BaseModel):
    """An explained signal of one series (exchange, symbol, timeframe) at one time."""

    id: int | None = Field(None, description="the stored signal's id; null for a signal not stored")
    symbol: str
    exchange: str
    timeframe: Timeframe
    as_of: datetime = Field(description="close time of the last bar used (UTC): when the signal became known")
    action: Action = Field(description="BUY, SELL or HOLD (the signal's status)")
    score: float = Field(description="fused score in [-1, 1]")
    confidence: float = Field(description="in [0, 1]")
    price: float = Field(description="close of the last bar, quote currency")
    stop_loss: float | None = Field(description="stop-loss price; null for HOLD")
    take_profit: list[float] = Field(description="take-profit prices at 1R, 2R, 3R; empty for HOLD")
    components: ComponentsOut
    reasons: list[str] = Field(description="why, most important first")
    headlines: list[SignalHeadlineOut] = Field(description="headlines that moved the sentiment most")
    created_at: datetime | None = Field(None, description="when it was stored (the scan time), UTC")

    @classmethod
    def of(cls, sig: Signal, *, id_: int | None = None, created_at: datetime | None = None) -> SignalOut:
        return cls.model_validate(_signal_fields(sig, id_, created_at))

    @classmethod
    def stored(cls, item: StoredSignal) -> SignalOut:
        return cls.of(item.signal, id_=item.id, created_at=item.created_at)

    @classmethod
    def many(cls, items: Sequence[StoredSignal]) -> list[SignalOut]:
        """:meth:`stored` of each item, validated in one call (a page of 50 in about a third less time than 50
        calls)."""
        return _SIGNAL_LIST.validate_python([_signal_fields(i.signal, i.id, i.created_at) for i in items])


def _signal_fields(sig: Signal, id_: int | None, created_at: datetime | None) -> dict[str, Any]:
    """The fields of :class:`SignalOut` for ``sig``, to validate."""
    key = sig.key
    return {
        "id": id_,
        "symbol": key.symbol,
        "exchange": key.exchange,
        "timeframe": key.timeframe,
        "as_of": sig.as_of,
        "action": sig.action,
        "score": round(sig.score, 6),
        "confidence": round(sig.confidence, 6),
        "price": sig.price,
        "stop_loss": sig.stop_loss,
        "take_profit": list(sig.take_profit),
        "components": sig.components.to_dict(),
        "reasons": list(sig.reasons),
        "headlines": [
            {
                "title": h.title,
                "source": h.source,
                "url": h.url,
                "published_at": h.published_at,
                "score": h.score,
                "contribution": h.contribution,
            }
            for h in sig.headlines
        ],
        "created_at": created_at,
    }


_SIGNAL_LIST = TypeAdapter(list[SignalOut])


class SymbolSignalsOut(BaseModel):
    """The newest signal of each series of one symbol, newest ``as_of`` first."""

    symbol: str
    signals: list[SignalOut] = Field(min_length=1)


class PeriodOut(BaseModel):
    """A time range, UTC."""

    since: datetime
    until: datetime


class SymbolCountsOut(BaseModel):
    """Signals of one symbol in the period, by action."""

    symbol: str
    total: int = Field(ge=0)
    by_action: dict[str, int] = Field(description="BUY, SELL, HOLD -> count")


class SignalStatsOut(BaseModel):
    """Counts of the stored signals whose ``as_of`` falls in the period."""

    period: PeriodOut
    total: int = Field(ge=0)
    by_action: dict[str, int] = Field(description="BUY, SELL, HOLD -> count")
    by_symbol: list[SymbolCountsOut] = Field(description="per symbol, by symbol name")
    status_changes: int = Field(ge=0, description="changes of a series' action recorded in the period")
    first_as_of: datetime | None = Field(description="the earliest signal counted")
    last_as_of: datetime | None = Field(description="the latest signal counted")


class SeriesMonitorOut(BaseModel):
    """Scan state of one series.

    ``status``: ``current`` (the newest signal covers the newest stored bar), ``behind`` (newer bars are stored
    than the newest signal used: ``lag_bars`` of them), ``never`` (no signal yet). ``data_stale``: the newest
    stored bar closed more than two bars ago (the candle feed is not keeping up, or the market is closed).
    """

    symbol: str
    exchange: str
    timeframe: Timeframe
    status: Literal["current", "behind", "never"]
    last_scan_at: datetime | None = Field(description="when the newest signal was stored")
    last_signal_as_of: datetime | None
    signals: int = Field(ge=0, description="signals stored for the series")
    last_candle_close_at: datetime | None = Field(description="close time of the newest stored bar")
    lag_bars: int | None = Field(description="bars stored after the newest signal's last bar")
    data_age_s: float | None = Field(description="seconds since the newest stored bar closed")
    data_stale: bool

    @classmethod
    def of(
        cls, key: SeriesKey, state: SeriesScanState | None, last_close: datetime | None, now: datetime
    ) -> SeriesMonitorOut:
        tf_s = key.timeframe.ms / 1000
        lag = None
        if state is not None and last_close is not None:
            lag = max(0, round((last_close - state.last_as_of).total_seconds() / tf_s))
        age = None if last_close is None else max(0.0, (now - last_close).total_seconds())
        return cls(
            symbol=key.symbol,
            exchange=key.exchange,
            timeframe=key.timeframe,
            status="never" if state is None else ("behind" if lag else "current"),
            last_scan_at=None if state is None else state.scanned_at,
            last_signal_as_of=None if state is None else state.last_as_of,
            signals=0 if state is None else state.signals,
            last_candle_close_at=last_close,
            lag_bars=lag,
            data_age_s=None if age is None else round(age, 3),
            data_stale=age is not None and age > 2 * tf_s,
        )


class MonitorOut(BaseModel):
    """The signal monitor: what is scanned, how recently, and what is watched."""

    checked_at: datetime
    symbols_known: int = Field(ge=0, description="symbols with stored candles")
    symbols_watched: int = Field(
        ge=0, description="distinct symbols on any user's watchlist or the configured watchlist"
    )
    my_watchlist: int = Field(ge=0, description="symbols on the caller's watchlist")
    configured_watchlist: list[str] = Field(description="trading.watchlist of the settings")
    last_scan_at: datetime | None = Field(description="the newest scan time over every series")
    series_behind: int = Field(ge=0)
    series_stale: int = Field(ge=0)
    series: list[SeriesMonitorOut]


class GenerateIn(BaseModel):
    """Which series to compute signals for now, over the stored candles."""

    symbols: list[SymbolText] = Field(
        min_length=1, max_length=MAX_GENERATE, description="symbols (BTC/USDT, BTC-USDT, BTCUSDT or BTC)"
    )
    timeframe: Timeframe | None = Field(
        None, description="only series of this timeframe; null: trading.timeframe, else every timeframe"
    )
    store: bool = Field(True, description="store the signals (and their status changes)")

    model_config = {"json_schema_extra": {"examples": [{"symbols": ["BTC-USDT"], "timeframe": "1h"}]}}


class SkippedOut(BaseModel):
    """A series the scan left out, and why."""

    symbol: str
    exchange: str
    timeframe: Timeframe
    reason: str


class StatusChangeOut(BaseModel):
    """A change of a series' action (``from_action`` null for its first signal)."""

    symbol: str
    exchange: str
    timeframe: Timeframe
    changed_at: datetime
    from_action: Action | None
    to_action: Action
    score: float

    @classmethod
    def of(cls, change: StatusChange) -> StatusChangeOut:
        return cls(
            symbol=change.key.symbol,
            exchange=change.key.exchange,
            timeframe=change.key.timeframe,
            changed_at=change.changed_at,
            from_action=change.from_action,
            to_action=change.to_action,
            score=round(change.score, 6),
        )


class GenerateOut(BaseModel):
    """Signals computed as of each series' newest stored bar."""

    stored: bool
    signals: list[SignalOut]
    skipped: list[SkippedOut]
    status_changes: list[StatusChangeOut]


class WatchlistIn(BaseModel):
    """The whole watchlist, in the order to keep."""

    symbols: list[SymbolText] = Field(
        max_length=MAX_WATCHLIST, description="symbols; unknown ones are refused (422)"
    )


class WatchlistOut(BaseModel):
    """The caller's watchlist, in the order the symbols were added."""

    symbols: list[str]
    max_symbols: int = MAX_WATCHLIST
