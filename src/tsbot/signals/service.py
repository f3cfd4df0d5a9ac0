"""The scan service: point-in-time signals for a watchlist, stored with their status changes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tsbot.config import TradingConfig
from tsbot.core.errors import EmptyStoreError, NoDataBeforeError, NotFoundError, UnknownSymbolError
from tsbot.core.time import from_ms, to_ms
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.ports import CandleStore, SeriesInfo
from tsbot.ml.ports import MlScorerSource
from tsbot.sentiment.aggregate import SentimentReading, readings
from tsbot.sentiment.ports import HeadlineStore
from tsbot.signals.engine import SignalEngine, SignalInput, Skipped
from tsbot.signals.models import HeadlineRef, Signal, StatusChange
from tsbot.signals.ports import SignalStore


@dataclass(slots=True)
class ScanResult:
    """Signals computed by one scan, the series skipped (with a reason) and the status changes stored."""

    signals: list[Signal] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)

    def __repr__(self) -> str:
        # Kept short on purpose: asyncio formats the repr of a finished task's result (Python 3.11 does so in
        # asyncio.run), which for thousands of signals cost more than the scan itself.
        return (
            f"ScanResult(signals={len(self.signals)}, skipped={len(self.skipped)}, "
            f"status_changes={len(self.status_changes)})"
        )


def _norm(text: str) -> str:
    return text.upper().replace("/", "").replace("-", "").replace("_", "").strip()


def resolve_symbols(requested: Sequence[str], available: Sequence[SeriesInfo]) -> list[SeriesInfo]:
    """Series matching the requested symbols, in request order.

    A request matches a stored symbol case-insensitively, with or without a separator (``btcusdt``,
    ``BTC/USDT``), or by its base when only one stored symbol has that base (``BTC``). A symbol may match several
    series (one per timeframe or exchange); all of them are returned.

    Raises:
        UnknownSymbolError: a requested symbol matches nothing; the error lists the known symbols.
    """
    known = sorted({s.key.symbol for s in available})
    by_norm: dict[str, str] = {_norm(sym): sym for sym in known}
    by_base: dict[str, list[str]] = {}
    for sym in known:
        by_base.setdefault(_norm(sym.split("/", 1)[0]), []).append(sym)
    chosen: list[SeriesInfo] = []
    for text in requested:
        sym = by_norm.get(_norm(text))
        if sym is None and len(by_base.get(_norm(text), [])) == 1:
            sym = by_base[_norm(text)][0]
        if sym is None:
            raise UnknownSymbolError(text, known)
        chosen.extend(s for s in available if s.key.symbol == sym and s not in chosen)
    return chosen


class ScanService:
    """Computes signals from the stores, as of the latest candle or a given time, and stores them."""

    def __init__(
        self,
        candles: CandleStore,
        headlines: HeadlineStore,
        signals: SignalStore | None,
        config: TradingConfig,
        engine: SignalEngine | None = None,
        ml: MlScorerSource | None = None,
    ) -> None:
        self._candles = candles
        self._headlines = headlines
        self._signals = signals
        self._config = config
        self._engine = engine or SignalEngine(config)
        self._ml = ml

    async def watchlist(self, symbols: Sequence[str] | None, timeframe: Timeframe | None) -> list[SeriesInfo]:
        """The series a scan covers: the requested symbols, else the configured watchlist, else every stored
        series; narrowed to ``timeframe`` (or the configured one) when set.

        Raises:
            EmptyStoreError: the store holds no candles.
            UnknownSymbolError: a requested symbol is not stored.
        """
        available = await self._candles.series()
        if not available:
            raise EmptyStoreError(
                "the candle store is empty: run `tsbot data import` to load the bundled data"
            )
        wanted = list(symbols or self._config.watchlist)
        chosen = resolve_symbols(wanted, available) if wanted else list(available)
        tf = timeframe or self._config.timeframe
        if tf is not None:
            chosen = [s for s in chosen if s.key.timeframe == tf]
            if not chosen:
                have = ", ".join(sorted({s.key.timeframe.value for s in available}))
                raise NotFoundError(
                    f"no stored series at timeframe {tf.value} for this watchlist; stored: {have}"
                )
        return chosen

    async def scan(
        self,
        symbols: Sequence[str] | None = None,
        *,
        timeframe: Timeframe | None = None,
        as_of: datetime | None = None,
        store: bool = True,
    ) -> ScanResult:
        """Signals for the watchlist as of the latest stored candle of each series, or as of ``as_of``.

        As of a time t, a series uses only bars that closed at or before t (open time + timeframe <= t) and
        headlines published at or before the close of its last bar. With an ML scorer source whose active model
        exists, each series of the model's timeframe with enough bars (``tsbot.ml.features.MIN_HISTORY_BARS``)
        gets the model's score at its last bar (all series scored in one batch); the others get none, and the
        fusion then leaves ML out for them.

        Raises:
            EmptyStoreError, UnknownSymbolError: see :meth:`watchlist`.
            NotFoundError: no series of the watchlist has the requested timeframe.
            NoDataBeforeError: ``as_of`` is before the first closed candle of every series in the watchlist.
        """
        chosen = await self.watchlist(symbols, timeframe)
        return await self.scan_series(chosen, as_of=as_of, store=store)

    async def scan_series(
        self, chosen: Sequence[SeriesInfo], *, as_of: datetime | None = None, store: bool = True
    ) -> ScanResult:
        """Signals for the given series (from :meth:`watchlist` or the candle store's ``series()``), as
        :meth:`scan` computes them: what the monitoring cycle calls for each batch of series it owns.

        Raises:
            NoDataBeforeError: ``as_of`` is before the first closed candle of every series given.
        """
        cfg = self._config
        result = ScanResult()
        if not chosen:
            return result
        ends: dict[SeriesKey, int] | None = None
        if as_of is not None:
            ends = {}
            for info in chosen:
                end_ms = to_ms(as_of) - info.key.timeframe.ms  # the last bar that had closed by as_of
                if end_ms < info.first_open_ms:
                    first_close = from_ms(info.first_open_ms + info.key.timeframe.ms).isoformat()
                    result.skipped.append(
                        Skipped(
                            info.key,
                            f"no closed candle at or before the requested time (first closes {first_close})",
                        )
                    )
                else:
                    ends[info.key] = end_ms
            if not ends:
                firsts = ", ".join(
                    f"{s.key.symbol} {from_ms(s.first_open_ms + s.key.timeframe.ms):%Y-%m-%d %H:%M}"
                    for s in chosen
                )
                raise NoDataBeforeError(
                    f"--as-of {as_of.isoformat()} is before the first closed candle ({firsts} UTC)"
                )
            keys = [info.key for info in chosen if info.key in ends]
        else:
            keys = [info.key for info in chosen]
        frames = await self._candles.load_many(keys, end_ms=ends, limit=cfg.lookback_bars)

        by_asset: dict[str, list[tuple[SeriesKey, int]]] = {}
        for key in keys:
            frame = frames[key]
            if len(frame):
                signal_ms = int(frame.open_time_ms[-1]) + key.timeframe.ms
                by_asset.setdefault(key.symbol.split("/", 1)[0], []).append((key, signal_ms))
        ml_scores = await self._ml_scores(frames, keys)
        inputs: list[SignalInput] = []
        for asset, members in by_asset.items():
            known = await self._sentiment(asset, [t for _, t in members])
            for (key, _), reading in zip(members, known, strict=True):
                inputs.append(SignalInput(key, frames[key], reading, ml_scores.get(key), asset))
        computed, skipped = self._engine.evaluate(inputs)
        await self._attach_headlines(computed, inputs)
        result.signals = computed
        result.skipped.extend(skipped)
        if store and self._signals is not None and computed:
            result.status_changes = await self._signals.save(computed)
        return result

    async def _ml_scores(
        self, frames: dict[SeriesKey, CandleFrame], keys: Sequence[SeriesKey]
    ) -> dict[SeriesKey, float]:
        """The active model's score of each series it applies to (none without a model)."""
        if self._ml is None:
            return {}
        scorer = await self._ml.scorer()
        if scorer is None:
            return {}
        chosen = [key for key in keys if scorer.applies_to(key) and len(frames[key])]
        if not chosen:
            return {}
        scores = scorer.score_frames([frames[key] for key in chosen]).tolist()
        return {key: value for key, value in zip(chosen, scores, strict=True) if not math.isnan(value)}

    async def _attach_headlines(self, computed: list[Signal], inputs: list[SignalInput]) -> None:
        """Give each signal the headlines that moved its sentiment most (``trading.sentiment.top_headlines``)."""
        tops = {
            item.key: item.sentiment.top
            for item in inputs
            if item.sentiment is not None and item.sentiment.top
        }
        if not tops:
            return
        found = await self._headlines.by_ids(sorted({hid for top in tops.values() for hid, _ in top}))
        for sig in computed:
            sig.headlines = [
                HeadlineRef.of(found[hid], share) for hid, share in tops.get(sig.key, ()) if hid in found
            ]

    async def _sentiment(self, asset: str, signal_ms: list[int]) -> list[SentimentReading | None]:
        """Readings of one asset at each signal time, from one query covering all of them."""
        scfg = self._config.sentiment
        start = from_ms(min(signal_ms)) - timedelta(hours=scfg.max_age_hours)
        series = await self._headlines.scored_series(asset, start=start, end=from_ms(max(signal_ms)))
        return readings(series, signal_ms, scfg, top=scfg.top_headlines)
