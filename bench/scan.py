"""Benchmark: scanning 1,000 symbols x 500 1h bars.

The symbols are windows of 500 bars cut at random places from the bundled real Binance 1h series (each keeps its
pair's base asset, so the bundled headlines apply). Three figures, each the best of several rounds, on one core:

1. bare TA-Lib: only the TA-Lib calls the signal needs (RSI 14; EMA 20, 50, 200; MACD 12/26/9; ATR 14 and 10;
   SMA 20 of volume) on the same arrays;
2. the whole scan: ``ScanService.scan`` over in-process stores: loading each window point-in-time, sentiment from
   the headlines known at its time, indicators, fusion, levels and reasons, for all symbols;
3. the same scan on the embedded SQLite store (database reads included), for reference.

Goal: at least 1,000 symbols/s, and the whole scan (2) no more than 1.5 x the bare TA-Lib time (1).

Run: ``python bench/scan.py [--symbols 1000] [--bars 500] [--rounds 5] [--sqlite]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
import talib
from rich.console import Console
from rich.table import Table

from tsbot.adapters.bundled import bundled_series, read_bundled_headlines, read_bundled_rows
from tsbot.adapters.memory import FrameCandleStore, MemoryHeadlineStore
from tsbot.config import TradingConfig, load_settings
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.market.validation import validate_rows
from tsbot.sentiment.default_model import load_default_model
from tsbot.sentiment.service import import_headlines
from tsbot.signals.service import ScanService

console = Console()


def build_universe(n_symbols: int, bars: int, seed: int = 7) -> dict[SeriesKey, CandleFrame]:
    """``n_symbols`` windows of ``bars`` 1h bars from the real series; symbol ``BASE/USDT:k`` is window k."""
    rng = np.random.default_rng(seed)
    sources = [s for s in bundled_series() if s.key.timeframe is Timeframe.H1]
    frames = [validate_rows(read_bundled_rows(s), s.key.timeframe).frame for s in sources]
    out: dict[SeriesKey, CandleFrame] = {}
    for k in range(n_symbols):
        i = k % len(sources)
        frame = frames[i]
        start = int(rng.integers(0, len(frame) - bars))
        window = CandleFrame(
            *(
                np.ascontiguousarray(getattr(frame, c)[start : start + bars])
                for c in ("open_time_ms", "open", "high", "low", "close", "volume")
            )
        )
        out[SeriesKey("binance", f"{sources[i].key.symbol}:{k}", Timeframe.H1)] = window
    return out


def bare_talib(frames: list[CandleFrame], undecorated: bool = False) -> None:
    """The TA-Lib calls of one scan, and nothing else: through TA-Lib's public functions, or through the functions
    underneath its pandas / polars dispatcher (``__wrapped__``), the fastest way to call TA-Lib from Python."""
    raw = (lambda fn: getattr(fn, "__wrapped__", fn)) if undecorated else (lambda fn: fn)
    rsi, ema, macd, atr, sma = raw(talib.RSI), raw(talib.EMA), raw(talib.MACD), raw(talib.ATR), raw(talib.SMA)
    for f in frames:
        c, h, low, v = f.close, f.high, f.low, f.volume
        rsi(c, 14)
        ema(c, 20)
        ema(c, 50)
        ema(c, 200)
        macd(c, 12, 26, 9)
        atr(h, low, c, 14)
        atr(h, low, c, 10)
        sma(v, 20)


def best_of(rounds: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


async def sqlite_scan(
    universe: dict[SeriesKey, CandleFrame], headlines: MemoryHeadlineStore, rounds: int
) -> float:
    from tsbot.wiring import open_services

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp))
        async with open_services(settings) as services:
            for key, frame in universe.items():
                await services.candles.upsert(key, "crypto", frame)
            await services.headlines.add(headlines.items)
            scan = ScanService(services.candles, services.headlines, None, settings.trading)
            best = float("inf")
            for _ in range(rounds):
                t0 = time.perf_counter()
                result = await scan.scan(store=False)
                best = min(best, time.perf_counter() - t0)
            assert len(result.signals) == len(universe)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sqlite", action="store_true", help="also time the scan on the SQLite store")
    args = parser.parse_args()

    with console.status("building the universe from the bundled series"):
        universe = build_universe(args.symbols, args.bars)
        headlines = MemoryHeadlineStore()
        asyncio.run(import_headlines(headlines, load_default_model(), read_bundled_headlines()))
    frames = list(universe.values())
    config = TradingConfig(lookback_bars=args.bars)
    store = FrameCandleStore({k: ("crypto", f) for k, f in universe.items()})
    scan = ScanService(store, headlines, None, config)

    def whole_scan() -> None:
        result = asyncio.run(scan.scan(store=False))
        assert len(result.signals) == len(frames), result.skipped[:3]

    whole_scan()  # warm-up
    bare_talib(frames)
    t_bare = best_of(args.rounds, lambda: bare_talib(frames))
    t_raw = best_of(args.rounds, lambda: bare_talib(frames, undecorated=True))
    t_scan = best_of(args.rounds, whole_scan)
    with_news = sum(s.components.sentiment is not None for s in asyncio.run(scan.scan(store=False)).signals)

    table = Table(
        title=f"scan: {len(frames):,} symbols x {args.bars} 1h bars (best of {args.rounds}, one core)"
    )
    table.add_column("what")
    table.add_column("seconds", justify="right")
    table.add_column("symbols/s", justify="right")
    table.add_column("x bare TA-Lib", justify="right")
    table.add_row(
        "bare TA-Lib calls (public functions)", f"{t_bare:.4f}", f"{len(frames) / t_bare:,.0f}", "1.00"
    )
    table.add_row(
        "bare TA-Lib calls (undecorated)",
        f"{t_raw:.4f}",
        f"{len(frames) / t_raw:,.0f}",
        f"{t_raw / t_bare:.2f}",
    )
    table.add_row(
        "whole scan (in-process stores)",
        f"{t_scan:.4f}",
        f"{len(frames) / t_scan:,.0f}",
        f"{t_scan / t_bare:.2f}",
    )
    if args.sqlite:
        t_sql = asyncio.run(sqlite_scan(universe, headlines, max(1, args.rounds // 2)))
        table.add_row(
            "whole scan (SQLite store)",
            f"{t_sql:.4f}",
            f"{len(frames) / t_sql:,.0f}",
            f"{t_sql / t_bare:.2f}",
        )
    console.print(table)
    console.print(f"{with_news} of {len(frames)} signals had headlines in their window.")
    ratio = t_scan / t_bare
    ratio_raw = t_scan / t_raw
    ok_rate = len(frames) / t_scan >= 1000
    console.print(
        f"goal >= 1,000 symbols/s: {'met' if ok_rate else 'NOT met'} ({len(frames) / t_scan:,.0f}); "
        f"goal <= 1.5 x bare TA-Lib: {'met' if ratio <= 1.5 else 'NOT met'} ({ratio:.2f} x the public functions, "
        f"{ratio_raw:.2f} x the undecorated ones)"
    )


if __name__ == "__main__":
    main()
