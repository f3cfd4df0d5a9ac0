"""RSS and Atom feeds: fetched with httpx (conditional GET), checked with defusedxml, parsed with feedparser.

Safety: before feedparser sees a document, :func:`refuse_entity_declarations` rejects any document that declares
XML entities (the "billion laughs" expansion attack and external entities): a well-formed document is scanned with
defusedxml's expat parser, which stops at the first declaration without expanding anything; a malformed one (which
feedparser would still read leniently) is refused when its bytes contain ``<!ENTITY``. feedparser is given the
bytes as a stream, never a URL or a file name, so it fetches nothing.
"""

from __future__ import annotations

import asyncio
import io
import re
import xml.sax
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.handler import ContentHandler

import defusedxml.sax
import feedparser
import httpx
from defusedxml import DefusedXmlException

from tsbot.adapters.news.http import fetch
from tsbot.adapters.news.text import MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, html_to_text
from tsbot.core.errors import DataError
from tsbot.sentiment.models import Headline

_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


class FeedRefusedError(DataError):
    """A feed was refused unparsed because it declares XML entities (billion laughs, external entities)."""


class MalformedFeedError(DataError):
    """A document is not a readable RSS or Atom feed."""


def refuse_entity_declarations(body: bytes) -> None:
    """Refuse XML documents that declare entities; expand nothing.

    Raises:
        FeedRefusedError: the document declares an entity (internal or external), or, when it is not well-formed
            XML, its bytes contain ``<!ENTITY`` (also in UTF-16).
    """
    try:
        defusedxml.sax.parseString(
            body, ContentHandler(), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise FeedRefusedError(
            f"refused: the feed declares XML entities ({type(exc).__name__}: {exc}); possible entity-expansion "
            "(billion laughs) attack, nothing was expanded"
        ) from exc
    except (xml.sax.SAXException, ValueError):
        if _ENTITY_DECL.search(body) or _ENTITY_DECL.search(body.replace(b"\x00", b"")):
            raise FeedRefusedError(
                "refused: the malformed feed contains an XML entity declaration; possible entity-expansion "
                "(billion laughs) attack, nothing was expanded"
            ) from None


def parse_feed(body: bytes, *, source: str, now: datetime) -> list[Headline]:
    """Headlines of an RSS or Atom document, in document order.

    Args:
        body: the raw document (any encoding it declares).
        source: the feed's configured name, used as each headline's ``source``.
        now: the time of the read (aware UTC): each headline's ``first_seen_at``, and its ``published_at`` when
            the entry has no date or a date after ``now``.

    Titles and summaries are plain text (HTML removed, entities decoded), at most ``MAX_TITLE_CHARS`` and
    ``MAX_SUMMARY_CHARS`` characters. The link is the entry's ``link`` (its ``id`` when that is an http(s) URL).

    Raises:
        FeedRefusedError: see :func:`refuse_entity_declarations`.
        MalformedFeedError: feedparser found no feed (not XML, an HTML page, broken beyond recovery).
    """
    refuse_entity_declarations(body)
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=True, resolve_relative_uris=False)
    entries = parsed.get("entries") or []
    if parsed.get("bozo") and not entries:
        reason = parsed.get("bozo_exception")
        raise MalformedFeedError(f"malformed feed: {type(reason).__name__}: {reason}")
    if not entries and not parsed.get("version"):
        raise MalformedFeedError("not an RSS or Atom feed (no channel and no entries)")
    return [_headline(e, source=source, now=now) for e in entries]


def _headline(entry: Any, *, source: str, now: datetime) -> Headline:
    title = html_to_text(entry.get("title"), max_chars=MAX_TITLE_CHARS)
    summary_html = entry.get("summary") or ""
    if not summary_html and entry.get("content"):
        summary_html = entry["content"][0].get("value", "")
    link = (entry.get("link") or "").strip()
    if not link.startswith(("http://", "https://")):
        guid = (entry.get("id") or "").strip()
        link = guid if guid.startswith(("http://", "https://")) else ""
    published = now
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        stamp = entry.get(key)
        if stamp:
            try:
                published = min(now, datetime(*stamp[:6], tzinfo=UTC))
            except (TypeError, ValueError):
                continue
            break
    return Headline(
        published_at=published,
        source=source,
        title=title,
        summary=html_to_text(summary_html, max_chars=MAX_SUMMARY_CHARS),
        url=link,
        first_seen_at=now,
    )


@dataclass(frozen=True, slots=True)
class FeedRead:
    """One read of a feed: its headlines, or ``not_modified`` (HTTP 304, no headlines)."""

    items: list[Headline]
    not_modified: bool = False


class FeedReader:
    """Reads feeds with conditional GET: the ETag and Last-Modified of each URL's last 200 answer are sent back
    (``If-None-Match`` / ``If-Modified-Since``); a 304 answer yields nothing. Validators live in this instance."""

    def __init__(self, client: httpx.AsyncClient, *, max_bytes: int) -> None:
        self._client = client
        self._max_bytes = max_bytes
        self._validators: dict[str, tuple[str | None, str | None]] = {}

    async def read(self, name: str, url: str, *, now: datetime) -> FeedRead:
        """Fetch and parse one feed; parsing runs in a worker thread so the event loop stays free.

        Raises:
            SourceFetchError, ResponseTooLargeError: see :func:`tsbot.adapters.news.http.fetch`.
            FeedRefusedError, MalformedFeedError: see :func:`parse_feed`.
        """
        headers: dict[str, str] = {}
        etag, modified = self._validators.get(url, (None, None))
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        got = await fetch(self._client, url, max_bytes=self._max_bytes, headers=headers)
        if got.status == 304:
            return FeedRead([], not_modified=True)
        items = await asyncio.to_thread(parse_feed, got.body, source=name, now=now)
        if got.etag or got.last_modified:
            self._validators[url] = (got.etag, got.last_modified)
        return FeedRead(items)
