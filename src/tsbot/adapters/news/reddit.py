"""Reddit listings (a subreddit's ``hot`` or ``new`` posts) as headlines.

Two ways in: the public JSON listing ``<base_url>/r/<name>/<listing>.json?limit=N&raw_json=1`` read with httpx
(:class:`RedditJsonReader`), or Reddit's API through asyncpraw when ``client_id`` and ``client_secret`` are both
configured (:class:`AsyncprawReader`, application-only OAuth). Each post becomes a headline with
``source = "reddit/<subreddit>"`` (the configured name), its title, its self text as summary, and its permalink on
``https://www.reddit.com`` as URL. Pinned (stickied) posts are skipped: they are announcements, not news.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from tsbot.adapters.news.http import fetch
from tsbot.adapters.news.text import MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, plain_text
from tsbot.config import RedditConfig, SubredditConfig
from tsbot.core.errors import DataError
from tsbot.sentiment.models import Headline

#: Host of the permalinks stored as headline URLs, whatever ``base_url`` the listing came from.
PERMALINK_HOST = "https://www.reddit.com"
DEFAULT_BASE_URL = "https://www.reddit.com"


class MalformedListingError(DataError):
    """A Reddit answer is not JSON, or is JSON but not a listing."""


def source_name(subreddit: str) -> str:
    """The headline source of a subreddit's posts: ``"reddit/<subreddit>"``."""
    return f"reddit/{subreddit}"


def parse_listing(body: bytes, *, subreddit: str, now: datetime) -> list[Headline]:
    """Headlines of a Reddit listing document (``{"kind": "Listing", "data": {"children": [...]}}``).

    Only posts (``kind == "t3"``) count; comments and other kinds are skipped, as are stickied posts. ``now`` (aware
    UTC) is every headline's ``first_seen_at``, and its ``published_at`` when ``created_utc`` is missing, invalid
    or later than ``now``.

    Raises:
        MalformedListingError: the body is not JSON (an HTML error page, a truncated answer) or not a listing.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        start = body[:60].decode("utf-8", "replace").strip()
        raise MalformedListingError(
            f"Reddit answered with something that is not JSON ({exc}): {start!r}"
        ) from exc
    data = doc.get("data") if isinstance(doc, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(doc, dict) or doc.get("kind") != "Listing" or not isinstance(children, list):
        raise MalformedListingError(
            "Reddit answered with JSON that is not a listing (no kind=Listing with children)"
        )
    posts = (c.get("data") for c in children if isinstance(c, dict) and c.get("kind") == "t3")
    return posts_to_headlines((p for p in posts if isinstance(p, dict)), subreddit=subreddit, now=now)


def posts_to_headlines(
    posts: Iterable[Mapping[str, Any]], *, subreddit: str, now: datetime
) -> list[Headline]:
    """Headlines of post records with Reddit's field names (``title``, ``selftext``, ``permalink``,
    ``created_utc``, ``stickied``, ``url``); see :func:`parse_listing`."""
    out = []
    for post in posts:
        if post.get("stickied"):
            continue
        permalink = post.get("permalink")
        if isinstance(permalink, str) and permalink.startswith("/"):
            url = PERMALINK_HOST + permalink
        else:
            url = post.get("url") if isinstance(post.get("url"), str) else ""
        published = now
        created = post.get("created_utc")
        if isinstance(created, int | float) and not isinstance(created, bool):
            try:
                published = min(now, datetime.fromtimestamp(float(created), UTC))
            except (OverflowError, OSError, ValueError):
                published = now
        title = post.get("title")
        text = post.get("selftext")
        out.append(
            Headline(
                published_at=published,
                source=source_name(subreddit),
                title=plain_text(title if isinstance(title, str) else "", max_chars=MAX_TITLE_CHARS),
                summary=plain_text(text if isinstance(text, str) else "", max_chars=MAX_SUMMARY_CHARS),
                url=url or "",
                first_seen_at=now,
            )
        )
    return out


class RedditJsonReader:
    """Reads the public JSON listings with the configured user agent (sent by ``client``, see
    :func:`tsbot.adapters.news.http.new_client`)."""

    def __init__(self, client: httpx.AsyncClient, config: RedditConfig, *, max_bytes: int) -> None:
        self._client = client
        self._config = config
        self._max_bytes = max_bytes

    def listing_url(self, sub: SubredditConfig) -> str:
        """``<base_url>/r/<name>/<listing>.json``."""
        return f"{self._config.base_url.rstrip('/')}/r/{sub.name}/{sub.listing}.json"

    async def read(self, sub: SubredditConfig, *, now: datetime) -> list[Headline]:
        """The subreddit's posts (at most ``limit``); JSON decoding runs in a worker thread.

        Raises:
            SourceFetchError, ResponseTooLargeError: see :func:`tsbot.adapters.news.http.fetch`.
            MalformedListingError: see :func:`parse_listing`.
        """
        got = await fetch(
            self._client,
            self.listing_url(sub),
            max_bytes=self._max_bytes,
            headers={"User-Agent": self._config.user_agent, "Accept": "application/json"},
            params={"limit": str(self._config.limit), "raw_json": "1"},
        )
        return await asyncio.to_thread(parse_listing, got.body, subreddit=sub.name, now=now)


class AsyncprawReader:
    """Reads listings through Reddit's API with asyncpraw (application-only OAuth from ``client_id`` and
    ``client_secret``). A ``base_url`` other than Reddit's is used for both the token and the API endpoints (a
    local test server). Response size is bounded by asyncpraw, not by ``news.max_bytes``."""

    def __init__(self, config: RedditConfig, *, timeout_s: float) -> None:
        if not (config.client_id and config.client_secret):
            raise DataError("asyncpraw needs news.reddit.client_id and news.reddit.client_secret")
        self._config = config
        self._timeout_s = timeout_s
        self._reddit: Any = None

    async def __aenter__(self) -> AsyncprawReader:
        import asyncpraw

        kwargs: dict[str, Any] = {}
        base = self._config.base_url.rstrip("/")
        if base != DEFAULT_BASE_URL:
            kwargs = {"oauth_url": base, "reddit_url": base}
        self._reddit = asyncpraw.Reddit(
            client_id=self._config.client_id,
            client_secret=self._config.client_secret,
            user_agent=self._config.user_agent,
            timeout=self._timeout_s,
            check_for_updates=False,
            **kwargs,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reddit is not None:
            await self._reddit.close()
            self._reddit = None

    async def read(self, sub: SubredditConfig, *, now: datetime) -> list[Headline]:
        """The subreddit's posts (at most ``limit``).

        Raises:
            DataError: used outside ``async with``.
            asyncprawcore exceptions: HTTP errors, timeouts (the collector reports them per source).
        """
        if self._reddit is None:
            raise DataError("AsyncprawReader is used outside 'async with'")
        subreddit = await self._reddit.subreddit(sub.name)
        listing = subreddit.hot if sub.listing == "hot" else subreddit.new
        posts: list[Mapping[str, Any]] = []
        async for post in listing(limit=self._config.limit):
            posts.append(
                {
                    "title": post.title,
                    "selftext": getattr(post, "selftext", ""),
                    "permalink": getattr(post, "permalink", ""),
                    "url": getattr(post, "url", ""),
                    "created_utc": getattr(post, "created_utc", None),
                    "stickied": getattr(post, "stickied", False),
                }
            )
        return posts_to_headlines(posts, subreddit=sub.name, now=now)
