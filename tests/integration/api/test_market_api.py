"""Market data (/api/v1/market-data) and sentiment (/api/v1/sentiment) over the bundled candles (the last 300 bars
of BTC/USDT and ETH/USDT 1h and AAPL 1d) and headlines stored with known scores, on SQLite and PostgreSQL:
candles with TA-Lib indicators, the 30 s cache (in process and in Redis), the overview, sentiment readings; who may
call; bad inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import redis
from tests.integration.api.conftest import REDIS_URL, Serve, sign_in
from tests.integration.api.test_signals_api import LAST_CLOSE_1H, load_market

from tsbot.accounts.models import Role
from tsbot.apps.api import auth
from tsbot.apps.api.cache import caches_of
from tsbot.apps.api.market import CACHE_NAME, DEFAULT_INDICATORS
from tsbot.indicators.features import FEATURE_NAMES
from tsbot.sentiment.models import Headline
from tsbot.wiring import Services

URL = "/api/v1/market-data"


async def test_candles_with_indicators_and_the_cache(serve: Serve, services: Services) -> None:
    rows = await load_market(services)
    btc = np.asarray(rows["BTC/USDT"])
    async with serve() as api:
        h = (await sign_in(api, Role.VIEWER)).headers
        first = await api.client.get(f"{URL}/BTC-USDT", params={"timeframe": "1h", "limit": 50}, headers=h)
        assert first.status_code == 200, first.text
        assert first.headers["x-cache"] == "miss"
        data = first.json()
        assert (data["symbol"], data["exchange"], data["timeframe"]) == ("BTC/USDT", "binance", "1h")
        candles = data["candles"]
        assert len(candles) == 50 and candles[-1]["open_time"] == "2022-10-11T09:00:00Z"
        assert [c["close"] for c in candles] == btc[-50:, 4].tolist()
        assert set(data["indicators"]) == set(DEFAULT_INDICATORS)
        assert all(len(v) == 50 for v in data["indicators"].values())
        # SMA(20) of the last bar is the mean of the last 20 closes; every value is past its warm-up (250 earlier
        # bars were loaded for it).
        assert data["latest"]["sma_20"] == pytest.approx(btc[-20:, 4].mean(), rel=1e-12)
        assert data["indicators"]["sma_200"][0] == pytest.approx(btc[-249:-49, 4].mean(), rel=1e-12)
        assert all(0 <= v <= 100 for v in data["indicators"]["rsi_14"])
        assert data["units"]["rsi_14"] == "0..100"

        again = await api.client.get(f"{URL}/BTC-USDT", params={"timeframe": "1h", "limit": 50}, headers=h)
        assert again.headers["x-cache"] == "hit" and again.json() == data
        (status,) = [c for c in await caches_of(api.app).status() if c.name == CACHE_NAME]
        assert (status.backend, status.ttl_s, status.hits, status.misses) == ("memory", 30, 1, 1)
        other = await api.client.get(f"{URL}/btcusdt", params={"limit": 50, "indicators": "all"}, headers=h)
        assert other.headers["x-cache"] == "miss" and set(other.json()["indicators"]) == set(FEATURE_NAMES)
        base = await api.client.get(f"{URL}/BTC", params={"limit": 1, "indicators": "rsi_14,ATR"}, headers=h)
        assert base.json()["symbol"] == "BTC/USDT" and set(base.json()["latest"]) == {"rsi_14", "atr"}

        # A stock has daily bars only: the finest stored timeframe is used when none is asked for.
        aapl = await api.client.get(f"{URL}/aapl", headers=h)
        assert aapl.status_code == 200 and aapl.json()["timeframe"] == "1d"
        assert len(aapl.json()["candles"]) == 200  # the default limit
        # Warm-up: with only 300 bars stored, the first of 300 candles has no SMA(200) yet.
        full = (await api.client.get(f"{URL}/AAPL", params={"limit": 1000}, headers=h)).json()
        assert len(full["candles"]) == 300 and full["indicators"]["sma_200"][0] is None


async def test_cache_in_redis(serve: Serve, services: Services) -> None:
    """With Redis configured the answer is cached there (shared by every worker), keyed by the database."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at {REDIS_URL} ({exc})")
    await load_market(services)
    before = set(client.scan_iter(match="tsbot:cache:market-data:*"))
    try:
        async with serve(redis_url=REDIS_URL) as api:
            h = (await sign_in(api, Role.API_USER)).headers
            params = {"limit": 7, "indicators": "obv"}
            first = await api.client.get(f"{URL}/ETH-USDT", params=params, headers=h)
            assert first.status_code == 200 and first.headers["x-cache"] == "miss"
            added = set(client.scan_iter(match="tsbot:cache:market-data:*")) - before
            assert len(added) == 1
            (key,) = added
            assert 0 < client.ttl(key) <= 30
            second = await api.client.get(f"{URL}/ETH-USDT", params=params, headers=h)
            assert second.headers["x-cache"] == "hit" and second.json() == first.json()
    finally:
        for key in set(client.scan_iter(match="tsbot:cache:market-data:*")) - before:
            client.delete(key)
        client.close()


