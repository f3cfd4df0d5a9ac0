"""The bundled real dataset that ships inside the package (``tsbot/data``).

Files are read through :mod:`importlib.resources`, so this works from a source checkout and from an installed
wheel. ``manifest.json`` lists every candle series and the news file; ``DATA.md`` at the project root names
the sources, their licences and every transformation, and ``scripts/build_dataset.py`` rebuilds the files.

Candle files are gzip CSV with the header ``open_time_ms,open,high,low,close,volume``: open time of the bar in
integer milliseconds since the epoch, UTC (daily stock bars open at the session date 00:00 UTC), prices in
quote currency, volume in base units. Rows are raw: as the source has them, not validated (gaps and
zero-volume bars stay).

The news file is gzip CSV with ``published_at,source,title,summary,url``; ``published_at`` is ISO-8601 UTC
(``Z``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import warnings
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np

from tsbot.core.enums import AssetClass
from tsbot.core.errors import ConfigError, DataError
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.sentiment.models import Headline

CANDLE_HEADER = "open_time_ms,open,high,low,close,volume"
NEWS_HEADER = ("published_at", "source", "title", "summary", "url")
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class BundledSeries:
    """One bundled candle series as the manifest lists it.

    Attributes:
        key: exchange, symbol and timeframe (``binance:BTC/USDT:1h``, ``us:SPY:1d``).
        asset_class: crypto or stock.
        resource: path of the gzip CSV relative to the package data folder
            (``candles/binance/1h/BTC_USDT.csv.gz``).
        rows: number of candle rows in the file.
    """

    key: SeriesKey
    asset_class: AssetClass
    resource: str
    rows: int


def data_root() -> Traversable:
    """The package data folder (``tsbot/data``) as an :mod:`importlib.resources` traversable."""
    return resources.files("tsbot").joinpath("data")


def _read_bytes(path: Path | Traversable) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"bundled file {path} cannot be read: {exc}") from exc


def _gunzip_text(path: Path | Traversable) -> str:
    try:
        return gzip.decompress(_read_bytes(path)).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"bundled file {path} is corrupt: {exc}") from exc


def read_manifest(root: Path | Traversable | None = None) -> dict:
    """The parsed ``manifest.json`` of the data folder ``root`` (default: the package's).

    Raises:
        DataError: the manifest is missing or is not valid JSON.
    """
    path = (root if root is not None else data_root()).joinpath(MANIFEST)
    try:
        return json.loads(_read_bytes(path).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"bundled file {path} is corrupt: {exc}") from exc


def bundled_series(root: Path | Traversable | None = None) -> list[BundledSeries]:
    """Every candle series in the bundled dataset, in manifest order (crypto pairs, then stocks).

    Args:
        root: data folder to read; default the package's ``tsbot/data``.

    Raises:
        DataError: the manifest is missing, corrupt, or an entry lacks a field or has an unknown value.
    """
    manifest = read_manifest(root)
    out: list[BundledSeries] = []
    try:
        for entry in manifest["series"]:
            key = SeriesKey(entry["exchange"], entry["symbol"], Timeframe.parse(entry["timeframe"]))
            out.append(
                BundledSeries(key, AssetClass(entry["asset_class"]), entry["path"], int(entry["rows"]))
            )
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise DataError(f"bundled manifest has a bad series entry: {exc!r}") from exc
    return out


def read_candle_file(path: Path | Traversable, expected_rows: int | None = None) -> np.ndarray:
    """Parse one gzip candle CSV into raw rows.

    Returns:
        float64 array of shape ``(n, 6)``: open time (ms since the epoch, UTC; exact in float64), open, high,
        low, close, volume. Rows are unvalidated, in file order. ``(0, 6)`` for a file with only a header.

    Raises:
        DataError: the file is missing, not gzip, truncated, has another header, a row that is not six
            numbers, or a row count other than ``expected_rows`` (the message names the file).
    """
    text = _gunzip_text(path)
    header, _, body = text.partition("\n")
    if header.strip() != CANDLE_HEADER:
        raise DataError(f"bundled file {path} has header {header[:80]!r}, expected {CANDLE_HEADER!r}")
    if body.strip():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                rows = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)
        except (ValueError, UserWarning) as exc:
            raise DataError(f"bundled file {path} has a malformed row: {exc}") from exc
    else:
        rows = np.empty((0, 6), dtype=np.float64)
    if rows.shape[1] != 6:
        raise DataError(f"bundled file {path} has {rows.shape[1]} columns, expected 6")
    if expected_rows is not None and rows.shape[0] != expected_rows:
        raise DataError(f"bundled file {path} has {rows.shape[0]} rows, the manifest says {expected_rows}")
    return rows


def read_bundled_rows(series: BundledSeries, root: Path | Traversable | None = None) -> np.ndarray:
    """Raw candle rows of one bundled series: float64, shape ``(series.rows, 6)``; see
    :func:`read_candle_file` for the columns.

    Raises:
        DataError: the file is missing or corrupt, or its row count differs from the manifest.
    """
    path = (root if root is not None else data_root()).joinpath(*series.resource.split("/"))
    return read_candle_file(path, expected_rows=series.rows)


def read_headline_file(path: Path | Traversable) -> list[Headline]:
    """Parse a gzip news CSV into headlines, in file order (oldest first in the bundled file).

    Returns:
        Headlines with aware UTC ``published_at``, ``assets=()`` and ``score=None``.

    Raises:
        DataError: the file is missing or corrupt, has another header, or a time that is not ISO-8601 UTC.
    """
    reader = csv.reader(io.StringIO(_gunzip_text(path), newline=""))
    header = tuple(next(reader, ()))
    if header != NEWS_HEADER:
        raise DataError(f"bundled file {path} has header {header!r}, expected {NEWS_HEADER!r}")
    out: list[Headline] = []
    for line_no, row in enumerate(reader, start=2):
        if len(row) != len(NEWS_HEADER):
            raise DataError(f"bundled file {path} record {line_no} has {len(row)} fields, expected 5")
        try:
            at = datetime.fromisoformat(row[0])
        except ValueError as exc:
            raise DataError(f"bundled file {path} record {line_no} has a bad time {row[0]!r}") from exc
        if at.tzinfo is None or at.utcoffset() != timedelta(0):
            raise DataError(f"bundled file {path} record {line_no} time {row[0]!r} is not UTC")
        out.append(Headline(at.astimezone(UTC), row[1], row[2], row[3], row[4]))
    return out


def read_bundled_headlines(root: Path | Traversable | None = None) -> list[Headline]:
    """All bundled news headlines (7,524 crypto articles, Oct 2021 to Jul 2022), oldest first.

    Returns:
        Headlines with aware UTC ``published_at``, ``assets=()``, ``score=None``. Summary is the article lead.

    Raises:
        DataError: the manifest or the news file is missing or corrupt, or its row count differs from the
            manifest.
    """
    base = root if root is not None else data_root()
    news = read_manifest(base).get("news") or {}
    try:
        resource, rows = str(news["path"]), int(news["rows"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"bundled manifest has a bad news entry: {exc!r}") from exc
    path = base.joinpath(*resource.split("/"))
    headlines = read_headline_file(path)
    if len(headlines) != rows:
        raise DataError(f"bundled file {path} has {len(headlines)} headlines, the manifest says {rows}")
    return headlines
