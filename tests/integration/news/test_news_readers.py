"""The RSS/Atom and Reddit readers against a local server serving real documents, with broken and hostile
sources: each test names the bad input it tries."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest
from tests.integration.news.conftest import BILLION_LAUGHS, NewsServer, rss_document

from tsbot.adapters.news.collect import NewsCollector
from tsbot.adapters.news.http import new_client
from tsbot.adapters.news.reddit import AsyncprawReader, RedditJsonReader, parse_listing
from tsbot.adapters.news.rss import FeedReader, FeedRefusedError, parse_feed
from tsbot.adapters.news.text import MAX_SUMMARY_CHARS, MAX_TITLE_CHARS
from tsbot.config import FeedConfig, NewsConfig, RedditConfig, SubredditConfig
from tsbot.core.errors import DataError

pytestmark = pytest.mark.shared_data
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def _config(server: NewsServer, feeds: dict[str, str], subs: list[str] = (), **kw: object) -> NewsConfig:  # type: ignore[assignment]
    return NewsConfig(
        feeds=[FeedConfig(name=n, url=server.url(p)) for n, p in feeds.items()],
        reddit=RedditConfig(
            base_url=server.base,
            user_agent="tsbot-test/1.0",
            limit=100,
            subreddits=[SubredditConfig(name=s.split(":")[0], listing=s.split(":")[1]) for s in subs],  # type: ignore[arg-type]
        ),
        **kw,  # type: ignore[arg-type]
    )


async def test_real_feeds_read_with_plain_text_and_utc_times(news_server: NewsServer) -> None:
    async with new_client(timeout_s=5, user_agent="t") as client:
        reader = FeedReader(client, max_bytes=1_000_000)
        coindesk = await reader.read("CoinDesk", news_server.url("/rss/coindesk"), now=NOW)
        cointelegraph = await reader.read("Cointelegraph", news_server.url("/rss/cointelegraph"), now=NOW)
    assert len(coindesk.items) == 25 and len(cointelegraph.items) == 30
    for h in coindesk.items + cointelegraph.items:
        assert h.title and "<" not in h.title and h.url.startswith("https://")
        assert h.published_at.tzinfo is not None and h.published_at <= NOW and h.first_seen_at == NOW
        assert "<" not in h.summary and "&amp;" not in h.summary  # HTML in the real summaries is gone
    first = cointelegraph.items[0]
    assert first.source == "Cointelegraph" and "Cardano" in first.title
    assert first.published_at == datetime(2026, 9, 30, 17, 17, 54, tzinfo=UTC)


async def test_conditional_get_sends_validators_and_304_yields_nothing(news_server: NewsServer) -> None:
    async with new_client(timeout_s=5, user_agent="t") as client:
        reader = FeedReader(client, max_bytes=1_000_000)
        first = await reader.read("CoinDesk", news_server.url("/rss/coindesk"), now=NOW)
        second = await reader.read("CoinDesk", news_server.url("/rss/coindesk"), now=NOW)
    assert len(first.items) == 25 and not first.not_modified
    assert second.not_modified and second.items == []
    sent = [h for p, h in news_server.requests if p == "/rss/coindesk"]
    assert "If-None-Match" not in sent[0] and sent[1]["If-None-Match"].startswith('"')
    assert sent[1]["If-Modified-Since"] == "Wed, 30 Sep 2026 17:27:11 GMT"


async def test_bad_sources_report_their_reason_and_never_stop_the_others(news_server: NewsServer) -> None:
    """Bad inputs: HTTP 500, a server slower than the timeout, a redirect loop, a truncated (malformed) feed, an
    HTML page, a billion-laughs feed, a body over max_bytes, a Reddit answer that is not JSON, JSON that is no
    listing. Good sources in between (a redirect among them) must still be read."""
    news_server.slow_s = 1.5
    news_server.huge_bytes = 400_000
    feeds = {
        "good": "/rss/cointelegraph",
        "e500": "/error500",
        "slow": "/slow",
        "redirect": "/redirect",
        "loop": "/redirect-loop",
        "truncated": "/truncated",
        "html": "/not-a-feed",
        "laughs": "/billion-laughs",
        "huge": "/huge",
        "missing": "/rss/nope",
    }
    subs = ["CryptoCurrency:new", "wallstreetbets:hot", "notjson:new", "notlisting:new"]
    config = _config(news_server, feeds, subs, timeout_s=0.5, max_bytes=200_000, concurrency=4)
    started = time.perf_counter()
    async with NewsCollector(config) as collector:
        assert collector.sources()[:2] == ["good", "e500"] and collector.sources()[-1] == "reddit/notlisting"
        done: list[str] = []
        results = {
            r.source: r for r in await collector.collect(now=NOW, on_done=lambda r: done.append(r.source))
        }
    elapsed = time.perf_counter() - started
    assert sorted(done) == sorted(results)
    assert elapsed < 1.4, elapsed  # the slow source cost one timeout (0.5 s), not its 1.5 s
    assert results["good"].error is None and len(results["good"].items) == 30
    assert results["redirect"].error is None and len(results["redirect"].items) == 25
    assert "HTTP 500" in (results["e500"].error or "")
    assert "HTTP 404" in (results["missing"].error or "")
    assert "timed out" in (results["slow"].error or "")
    assert "redirects" in (results["loop"].error or "")
    assert "not an RSS or Atom feed" in (results["html"].error or "")
    laughs = results["laughs"].error or ""
    assert laughs.startswith("refused") and "entit" in laughs.lower() and "billion laughs" in laughs
    assert "max_bytes" in (results["huge"].error or "")
    # A truncated real feed: feedparser recovers what precedes the break, or it is reported, never raised.
    trunc = results["truncated"]
    assert (trunc.error is None and 0 < len(trunc.items) < 25) or "malformed" in (trunc.error or "")
    assert (
        results["reddit/CryptoCurrency"].error is None and len(results["reddit/CryptoCurrency"].items) == 100
    )
    assert results["reddit/wallstreetbets"].error is None
    assert "not JSON" in (results["reddit/notjson"].error or "")
    assert "not a listing" in (results["reddit/notlisting"].error or "")
    assert all(r.items == [] for r in results.values() if r.error)


async def test_billion_laughs_is_refused_without_expansion() -> None:
    """Bad input: entity-expansion documents, well-formed, malformed around the DTD, and in UTF-16."""
    started = time.perf_counter()
    with pytest.raises(FeedRefusedError, match="declares XML entities"):
        parse_feed(BILLION_LAUGHS, source="x", now=NOW)
    broken = b"<<garbage>>" + BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b"")
    with pytest.raises(FeedRefusedError, match="malformed feed contains an XML entity declaration"):
        parse_feed(broken, source="x", now=NOW)
    utf16 = (
        BILLION_LAUGHS.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")
    )
    with pytest.raises(FeedRefusedError):
        parse_feed(utf16, source="x", now=NOW)
    assert time.perf_counter() - started < 1.0  # nothing was expanded


async def test_bad_items_empty_non_english_huge_and_html(news_server: NewsServer) -> None:
    """Bad inputs: empty items and blank lines, non-English titles, 100 KB of text, HTML with a script in the
    summary, an item whose link is not a URL."""
    huge = "Bitcoin " + "moon " * 20_000  # 100 KB title
    news_server.documents["bad"] = rss_document(
        [
            ("", "", ""),
            ("   \n\n   ", "https://example.com/blank", "\n\n"),
            ("比特币价格突破十万美元", "https://example.cn/btc", "中文摘要"),
            ("Биткоин обновил максимум", "https://example.ru/btc", "Русский текст"),
            (huge, "https://example.com/huge", "x " * 50_000),
            (
                "Ether &amp; friends",
                "https://example.com/html",
                "&lt;p&gt;Ether &lt;b&gt;rallies&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
                " &amp;amp; more&lt;/p&gt;",
            ),
            ("No link", "javascript:alert(1)", "text"),
        ]
    )
    async with new_client(timeout_s=5, user_agent="t") as client:
        got = await FeedReader(client, max_bytes=1_000_000).read("Bad", news_server.url("/doc/bad"), now=NOW)
    items = got.items
    assert len(items) == 7
    assert items[0].title == "" and items[0].summary == "" and items[1].title == ""
    assert items[2].title == "比特币价格突破十万美元" and items[3].title == "Биткоин обновил максимум"
    assert len(items[4].title) <= MAX_TITLE_CHARS and items[4].title.endswith("…")
    assert len(items[4].summary) <= MAX_SUMMARY_CHARS
    assert items[5].title == "Ether & friends"
    assert items[5].summary == "Ether rallies & more"  # tags and the script are gone
    assert items[6].url == ""


async def test_parsing_a_large_feed_leaves_the_event_loop_free(news_server: NewsServer) -> None:
    """Bad input: a 1.5 MB feed of 3,000 items. A heartbeat task must keep ticking while it is parsed."""
    news_server.documents["large"] = rss_document(
        [(f"Story {i} about Bitcoin", f"https://example.com/{i}", "text " * 80) for i in range(3_000)]
    )
    gaps: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    async with new_client(timeout_s=10, user_agent="t") as client:
        got = await FeedReader(client, max_bytes=5_000_000).read("L", news_server.url("/doc/large"), now=NOW)
    took = time.perf_counter() - started
    stop.set()
    await beat
    assert len(got.items) == 3_000
    # Parsing takes most of ``took``; had it run on the loop, one gap would be nearly that long.
    assert max(gaps) < 0.5 * took, (took, max(gaps))


async def test_reddit_json_listing_sends_user_agent_and_limit(news_server: NewsServer) -> None:
    config = RedditConfig(base_url=news_server.base, user_agent="tsbot-test/1.0", limit=25)
    sub = SubredditConfig(name="CryptoCurrency", listing="hot")
    async with new_client(timeout_s=5, user_agent="other") as client:
        items = await RedditJsonReader(client, config, max_bytes=1_000_000).read(sub, now=NOW)
    (path, headers), query = news_server.requests[-1], None
    assert path == "/r/CryptoCurrency/hot.json" and headers["User-Agent"] == "tsbot-test/1.0"
    assert len(items) == 100  # the real hot listing: 102 posts, 2 pinned
    assert all(
        h.source == "reddit/CryptoCurrency" and h.url.startswith("https://www.reddit.com/r/") for h in items
    )
    assert items[0].published_at.year == 2016 and items[0].first_seen_at == NOW
    assert query is None


async def test_reddit_answer_that_is_not_json_is_a_data_error() -> None:
    """Bad inputs: an HTML page, truncated JSON, JSON without children, comments only."""
    for body in (b"<html>rate limited</html>", b'{"kind": "Listing", "data": {"chil', b"[]"):
        with pytest.raises(DataError):
            parse_listing(body, subreddit="x", now=NOW)
    comments = b'{"kind": "Listing", "data": {"children": [{"kind": "t1", "data": {"body": "hi"}}]}}'
    assert parse_listing(comments, subreddit="x", now=NOW) == []


async def test_asyncpraw_path_against_the_local_server(news_server: NewsServer) -> None:
    config = _config(news_server, {}, ["Bitcoin:new"])
    config = config.model_copy(
        update={"reddit": config.reddit.model_copy(update={"client_id": "id", "client_secret": "secret"})}
    )
    async with NewsCollector(config) as collector:
        assert collector.uses_asyncpraw
        (result,) = await collector.collect(now=NOW)
    assert result.error is None and len(result.items) == 100 and result.source == "reddit/Bitcoin"
    paths = [p for p, _ in news_server.requests]
    assert paths == ["/api/v1/access_token", "/r/Bitcoin/new"]
    assert news_server.requests[1][1]["Authorization"] == "bearer t"


async def test_asyncpraw_reader_refuses_missing_credentials() -> None:
    with pytest.raises(DataError, match="client_id"):
        AsyncprawReader(RedditConfig(client_id="x"), timeout_s=1)


async def test_unreachable_source_is_reported() -> None:
    """Bad input: a port where nothing listens."""
    config = NewsConfig(feeds=[FeedConfig(name="down", url="http://127.0.0.1:9/feed")], timeout_s=1)
    config = config.model_copy(update={"reddit": RedditConfig(enabled=False)})
    async with NewsCollector(config, transport=httpx.AsyncHTTPTransport(retries=0)) as collector:
        (result,) = await collector.collect(now=NOW)
    assert result.error and "ConnectError" in result.error
