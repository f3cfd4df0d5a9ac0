#!/usr/bin/env python
"""Build tsbot's bundled real dataset from the shared data folder.

Reads ``<repo>/../shared/data`` (or ``--source DIR``) and writes ``src/tsbot/data`` (or ``--out DIR``):

* ``candles/<exchange>/<timeframe>/<BASE>_<QUOTE>.csv.gz`` (stocks: ``<TICKER>.csv.gz``) with the header
  ``open_time_ms,open,high,low,close,volume``; open time is the bar's open, integer milliseconds, UTC;
* ``news/cryptonews.csv.gz`` with ``published_at,source,title,summary,url`` (time ISO-8601 UTC, ``Z``);
* ``sentiment/twitter_financial_news_{train,valid}.csv.gz`` (``text,label``; 0 bearish, 1 bullish, 2 neutral), the
  data the default sentiment model is trained and validated on (``tsbot sentiment train``);
* ``manifest.json`` listing every series, the news file and the sources.

The output is deterministic: gzip members carry no name and mtime 0, rows keep a fixed order, and numbers are
written in Python's shortest round-trip form (``repr``), so no precision is lost. Running it twice gives
byte-identical files. See ``DATA.md`` for the sources, licences and every transformation.

``--news-tz-report`` writes nothing: it prints the evidence used to fix the news time zone (see DATA.md).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "src" / "tsbot" / "data"

CANDLE_HEADER = ("open_time_ms", "open", "high", "low", "close", "volume")
NEWS_HEADER = ("published_at", "source", "title", "summary", "url")

BINANCE_DIR = "ohlcv/crypto/binance_1h_4h_1d_2017-2022"
CRYPTO_BASES = ("ADA", "AVAX", "BNB", "BTC", "DOGE", "DOT", "ETH", "LINK", "LTC", "MATIC", "SOL", "XRP")
CRYPTO_QUOTE = "USDT"
CRYPTO_START = datetime(2021, 1, 1, tzinfo=UTC)
# (ticker, path under the source folder, source id)
STOCKS = (
    ("AAPL", "ohlcv/stocks/zipline/AAPL.csv", "zipline"),
    ("IBM", "ohlcv/stocks/zipline/IBM.csv", "zipline"),
    ("KO", "ohlcv/stocks/zipline/KO.csv", "zipline"),
    ("MSFT", "ohlcv/stocks/zipline/MSFT.csv", "zipline"),
    ("SPY", "ohlcv/stocks/pandas-ta/SPY_D.csv", "pandas-ta"),
)
NEWS_PATH = "news/nyu_crypto_team4_cryptonews/cryptonews_normalized.csv"

# The news timestamps are wall-clock times at this offset from UTC (hours); see DATA.md for the evidence.
NEWS_UTC_OFFSET_HOURS = 0
# A stamp of exactly 00:00 is a date without a time of day: publish it at the end of that day instead.
NEWS_DATE_ONLY_END = timedelta(hours=23, minutes=59, seconds=59)

SOURCES = {
    "binance": {
        "repo": "djienne/3EMA_SRSI_ATR",
        "commit": "29af186a",
        "path": "user_data/data/binance/<BASE>_USDT-1h.json",
        "licence": "none declared; Binance public market data",
        "taken": f"1h candles of 12 USDT pairs from {CRYPTO_START:%Y-%m-%d}, each file's last candle dropped",
    },
    "pandas-ta": {
        "repo": "twopirllc/pandas-ta",
        "commit": "b465491f",
        "path": "data/SPY_D.csv",
        "licence": "MIT",
        "taken": "SPY daily candles, all rows; index column dropped",
    },
    "zipline": {
        "repo": "quantopian/zipline",
        "commit": "014f1fc3",
        "path": "daily sample files AAPL.csv, IBM.csv, KO.csv, MSFT.csv",
        "licence": "Apache-2.0",
        "taken": "daily candles, all rows; dividend and split columns dropped",
    },
    "cryptonews": {
        "repo": "nyu-tandon-capstone/crypto-team4",
        "commit": "f46f0354",
        "path": "data/cryptonews.csv",
        "licence": "MIT",
        "taken": "all 7,524 articles: time, source, title, text (as summary), url; "
        "subject and TextBlob columns dropped",
    },
}

NEWS_TIMEZONE_NOTE = (
    "The source does not state its time zone. Headlines naming a BTC/ETH price level being crossed "
    "line up with the hour Binance candles crossed it when the stamps are read as UTC (offsets from "
    "-8 h to +8 h tested; +1 h and later put many headlines before the move), so they are read as UTC. "
    "Stamps of exactly 00:00 are dates without a time of day and are moved to 23:59:59Z of that date "
    "so that no backtest sees them early."
)


# ------------------------------------------------------------------------------------------------ formatting


def fmt_num(value: float) -> str:
    """Shortest text that parses back to the same float64 (``repr``), without a trailing ``.0``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def iso_utc(ms: int) -> str:
    """``"2021-01-01T00:00:00Z"`` for milliseconds since the epoch, UTC."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gzip_bytes(text: str) -> bytes:
    """Gzip ``text`` (UTF-8) reproducibly: no file name, mtime 0, level 9."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def candle_csv(rows: Iterable[tuple[int, float, float, float, float, float]]) -> str:
    lines = [",".join(CANDLE_HEADER)]
    lines.extend(f"{int(r[0])}," + ",".join(fmt_num(v) for v in r[1:6]) for r in rows)
    return "\n".join(lines) + "\n"