async def test_overview(serve: Serve, services: Services) -> None:
    rows = await load_market(services)
    await services.scan_service().scan(["BTC/USDT"], as_of=LAST_CLOSE_1H)
    async with serve() as api:
        h = (await sign_in(api, Role.VIEWER)).headers
        first = await api.client.get(f"{URL}/all/overview", headers=h)
        assert first.status_code == 200 and first.headers["x-cache"] == "miss"
        page = first.json()
        assert page["total"] == 3 and [i["symbol"] for i in page["items"]] == ["AAPL", "BTC/USDT", "ETH/USDT"]
        items = {i["symbol"]: i for i in page["items"]}
        btc, aapl = np.asarray(rows["BTC/USDT"]), np.asarray(rows["AAPL"])
        b = items["BTC/USDT"]
        assert b["last_price"] == btc[-1, 4] and b["last_close_at"] == "2022-10-11T10:00:00Z"
        assert b["change_24h_pct"] == pytest.approx((btc[-1, 4] / btc[-25, 4] - 1) * 100, abs=1e-4)
        assert b["volume_24h"] == pytest.approx(btc[-24:, 5].sum(), rel=1e-12)
        assert b["high_24h"] == btc[-24:, 2].max() and b["low_24h"] == btc[-24:, 3].min()
        assert b["signal"]["as_of"] == "2022-10-11T10:00:00Z" and b["signal"]["timeframe"] == "1h"
        a = items["AAPL"]
        assert a["timeframe"] == "1d" and a["asset_class"] == "stock" and a["signal"] is None
        assert a["change_24h_pct"] == pytest.approx((aapl[-1, 4] / aapl[-2, 4] - 1) * 100, abs=1e-4)
        second = await api.client.get(f"{URL}/all/overview", headers=h)
        assert second.headers["x-cache"] == "hit" and second.json() == page
        paged = (
            await api.client.get(f"{URL}/all/overview", params={"limit": 1, "offset": 2}, headers=h)
        ).json()
        assert [i["symbol"] for i in paged["items"]] == ["ETH/USDT"] and paged["total"] == 3


async def test_market_data_refusals(serve: Serve, services: Services) -> None:
    """401 without a token; 403 for an API key without read_market; 404 for an unknown symbol or a timeframe
    not stored; 422 for unknown indicator names, an empty indicator list, limit 0 and 1001, a timeframe that
    does not exist and an exchange id with capitals."""
    await load_market(services)
    async with serve() as api:
        assert (await api.client.get(f"{URL}/BTC-USDT")).status_code == 401
        assert (await api.client.get(f"{URL}/all/overview")).status_code == 401
        viewer = await sign_in(api, Role.VIEWER)
        new = await auth.accounts_of_app(api.app).create_api_key(viewer.user.id, "signals", ["read_signals"])
        denied = await api.client.get(f"{URL}/BTC-USDT", headers={"Authorization": f"Bearer {new.key}"})
        assert denied.status_code == 403 and "read_market" in denied.json()["message"]
        h = viewer.headers
        unknown = await api.client.get(f"{URL}/DOGE-USDT", headers=h)
        assert (
            unknown.status_code == 404
            and "known symbols: AAPL, BTC/USDT, ETH/USDT" in unknown.json()["message"]
        )
        not_stored = await api.client.get(f"{URL}/BTC-USDT", params={"timeframe": "4h"}, headers=h)
        assert not_stored.status_code == 404 and "stored: binance 1h" in not_stored.json()["message"]
        for params in [
            {"indicators": "rsi_14,magic"},
            {"indicators": " , "},
            {"limit": 0},
            {"limit": 1001},
            {"timeframe": "2h"},
            {"exchange": "Binance"},
        ]:
            response = await api.client.get(f"{URL}/BTC-USDT", params=params, headers=h)
            assert response.status_code == 422, (params, response.text)


