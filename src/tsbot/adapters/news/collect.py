"""Read every configured news source once, concurrently with a bound; a failing source never stops the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import httpx

from tsbot.adapters.news.http import new_client
from tsbot.adapters.news.reddit import AsyncprawReader, RedditJsonReader, source_name
from tsbot.adapters.news.rss import FeedReader
from tsbot.config import FeedConfig, NewsConfig, SubredditConfig
from tsbot.core.errors import TsbotError
from tsbot.core.time import utc_now
from tsbot.sentiment.models import Headline


@dataclass(frozen=True, slots=True)
class SourceResult:
    """One source's read.

    Attributes:
        source: the headlines' source name (a feed's name, or ``reddit/<subreddit>``).
        kind: ``"rss"`` or ``"reddit"``.
        items: the headlines read (empty on error or when not modified).
        error: why the source failed (``"HTTP 500 ..."``, ``"timed out after 10 s"``, ``"refused: ..."``), or None.
        not_modified: the feed answered 304 to a conditional GET.
        elapsed_s: wall time spent on the source, in seconds.
    """

    source: str
    kind: Literal["rss", "reddit"]
    items: list[Headline] = field(default_factory=list)
    error: str | None = None
    not_modified: bool = False
    elapsed_s: float = 0.0


class NewsCollector:
    """All configured feeds and subreddits, read together (at most ``config.concurrency`` at a time).

    Use as ``async with NewsCollector(config) as c: results = await c.collect()``. One instance keeps its HTTP
    connections and the conditional-GET validators of its feeds between calls, so a poller reuses it. Each source
    has ``config.timeout_s`` in all (fetch and parse); past it the source reports a timeout and the others go on.
    """

    def __init__(self, config: NewsConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """``transport``: an httpx transport to use instead of the network (tests, proxies)."""
        self.config = config
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._feeds: FeedReader | None = None
        self._reddit_json: RedditJsonReader | None = None
        self._praw: AsyncprawReader | None = None

    @property
    def uses_asyncpraw(self) -> bool:
        """True when both Reddit credentials are configured (posts are then read through the API)."""
        r = self.config.reddit
        return bool(r.client_id and r.client_secret)

    def sources(self) -> list[str]:
        """Source names in reading order: feeds, then subreddits (when Reddit is enabled)."""
        names = [f.name for f in self.config.feeds]
        if self.config.reddit.enabled:
            names += [source_name(s.name) for s in self.config.reddit.subreddits]
        return names

    async def __aenter__(self) -> NewsCollector:
        cfg = self.config
        self._client = new_client(
            timeout_s=cfg.timeout_s, user_agent=cfg.reddit.user_agent, transport=self._transport
        )
        self._feeds = FeedReader(self._client, max_bytes=cfg.max_bytes)
        self._reddit_json = RedditJsonReader(self._client, cfg.reddit, max_bytes=cfg.max_bytes)
        if cfg.reddit.enabled and self.uses_asyncpraw and cfg.reddit.subreddits:
            self._praw = await AsyncprawReader(cfg.reddit, timeout_s=cfg.timeout_s).__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._praw is not None:
            await self._praw.__aexit__(None, None, None)
            self._praw = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def collect(
        self, *, now: datetime | None = None, on_done: Callable[[SourceResult], None] | None = None
    ) -> list[SourceResult]:
        """Read every source once; results in :meth:`sources` order.

        Args:
            now: the time of this read (aware UTC; default: the clock), every headline's ``first_seen_at``.
            on_done: called with each source's result as soon as it finishes (progress displays).

        Never raises for a source's failure: it is the result's ``error``.
        """
        if self._client is None:
            raise RuntimeError("NewsCollector is used outside 'async with'")
        at = now or utc_now()
        gate = asyncio.Semaphore(self.config.concurrency)
        jobs = [self._feed(f, at, gate, on_done) for f in self.config.feeds]
        if self.config.reddit.enabled:
            jobs += [self._subreddit(s, at, gate, on_done) for s in self.config.reddit.subreddits]
        return list(await asyncio.gather(*jobs))

    async def _feed(
        self,
        feed: FeedConfig,
        now: datetime,
        gate: asyncio.Semaphore,
        on_done: Callable[[SourceResult], None] | None,
    ) -> SourceResult:
        assert self._feeds is not None
        reader = self._feeds

        async def _read() -> SourceResult:
            got = await reader.read(feed.name, feed.url, now=now)
            return SourceResult(feed.name, "rss", got.items, not_modified=got.not_modified)

        return await self._guarded(feed.name, "rss", _read, gate, on_done)

    async def _subreddit(
        self,
        sub: SubredditConfig,
        now: datetime,
        gate: asyncio.Semaphore,
        on_done: Callable[[SourceResult], None] | None,
    ) -> SourceResult:
        name = source_name(sub.name)
        reader = self._praw or self._reddit_json
        assert reader is not None

        async def _read() -> SourceResult:
            return SourceResult(name, "reddit", await reader.read(sub, now=now))

        return await self._guarded(name, "reddit", _read, gate, on_done)

    async def _guarded(
        self,
        name: str,
        kind: Literal["rss", "reddit"],
        read: Callable[[], Awaitable[SourceResult]],
        gate: asyncio.Semaphore,
        on_done: Callable[[SourceResult], None] | None,
    ) -> SourceResult:
        async with gate:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    result = await read()
            except TimeoutError:
                result = SourceResult(name, kind, error=f"timed out after {self.config.timeout_s:g} s")
            except Exception as exc:  # one source's failure of any kind is reported, never raised
                result = SourceResult(name, kind, error=_reason(exc))
            result = SourceResult(
                result.source,
                kind,
                result.items,
                result.error,
                result.not_modified,
                time.perf_counter() - started,
            )
        if on_done is not None:
            on_done(result)
        return result


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if not isinstance(exc, TsbotError) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"
