"""Sentiment services: scoring headlines once and storing them with the assets they mention.

Two entry points:

* :func:`import_headlines` for history (a bundled or downloaded archive): a headline counts as first seen at its
  publication time, duplicates are found by URL only.
* :func:`ingest_headlines` for what the news readers just read: each headline is first seen now (or at the time
  the reader gave it), and a headline is a duplicate when its canonical URL is stored already or its title is a
  near-duplicate of a title first seen within the last ``window`` (72 hours by default) or earlier in the batch.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from tsbot.sentiment.aliases import mentioned_assets
from tsbot.sentiment.dedup import TitleIndex, canonical_url
from tsbot.sentiment.models import Headline
from tsbot.sentiment.ports import HeadlineStore, SentimentModel

#: Longest URL stored (the store's column width); a longer canonical URL is replaced by a stable ``urn:`` id.
MAX_URL_CHARS = 1_024
#: Longest source name stored.
MAX_SOURCE_CHARS = 128


@dataclass(frozen=True, slots=True)
class HeadlineImportReport:
    """Headlines read, newly stored, and how many of them mention at least one known asset."""

    read: int
    stored: int
    with_assets: int


@dataclass(frozen=True, slots=True)
class SourceCounts:
    """What one source contributed to an ingest: items read, newly stored, duplicates, and empty items skipped."""

    read: int = 0
    new: int = 0
    duplicates: int = 0
    empty: int = 0


@dataclass(frozen=True, slots=True)
class IngestReport:
    """Result of :func:`ingest_headlines`.

    Attributes:
        read: items given.
        stored: items newly stored (as the store counted them).
        duplicates: items skipped as already stored or near-duplicates (same canonical URL or similar title).
        empty: items skipped for having neither title nor summary.
        with_assets: newly stored items that mention at least one known asset.
        per_source: the same counts per source name.
    """

    read: int
    stored: int
    duplicates: int
    empty: int
    with_assets: int
    per_source: dict[str, SourceCounts] = field(default_factory=dict)


async def import_headlines(
    store: HeadlineStore, model: SentimentModel, items: Sequence[Headline], *, batch: int = 2_000
) -> HeadlineImportReport:
    """Map each headline to the assets its title or summary mentions, score it with ``model``, and store it.

    The title is scored (the summary when the title is empty). URLs are stored in canonical form
    (:func:`tsbot.sentiment.dedup.canonical_url`). A headline without a URL gets a stable identifier
    ``urn:tsbot:headline:<sha1 of source, time and text>`` so it is still stored once. A headline without
    ``first_seen_at`` is stored as first seen at its publication time. Headlines already stored (same URL) are
    left unchanged, so importing twice changes nothing. Headlines with neither title nor summary are skipped.
    """
    usable = [_prepared(h, h.published_at) for h in items if h.title.strip() or h.summary.strip()]
    stored, with_assets = await _score_and_store(store, model, usable, batch=batch, in_thread=False)
    return HeadlineImportReport(read=len(items), stored=stored, with_assets=with_assets)


async def ingest_headlines(
    store: HeadlineStore,
    model: SentimentModel,
    items: Sequence[Headline],
    *,
    now: datetime,
    similarity: float,
    window: timedelta = timedelta(hours=72),
    batch: int = 256,
) -> IngestReport:
    """De-duplicate freshly read headlines, map them to assets, score the new ones, and store them.

    Args:
        store: where headlines are kept.
        model: scores the title (the summary when the title is empty); run in a worker thread.
        items: headlines as the readers produced them, any order; ``first_seen_at`` None means ``now``.
        now: the time of this read, aware UTC.
        similarity: titles with word-shingle Jaccard similarity at least this are the same story
            (``news.near_duplicate_similarity``).
        window: how far back stored titles are compared (by first-seen time).
        batch: headlines scored per model call.

    A headline is a duplicate when its canonical URL is stored or appeared earlier in ``items``, or when its title
    is a near-duplicate of a title first seen within ``window`` before it or earlier in ``items``. Only new
    headlines are scored. Per-source ``new`` counts what was handed to the store; ``stored`` is what the store
    reports (lower only when another writer stored the same URL in between).
    """
    read: Counter[str] = Counter()
    empty: Counter[str] = Counter()
    dup: Counter[str] = Counter()
    new: Counter[str] = Counter()
    prepared: list[Headline] = []
    for h in items:
        read[h.source] += 1
        if not (h.title.strip() or h.summary.strip()):
            empty[h.source] += 1
            continue
        prepared.append(_prepared(h, now))
    fresh: list[Headline] = []
    if prepared:
        known = await store.known_urls(sorted({h.url for h in prepared}))
        times = [h.known_at for h in prepared]
        index = TitleIndex(similarity, await store.titles_seen(start=min(times) - window, end=max(times)))
        urls: set[str] = set()
        for h in prepared:
            text = _text(h)
            if h.url in known or h.url in urls or index.is_duplicate(text):
                dup[h.source] += 1
                continue
            urls.add(h.url)
            index.add(text)
            fresh.append(h)
            new[h.source] += 1
    stored, with_assets = await _score_and_store(store, model, fresh, batch=batch, in_thread=True)
    per_source = {
        name: SourceCounts(read=read[name], new=new[name], duplicates=dup[name], empty=empty[name])
        for name in read
    }
    return IngestReport(
        read=len(items),
        stored=stored,
        duplicates=sum(dup.values()),
        empty=sum(empty.values()),
        with_assets=with_assets,
        per_source=per_source,
    )


def _text(h: Headline) -> str:
    return h.title.strip() or h.summary


def _prepared(h: Headline, first_seen: datetime) -> Headline:
    """``h`` with a canonical (or stable) URL, a bounded source name, and ``first_seen_at`` filled."""
    url = canonical_url(h.url)
    if not url or len(url) > MAX_URL_CHARS:
        url = _stable_id(h)
    return replace(
        h,
        url=url,
        source=h.source[:MAX_SOURCE_CHARS],
        first_seen_at=h.first_seen_at if h.first_seen_at is not None else first_seen,
    )


async def _score_and_store(
    store: HeadlineStore, model: SentimentModel, items: list[Headline], *, batch: int, in_thread: bool
) -> tuple[int, int]:
    """Score ``items`` in batches (in a worker thread when ``in_thread``, so a server's event loop keeps running),
    attach the assets each mentions, store them; return (newly stored, stored items mentioning an asset)."""
    stored = 0
    with_assets = 0
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        texts = [_text(h) for h in chunk]
        scores = await asyncio.to_thread(model.score, texts) if in_thread else model.score(texts)
        ready = []
        for h, s in zip(chunk, scores, strict=True):
            assets = mentioned_assets(f"{h.title}\n{h.summary}")
            with_assets += bool(assets)
            ready.append(replace(h, assets=assets, score=s.score))
        stored += await store.add(ready)
    return stored, with_assets


def _stable_id(h: Headline) -> str:
    """``urn:tsbot:headline:<sha1>`` of the source, time and text (no URL), or of the URL (one too long)."""
    key = h.url.strip() or f"{h.source}|{h.published_at.isoformat()}|{h.title}|{h.summary}"
    return f"urn:tsbot:headline:{hashlib.sha1(key.encode()).hexdigest()}"
