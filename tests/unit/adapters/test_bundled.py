"""The bundled dataset inside the package: manifest, candle files, headlines, and errors on bad files."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tsbot.adapters.bundled import (
    CANDLE_HEADER,
    BundledSeries,
    bundled_series,
    read_bundled_headlines,
    read_bundled_rows,
    read_candle_file,
    read_headline_file,
    read_manifest,
)
from tsbot.core.enums import AssetClass
from tsbot.core.errors import DataError
from tsbot.market.models import SeriesKey, Timeframe

CRYPTO_BASES = {"ADA", "AVAX", "BNB", "BTC", "DOGE", "DOT", "ETH", "LINK", "LTC", "MATIC", "SOL", "XRP"}
STOCKS = {"AAPL", "IBM", "KO", "MSFT", "SPY"}


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return read_manifest()


@pytest.fixture(scope="module")
def loaded() -> list[tuple[BundledSeries, np.ndarray]]:
    return [(s, read_bundled_rows(s)) for s in bundled_series()]


def test_manifest_lists_the_expected_series() -> None:
    series = bundled_series()
    keys = {s.key for s in series}
    assert len(keys) == len(series) == 17
    assert {SeriesKey("binance", f"{b}/USDT", Timeframe.H1) for b in CRYPTO_BASES} <= keys
    assert {SeriesKey("us", t, Timeframe.D1) for t in STOCKS} <= keys
    for s in series:
        expected = AssetClass.CRYPTO if s.key.exchange == "binance" else AssetClass.STOCK
        assert s.asset_class is expected


def test_every_series_loads_with_the_manifest_row_count(loaded, manifest) -> None:
    by_path = {e["path"]: e for e in manifest["series"]}
    for series, rows in loaded:
        entry = by_path[series.resource]
        assert rows.dtype == np.float64
        assert rows.shape == (series.rows, 6) == (entry["rows"], 6)
        assert rows[0, 0] == _ms(entry["first_open_at"])
        assert rows[-1, 0] == _ms(entry["last_open_at"])
        assert np.all(np.isfinite(rows))


def test_open_times_strictly_increase(loaded) -> None:
    # None of the sources repeats or reorders a bar in the bundled range, so no exception is needed.
    for series, rows in loaded:
        t = rows[:, 0]
        assert np.all(t == np.round(t)), series.key
        assert np.all(np.diff(t) > 0), series.key
        assert np.all(t % series.key.timeframe.ms == 0), series.key


def test_crypto_range_starts_2021_and_drops_the_last_source_candle(loaded) -> None:
    for series, rows in loaded:
        if series.asset_class is AssetClass.CRYPTO:
            assert rows[0, 0] == _ms("2021-01-01T00:00:00+00:00")
            # the source files end at the 10:00 bar, which may have been open when saved
            assert rows[-1, 0] == _ms("2022-10-11T09:00:00+00:00")


def test_headlines_are_aware_utc_inside_the_stated_range(manifest) -> None:
    headlines = read_bundled_headlines()
    news = manifest["news"]
    first = datetime.fromisoformat(news["first_published_at"])
    last = datetime.fromisoformat(news["last_published_at"])
    assert len(headlines) == news["rows"] == 7524
    for h in headlines:
        assert h.published_at.tzinfo is not None
        assert h.published_at.utcoffset() == timedelta(0)
        assert first <= h.published_at <= last
        assert h.assets == ()
        assert h.score is None
    times = [h.published_at for h in headlines]
    assert times == sorted(times)
    assert times[0] == first and times[-1] == last
    assert {h.source for h in headlines} == {"CoinTelegraph", "CryptoNews", "CryptoPotato"}


def test_date_only_news_stamps_are_moved_to_the_end_of_their_day() -> None:
    headlines = read_bundled_headlines()
    assert not any(h.published_at.time() == datetime.min.time() for h in headlines)
    end_of_day = [h for h in headlines if (h.published_at.hour, h.published_at.minute) == (23, 59)]
    assert any(h.published_at.second == 59 for h in end_of_day)


# ----------------------------------------------------------------------------------------------- bad files


def _write_gz(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    return path


def test_corrupt_gzip_raises_data_error_naming_the_file(tmp_path: Path) -> None:
    good = gzip.compress(f"{CANDLE_HEADER}\n1,2,3,1,2,5\n".encode(), mtime=0)
    path = tmp_path / "BTC_USDT.csv.gz"
    path.write_bytes(good[:10] + b"\x00garbage" + good[18:])
    with pytest.raises(DataError, match="BTC_USDT.csv.gz"):
        read_candle_file(path)


def test_truncated_gzip_raises_data_error(tmp_path: Path) -> None:
    good = gzip.compress((f"{CANDLE_HEADER}\n" + "1,2,3,1,2,5\n" * 500).encode(), mtime=0)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="cut.csv.gz"):
        read_candle_file(path)


def test_not_gzip_and_missing_files_raise_data_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv.gz"
    plain.write_text(f"{CANDLE_HEADER}\n1,2,3,1,2,5\n")
    with pytest.raises(DataError, match="plain.csv.gz"):
        read_candle_file(plain)
    with pytest.raises(DataError, match="absent.csv.gz"):
        read_candle_file(tmp_path / "absent.csv.gz")
    with pytest.raises(DataError, match="absent_news.csv.gz"):
        read_headline_file(tmp_path / "absent_news.csv.gz")


def test_bad_header_rows_and_counts_raise_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="header"):
        read_candle_file(_write_gz(tmp_path / "h.csv.gz", "time,o,h,l,c,v\n1,2,3,1,2,5\n"))
    with pytest.raises(DataError, match="malformed"):
        read_candle_file(_write_gz(tmp_path / "r.csv.gz", f"{CANDLE_HEADER}\n1,2,3,1,2,5\n2,x,3,1,2,5\n"))
    with pytest.raises(DataError, match="malformed|columns"):
        read_candle_file(_write_gz(tmp_path / "c.csv.gz", f"{CANDLE_HEADER}\n1,2,3,1,2\n"))
    with pytest.raises(DataError, match="rows"):
        read_candle_file(_write_gz(tmp_path / "n.csv.gz", f"{CANDLE_HEADER}\n1,2,3,1,2,5\n"), expected_rows=2)


def test_reader_on_a_path_returns_raw_rows(tmp_path: Path) -> None:
    # repeated and out-of-order times stay as written: the importer validates, not the reader
    body = "3600000,1.5,2,1,1.75,0\n0,1,2,0.5,1.5,10.25\n0,1,2,0.5,1.5,10.25\n"
    rows = read_candle_file(_write_gz(tmp_path / "raw.csv.gz", f"{CANDLE_HEADER}\n{body}"), expected_rows=3)
    assert rows.shape == (3, 6)
    assert rows[0].tolist() == [3600000.0, 1.5, 2.0, 1.0, 1.75, 0.0]
    empty = read_candle_file(_write_gz(tmp_path / "empty.csv.gz", f"{CANDLE_HEADER}\n"))
    assert empty.shape == (0, 6)


def test_headline_file_reader(tmp_path: Path) -> None:
    text = (
        "published_at,source,title,summary,url\n"
        '2022-01-12T13:05:00Z,CoinTelegraph,"BTC, ETH rise","Lead, with comma",https://example.org/a\n'
    )
    (h,) = read_headline_file(_write_gz(tmp_path / "news.csv.gz", text))
    assert h.published_at == datetime(2022, 1, 12, 13, 5, tzinfo=UTC)
    assert (h.title, h.summary, h.url) == ("BTC, ETH rise", "Lead, with comma", "https://example.org/a")
    naive = text.replace("13:05:00Z", "13:05:00")
    with pytest.raises(DataError, match="not UTC"):
        read_headline_file(_write_gz(tmp_path / "naive.csv.gz", naive))
    with pytest.raises(DataError, match="header"):
        read_headline_file(_write_gz(tmp_path / "hdr.csv.gz", "when,source,title,summary,url\n"))


def test_data_root_argument_and_corrupt_manifest(tmp_path: Path) -> None:
    (tmp_path / "candles").mkdir()
    _write_gz(tmp_path / "candles" / "X.csv.gz", f"{CANDLE_HEADER}\n0,1,2,0.5,1.5,3\n")
    entry = {
        "exchange": "us",
        "symbol": "X",
        "timeframe": "1d",
        "asset_class": "stock",
        "path": "candles/X.csv.gz",
        "rows": 1,
    }
    (tmp_path / "manifest.json").write_text(json.dumps({"series": [entry]}))
    (series,) = bundled_series(tmp_path)
    assert read_bundled_rows(series, tmp_path).shape == (1, 6)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="manifest.json"):
        bundled_series(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"series": [{**entry, "timeframe": "7h"}]}))
    with pytest.raises(DataError, match="series entry"):
        bundled_series(tmp_path)