def day_open_ms(text: str) -> int:
    """Open time of a daily bar: the session date at 00:00 UTC, in milliseconds."""
    return (date.fromisoformat(text) - date(1970, 1, 1)).days * 86_400_000


# --------------------------------------------------------------------------------------------------- readers


def read_binance(source: Path, base: str) -> list[list[float]]:
    """Rows of one freqtrade JSON file from ``CRYPTO_START`` on, minus the file's last (maybe open) candle."""
    path = source / BINANCE_DIR / f"{base}_{CRYPTO_QUOTE}-1h.json"
    rows = json.loads(path.read_text(encoding="utf-8"))[:-1]
    start_ms = int(CRYPTO_START.timestamp() * 1000)
    return [r for r in rows if r[0] >= start_ms]


def read_stock(path: Path) -> list[tuple[int, float, float, float, float, float]]:
    """Daily rows of a pandas-ta or zipline CSV; other columns (index, dividend, split) are dropped."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return [
            (day_open_ms(r["date"]), *(float(r[c]) for c in ("open", "high", "low", "close", "volume")))
            for r in reader
        ]


def news_published_at(local: str) -> datetime:
    """Convert a source stamp (``2022-01-12T13:05``) to aware UTC (offset and date-only rule above)."""
    stamp = datetime.fromisoformat(local)
    if stamp.tzinfo is not None:
        raise ValueError(f"unexpected zone in news stamp {local!r}")
    if stamp.hour == 0 and stamp.minute == 0 and stamp.second == 0:
        stamp = stamp + NEWS_DATE_ONLY_END
    return (stamp - timedelta(hours=NEWS_UTC_OFFSET_HOURS)).replace(tzinfo=UTC)


def read_news(source: Path) -> list[tuple[datetime, str, str, str, str]]:
    """All articles as ``(published_at, source, title, summary, url)``, oldest first (stable sort)."""
    with (source / NEWS_PATH).open(newline="", encoding="utf-8") as fh:
        rows = [
            (news_published_at(r["published_local"]), r["source"], r["title"], r["text"], r["url"])
            for r in csv.DictReader(fh)
        ]
    rows.sort(key=lambda r: r[0])
    return rows


# ----------------------------------------------------------------------------------------------------- build


def _series_entry(exchange: str, symbol: str, tf: str, asset_class: str, rel: str, rows, source: str) -> dict:
    return {
        "exchange": exchange,
        "symbol": symbol,
        "timeframe": tf,
        "asset_class": asset_class,
        "path": rel,
        "rows": len(rows),
        "first_open_at": iso_utc(int(rows[0][0])),
        "last_open_at": iso_utc(int(rows[-1][0])),
        "source": source,
    }


def build(source: Path, out: Path, progress: bool = True) -> dict:
    """Write every bundled file under ``out`` and return the manifest.

    Raises:
        FileNotFoundError: a source file is missing.
        ValueError: a source row cannot be parsed.
    """
    series: list[dict] = []
    news_entry: dict = {}
    outputs: dict[str, bytes] = {}

    def crypto_job(base: str) -> Callable[[], None]:
        def run() -> None:
            rows = read_binance(source, base)
            rel = f"candles/binance/1h/{base}_{CRYPTO_QUOTE}.csv.gz"
            outputs[rel] = gzip_bytes(candle_csv(rows))
            series.append(
                _series_entry("binance", f"{base}/{CRYPTO_QUOTE}", "1h", "crypto", rel, rows, "binance")
            )

        return run

    def stock_job(ticker: str, path: str, src: str) -> Callable[[], None]:
        def run() -> None:
            rows = read_stock(source / path)
            rel = f"candles/us/1d/{ticker}.csv.gz"
            outputs[rel] = gzip_bytes(candle_csv(rows))
            series.append(_series_entry("us", ticker, "1d", "stock", rel, rows, src))

        return run

    def news_job() -> None:
        rows = read_news(source)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(NEWS_HEADER)
        for at, *rest in rows:
            writer.writerow((at.strftime("%Y-%m-%dT%H:%M:%SZ"), *rest))
        rel = "news/cryptonews.csv.gz"
        outputs[rel] = gzip_bytes(buf.getvalue())
        news_entry.update(
            path=rel,
            rows=len(rows),
            first_published_at=rows[0][0].strftime("%Y-%m-%dT%H:%M:%SZ"),
            last_published_at=rows[-1][0].strftime("%Y-%m-%dT%H:%M:%SZ"),
            source="cryptonews",
            timezone_note=NEWS_TIMEZONE_NOTE,
        )

    def sentiment_job() -> None:
        """The labelled sentiment splits the default model trains and validates on, rows unchanged, ``\n`` ends."""
        folder = source / "sentiment" / "twitter_financial_news_sentiment"
        for split, name in (("train", "sent_train.csv"), ("valid", "sent_valid.csv")):
            with (folder / name).open(encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(rows)
            outputs[f"sentiment/twitter_financial_news_{split}.csv.gz"] = gzip_bytes(buf.getvalue())

    jobs: list[tuple[str, Callable[[], None]]] = [
        (f"{b}/{CRYPTO_QUOTE} 1h", crypto_job(b)) for b in CRYPTO_BASES
    ]
    jobs += [(f"{t} 1d", stock_job(t, p, s)) for t, p, s in STOCKS]
    jobs.append(("news", news_job))
    jobs.append(("sentiment", sentiment_job))

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("building", total=len(jobs) + 1)
        for label, job in jobs:
            bar.update(task, description=label)
            job()
            bar.advance(task)
        bar.update(task, description="writing")
        manifest = {
            "format": 1,
            "candle_columns": list(CANDLE_HEADER),
            "time_note": "open_time_ms is the bar's open time in milliseconds since the epoch, UTC; "
            "daily stock bars open at the session date 00:00 UTC",
            "series": series,
            "news": news_entry,
            "sources": [{"id": key, **value} for key, value in SOURCES.items()],
        }
        outputs["manifest.json"] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        for rel, data in sorted(outputs.items()):
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        bar.advance(task)
    return manifest


# ---------------------------------------------------------------------------------------- news time evidence

_ASSET = r"(?P<a>Bitcoin|BTC|Ethereum|Ether|ETH)(?:\s+price)?"
_LEVEL = r"(?:\$\s?|USD\s?)(?P<l>\d[\d,]*(?:\.\d+)?)\s?(?P<k>[Kk])?\b"
_DOWN = (
    r"(?:drops?|dips?|falls?|slides?|sinks?|slips?|tumbles?|plunges?|crash(?:es)?|dives?|dumps?|loses|breaks)"
)
_UP = (
    r"(?:rises?|climbs?|jumps?|surges?|spikes?|soars?|reclaims?|tops|hits|returns?|bounces?|rebounds?|passes)"
)
_PATTERNS = (
    (
        re.compile(_ASSET + r"\s+" + _DOWN + r"\s+(?:back\s+)?(?:below|under|beneath|to)?\s*" + _LEVEL, re.I),
        -1,
    ),
    (re.compile(_ASSET + r"\s+" + _UP + r"\s+(?:back\s+)?(?:above|over|past|to)?\s*" + _LEVEL, re.I), 1),
    (re.compile(_ASSET + r"[^,;:]{0,20}?\b(?:below|under|beneath)\s+" + _LEVEL, re.I), -1),
    (re.compile(_ASSET + r"[^,;:]{0,20}?\b(?:above|over)\s+" + _LEVEL, re.I), 1),
)
_HEDGED = re.compile(
    r"\b(eyes?|aims?|needs?|could|may|might|will|would|targets?|nears|closes in|risks?|expect|toward"
    r"|if|can|must|fails?|predict|forecast|until|before|stuck|holds?|remains?|stays?|testing|tests?)\b|\?",
    re.I,
)


def news_tz_report(source: Path, offsets: range = range(-8, 9)) -> None:
    """Print, per assumed UTC offset, how many price-level headlines follow the Binance crossing they report.

    A headline such as "Bitcoin dips below $40K" can only be published after the hour in which BTC/USDT
    first crossed 40,000 coming from the other side. For each offset ``k`` (stamp = UTC + k hours) it
    counts headlines published 0-2 h after such a crossing, and headlines with no crossing in the 12 h
    before but one in the 3 h after (published before the move: impossible at the right offset).
    Stamps of exactly 00:00 (dates without a time) are left out.
    """
    import numpy as np

    candles = {
        a: np.asarray(json.loads((source / BINANCE_DIR / f"{a}_USDT-1h.json").read_text()), dtype=float)
        for a in ("BTC", "ETH")
    }
    hour = 3_600_000
    events: list[tuple[str, np.ndarray]] = []
    with (source / NEWS_PATH).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            title = row["title"]
            if _HEDGED.search(title) or row["published_local"].endswith("T00:00"):
                continue
            for pattern, side in _PATTERNS:
                m = pattern.search(title)
                if not m:
                    continue
                asset = "BTC" if m["a"].upper() in ("BITCOIN", "BTC") else "ETH"
                level = float(m["l"].replace(",", "")) * (1000 if m["k"] else 1)
                if not (15_000 < level < 80_000 if asset == "BTC" else 800 < level < 6_000):
                    break
                c = candles[asset]
                prev_close = np.r_[c[0, 4], c[:-1, 4]]
                if side < 0:
                    onset = (c[:, 3] <= level) & (prev_close > level)
                else:
                    onset = (c[:, 2] >= level) & (prev_close < level)
                stamp = datetime.fromisoformat(row["published_local"]).replace(tzinfo=UTC).timestamp() * 1000
                crossings = c[onset, 0]
                near = crossings[np.abs(crossings - stamp) < 72 * hour]
                if near.size:
                    events.append((row["source"], (stamp - near) / hour))
                break
    print(f"{len(events)} headlines name a BTC/ETH level crossed within 72 h of their stamp")
    for name in (None, "CoinTelegraph", "CryptoNews", "CryptoPotato"):
        group = [lags for src, lags in events if name is None or src == name]
        print(f"\n{name or 'all sources'} ({len(group)} headlines)")
        print("  offset  published 0-2 h after crossing  published before crossing")
        for k in offsets:
            tight = sum(bool(np.any((lags - k >= 0) & (lags - k <= 2))) for lags in group)
            early = sum(
                not np.any((lags - k >= 0) & (lags - k <= 12))
                and bool(np.any((lags - k < 0) & (lags - k >= -3)))
                for lags in group
            )
            print(f"  UTC{k:+d}h  {tight:30d}  {early:25d}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (the package data dir)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--news-tz-report", action="store_true", help="print the news time zone evidence only"
    )
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        parser.error(f"source folder not found: {args.source}")
    if args.news_tz_report:
        news_tz_report(args.source)
        return 0
    manifest = build(args.source, args.out, progress=not args.quiet)
    total = sum(s["rows"] for s in manifest["series"])
    print(
        f"{len(manifest['series'])} series ({total} candles), "
        f"{manifest['news']['rows']} headlines -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
