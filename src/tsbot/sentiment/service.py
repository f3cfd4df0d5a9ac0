"""Sentiment services: scoring headlines once and storing them with the assets they mention."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tsbot.sentiment.aliases import mentioned_assets
from tsbot.sentiment.models import Headline
from tsbot.sentiment.ports import HeadlineStore, SentimentModel


@dataclass(frozen=True, slots=True)
class HeadlineImportReport:
    """Headlines read, newly stored, and how many of them mention at least one known asset."""

    read: int
    stored: int
    with_assets: int


async def import_headlines(
    store: HeadlineStore, model: SentimentModel, items: Sequence[Headline], *, batch: int = 2_000
) -> HeadlineImportReport:
    """Map each headline to the assets its title or summary mentions, score it with ``model``, and store it.

    The title is scored (the summary when the title is empty). A headline without a URL gets a stable identifier
    ``urn:tsbot:headline:<sha1 of source, time and text>`` so it is still stored once. Headlines already stored
    (same URL) are left unchanged, so importing twice changes nothing. Headlines with neither title nor summary
    are skipped.
    """
    stored = 0
    with_assets = 0
    usable = [h for h in items if h.title.strip() or h.summary.strip()]
    for start in range(0, len(usable), batch):
        chunk = usable[start : start + batch]
        scores = model.score([h.title.strip() or h.summary for h in chunk])
        ready = []
        for h, s in zip(chunk, scores, strict=True):
            assets = mentioned_assets(f"{h.title}\n{h.summary}")
            with_assets += bool(assets)
            ready.append(replace(h, url=h.url.strip() or _stable_id(h), assets=assets, score=s.score))
        stored += await store.add(ready)
    return HeadlineImportReport(read=len(items), stored=stored, with_assets=with_assets)


def _stable_id(h: Headline) -> str:
    digest = hashlib.sha1(
        f"{h.source}|{h.published_at.isoformat()}|{h.title}|{h.summary}".encode()
    ).hexdigest()
    return f"urn:tsbot:headline:{digest}"
