"""``SignalOut.many`` (a page validated in one call) answers what ``SignalOut.stored`` answers one by one, down to
the JSON: rounding, nulls, empty lists, headlines, times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from tsbot.adapters.storage.signal_queries import StoredSignal
from tsbot.apps.api.signal_models import SignalOut
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, HeadlineRef, Signal

AT = datetime(2024, 3, 1, 12, tzinfo=UTC)


def stored() -> list[StoredSignal]:
    buy = Signal(
        SeriesKey("binance", "BTC/USDT", Timeframe.H1),
        AT,
        Action.BUY,
        0.123456789,
        0.5,
        64_000.5,
        62_000.0,
        [66_000.5, 68_000.5, 70_000.5],
        Components(0.2, -0.1234567, None),
        ["RSI turned up", "price above SMA(50)"],
        [HeadlineRef("ETF inflows", "rss", "https://example.com/a", AT, 0.8, 0.25)],
    )
    hold = Signal(
        SeriesKey("alpaca", "AAPL", Timeframe.D1),
        AT,
        Action.HOLD,
        0.0,
        0.0,
        190.0,
        None,
        [],
        Components(0.0, None, None),
        [],
    )
    return [StoredSignal(7, buy, AT), StoredSignal(8, hold, AT)]


def test_many_is_stored_one_by_one() -> None:
    items = stored()
    assert SignalOut.many(items) == [SignalOut.stored(i) for i in items]
    assert SignalOut.many([]) == []


def test_the_json_of_a_page() -> None:
    first, second = (s.model_dump(mode="json") for s in SignalOut.many(stored()))
    assert first == {
        "id": 7,
        "symbol": "BTC/USDT",
        "exchange": "binance",
        "timeframe": "1h",
        "as_of": "2024-03-01T12:00:00Z",
        "action": "BUY",
        "score": 0.123457,
        "confidence": 0.5,
        "price": 64000.5,
        "stop_loss": 62000.0,
        "take_profit": [66000.5, 68000.5, 70000.5],
        "components": {"technical": 0.2, "sentiment": -0.1234567, "ml": None},
        "reasons": ["RSI turned up", "price above SMA(50)"],
        "headlines": [
            {
                "title": "ETF inflows",
                "source": "rss",
                "url": "https://example.com/a",
                "published_at": "2024-03-01T12:00:00Z",
                "score": 0.8,
                "contribution": 0.25,
            }
        ],
        "created_at": "2024-03-01T12:00:00Z",
    }
    assert second["stop_loss"] is None and second["take_profit"] == [] and second["headlines"] == []
    assert second["components"] == {"technical": 0.0, "sentiment": None, "ml": None}
