"""Headlines read from the local news server, de-duplicated, scored and stored in a real database (SQLite and
PostgreSQL), then read back point-in-time by first-seen time; ``tsbot news fetch`` and ``tsbot news list``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.integration.news.conftest import NewsServer, rss_document
from typer.testing import CliRunner

from tsbot.adapters.news.collect import NewsCollector
from tsbot.apps.cli.news import fetch_news, news_app
from tsbot.config import FeedConfig, NewsConfig, RedditConfig, Settings, SubredditConfig, load_settings
from tsbot.sentiment.default_model import load_default_model
from tsbot.sentiment.models import Headline
from tsbot.sentiment.service import ingest_headlines
from tsbot.wiring import Services, open_services

pytestmark = pytest.mark.shared_data
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def _news(server: NewsServer, feeds: dict[str, str], subs: tuple[str, ...] = ()) -> NewsConfig:
    return NewsConfig(
        feeds=[FeedConfig(name=n, url=server.url(p)) for n, p in feeds.items()],
        reddit=RedditConfig(
            base_url=server.base, limit=100, subreddits=[SubredditConfig(name=s, listing="new") for s in subs]
        ),
        timeout_s=2,
    )


async def _read(config: NewsConfig, now: datetime) -> list[Headline]:
    async with NewsCollector(config) as collector:
        return [h for r in await collector.collect(now=now) for h in r.items]


async def test_fetch_twice_stores_once_and_counts_duplicates(
    services: Services, news_server: NewsServer
) -> None:
    """Bad input: the same two real feeds read again by a new reader (no ETag), plus the small CoinDesk feed whose
    three items the big one also carries, plus a Reddit listing."""
    config = _news(
        news_server,
        {
            "CoinDesk": "/rss/coindesk",
            "Cointelegraph": "/rss/cointelegraph",
            "CoinDesk-old": "/rss/coindesk-small",
        },
        ("CryptoCurrency",),
    )
    model = load_default_model()
    items = await _read(config, NOW)
    first = await ingest_headlines(services.headlines, model, items, now=NOW, similarity=0.85)
    assert first.read == 25 + 30 + 3 + 100
    assert first.per_source["CoinDesk"].new == 25 and first.per_source["Cointelegraph"].new == 30
    assert first.per_source["reddit/CryptoCurrency"].read == 100
    assert first.stored == await services.headlines.count() == first.read - first.duplicates - first.empty
    later = NOW + timedelta(minutes=5)
    second = await ingest_headlines(
        services.headlines, model, await _read(config, later), now=later, similarity=0.85
    )
    assert second.stored == 0 and second.duplicates == second.read - second.empty
    assert await services.headlines.count() == first.stored
    # Point in time: the items were published before NOW but first seen at NOW.
    ada = await services.headlines.for_asset(
        "ADA", start=NOW - timedelta(days=30), end=NOW - timedelta(seconds=1)
    )
    assert ada == []
    ada = await services.headlines.for_asset("ADA", start=NOW, end=NOW)
    assert ada and all(h.first_seen_at == NOW and h.published_at < NOW and h.id for h in ada)
    series = await services.headlines.scored_series("ADA", start=NOW, end=later)
    assert len(series.known_ms) == len(ada) and set(series.known_ms.tolist()) == {int(NOW.timestamp() * 1000)}
    assert series.sources == tuple(h.source for h in ada) and series.ids.tolist() == [h.id for h in ada]
    by_id = await services.headlines.by_ids([*series.ids.tolist(), 999_999])
    assert set(by_id) == set(series.ids.tolist()) and by_id[ada[0].id].title == ada[0].title  # type: ignore[index]
    latest = await services.headlines.latest(limit=5)
    assert len(latest) == 5 and all(h.first_seen_at == NOW for h in latest)


async def test_same_url_with_tracking_and_near_identical_titles_are_duplicates(
    services: Services, news_server: NewsServer
) -> None:
    """Bad inputs: the same link with utm parameters, a fragment and an upper-case host; the same title with other
    case, punctuation and spacing under another URL; the same title again after 72 hours (then it is news again);
    an empty item; a 1,500-character URL."""
    long_url = "https://example.com/" + "a" * 1_500
    news_server.documents["a"] = rss_document(
        [
            (
                "Bitcoin ETF inflows hit a record as price tops $70,000",
                "https://news.example.com/etf?id=1",
                "x",
            ),
            ("Solana outage halts block production for five hours", "https://news.example.com/sol", ""),
            ("", "", ""),
            ("A story with a very long link about Ethereum", long_url, ""),
        ]
    )
    news_server.documents["b"] = rss_document(
        [
            (
                "Bitcoin ETF inflows hit a record as price tops $70,000",
                "https://NEWS.example.com/etf?utm_source=x&amp;id=1#top",
                "y",
            ),
            (
                "BITCOIN ETF inflows hit a record, as price tops $70,000!",
                "https://other.example.org/etf",
                "z",
            ),
            ("Dogecoin rallies after exchange listing", "https://other.example.org/doge", ""),
        ]
    )
    model = load_default_model()
    a = await _read(_news(news_server, {"A": "/doc/a"}), NOW)
    first = await ingest_headlines(services.headlines, model, a, now=NOW, similarity=0.85)
    assert (first.stored, first.empty, first.duplicates) == (3, 1, 0)
    b = await _read(_news(news_server, {"B": "/doc/b"}), NOW + timedelta(hours=1))
    second = await ingest_headlines(
        services.headlines, model, b, now=NOW + timedelta(hours=1), similarity=0.85
    )
    assert (second.stored, second.duplicates) == (1, 2)
    stored = await services.headlines.latest(limit=10)
    assert "https://news.example.com/etf?id=1" in {h.url for h in stored}
    assert any(h.url.startswith("urn:tsbot:headline:") for h in stored)  # the over-long link
    late = NOW + timedelta(hours=80)
    again = [
        h for h in await _read(_news(news_server, {"B2": "/doc/b"}), late) if "other.example.org/etf" in h.url
    ]
    third = await ingest_headlines(services.headlines, model, again, now=late, similarity=0.85)
    assert third.stored == 1  # 80 h later the near-identical title is news again


async def test_fetch_news_command_function_and_list(news_server: NewsServer, settings: Settings) -> None:
    """``fetch_news`` (what ``tsbot news fetch`` runs) with one good feed, one 500 and a subreddit that is no JSON."""
    config = _news(news_server, {"Cointelegraph": "/rss/cointelegraph", "broken": "/error500"}, ("notjson",))
    settings = settings.model_copy(update={"news": config})
    results, report = await fetch_news(settings, show_progress=False, now=NOW)
    errors = {r.source: r.error for r in results}
    assert errors["Cointelegraph"] is None and "HTTP 500" in (errors["broken"] or "")
    assert "not JSON" in (errors["reddit/notjson"] or "")
    assert report.stored == 30 and report.per_source["Cointelegraph"].new == 30
    async with open_services(settings) as services:
        assert await services.headlines.count() == 30


def test_news_list_command(tmp_path: Path) -> None:
    """``tsbot news list`` on a SQLite store holding two headlines, filtered by asset; an empty store says so."""
    settings = load_settings(data_dir=tmp_path)

    async def _fill() -> None:
        async with open_services(settings) as services:
            items = [
                Headline(NOW, "T", "Cardano upgrade ships", "", "https://e.com/1", ("ADA",), 0.4, NOW),
                Headline(NOW, "T", "Apple beats estimates", "", "https://e.com/2", ("AAPL",), 0.6, NOW),
            ]
            await services.headlines.add(items)

    runner = CliRunner()
    env = {"TSBOT_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    empty = runner.invoke(news_app, ["list"], env=env)
    assert empty.exit_code == 0 and "No headlines stored yet" in empty.output
    asyncio.run(_fill())
    out = runner.invoke(news_app, ["list", "--asset", "ada", "--limit", "5"], env=env)
    assert out.exit_code == 0, out.output
    assert "Cardano upgrade ships" in out.output and "Apple" not in out.output and "+0.40" in out.output