def _headline(i: int, at: datetime, score: float, assets: tuple[str, ...] = ("BTC",)) -> Headline:
    return Headline(
        published_at=at,
        source="CoinDesk",
        title=f"Bitcoin headline {i}",
        summary="",
        url=f"https://example.com/news/{i}",
        assets=assets,
        score=score,
    )


async def test_sentiment_of_one_asset_and_of_all(serve: Serve, services: Services) -> None:
    await load_market(services)
    at = datetime(2022, 10, 11, 12, tzinfo=UTC)
    ages_h, scores = [1.0, 6.0, 12.0, 30.0], [0.8, -0.4, 0.5, 0.9]
    await services.headlines.add(
        [
            _headline(i, at - timedelta(hours=a), s)
            for i, (a, s) in enumerate(zip(ages_h, scores, strict=True))
        ]
        + [_headline(9, at + timedelta(hours=1), -1.0)]  # after `at`: not known yet
    )
    # Decay-weighted mean over the 24 h window, half-life 12 h (trading.sentiment's default).
    weights = [0.5 ** (a / 12) for a in ages_h[:3]]
    expected = sum(w * s for w, s in zip(weights, scores, strict=False)) / sum(weights)
    async with serve() as api:
        h = (await sign_in(api, Role.API_USER)).headers
        params = {"at": "2022-10-11T12:00:00Z", "hours": 24}
        one = await api.client.get("/api/v1/sentiment/BTC", params=params, headers=h)
        assert one.status_code == 200, one.text
        reading = one.json()
        assert reading["asset"] == "BTC" and reading["as_of"] == "2022-10-11T12:00:00Z"
        assert reading["score"] == pytest.approx(expected, abs=1e-6) and reading["headlines"] == 3
        assert reading["thin"] is False and reading["window_hours"] == 24
        tops = reading["top_headlines"]
        assert [t["title"] for t in tops] == [
            "Bitcoin headline 0",
            "Bitcoin headline 1",
            "Bitcoin headline 2",
        ]
        assert tops[0]["source"] == "CoinDesk" and tops[0]["url"] == "https://example.com/news/0"
        assert tops[0]["published_at"] == "2022-10-11T11:00:00Z" and tops[0]["score"] == 0.8
        assert sum(t["contribution"] for t in tops) == pytest.approx(expected, abs=1e-5)
        by_symbol = await api.client.get("/api/v1/sentiment/btc-usdt", params=params, headers=h)
        assert by_symbol.json()["score"] == reading["score"]
        wide = (
            await api.client.get("/api/v1/sentiment/BTC", params={**params, "hours": 48}, headers=h)
        ).json()
        assert wide["headlines"] == 4

        page = (await api.client.get("/api/v1/sentiment", params={**params, "top": 1}, headers=h)).json()
        assert page["total"] == 3 and [i["asset"] for i in page["items"]] == ["AAPL", "BTC", "ETH"]
        items = {i["asset"]: i for i in page["items"]}
        assert items["BTC"]["score"] == reading["score"] and len(items["BTC"]["top_headlines"]) == 1
        assert items["ETH"]["score"] is None and items["ETH"]["headlines"] == 0 and items["ETH"]["thin"]
        now = (
            await api.client.get("/api/v1/sentiment/BTC", headers=h)
        ).json()  # now: the 2022 news is too old
        assert now["score"] is None and now["top_headlines"] == []

        assert (await api.client.get("/api/v1/sentiment/ZZZ", headers=h)).status_code == 404
        assert (await api.client.get("/api/v1/sentiment/%24%25", headers=h)).status_code == 404
        assert (
            await api.client.get("/api/v1/sentiment/BTC", params={"hours": 0}, headers=h)
        ).status_code == 422
        assert (await api.client.get("/api/v1/sentiment", params={"top": 21}, headers=h)).status_code == 422
        assert (await api.client.get("/api/v1/sentiment")).status_code == 401
