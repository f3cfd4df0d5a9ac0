"""The per-process page cache of ``GET /api/v1/signals``: a page is served only at the revision it was read at and
within its age; the least recently used pages go first when the count or the bytes are over their bound."""

from __future__ import annotations

import pytest

from tsbot.apps.api import signal_pages
from tsbot.apps.api.cache import CacheRegistry
from tsbot.apps.api.signal_pages import SignalPageCache


async def test_a_page_is_served_only_at_its_revision() -> None:
    cache = SignalPageCache(4)
    assert cache.page("a", 1) is None
    cache.keep("a", 1, b'{"items":[]}')
    assert cache.page("a", 1) == b'{"items":[]}'
    assert cache.page("a", 2) is None  # a signal was stored since: out of date
    assert cache.page("b", 1) is None
    assert (cache.hits, cache.misses) == (1, 3)
    cache.keep("a", 2, b"new")  # replaces the page read at revision 1
    assert cache.page("a", 2) == b"new" and await cache.size() == 1


async def test_least_recently_used_pages_go_first() -> None:
    cache = SignalPageCache(2)
    cache.keep("a", 1, b"A")
    cache.keep("b", 1, b"B")
    assert cache.page("a", 1) == b"A"  # "a" used last: "b" is the oldest now
    cache.keep("c", 1, b"C")
    assert cache.page("b", 1) is None and cache.page("a", 1) == b"A" and cache.page("c", 1) == b"C"
    assert await cache.size() == 2


async def test_bytes_are_bounded_and_a_page_larger_than_the_room_is_not_kept() -> None:
    """Bad input: one page larger than all the room the cache has."""
    cache = SignalPageCache(100, max_bytes=10)
    cache.keep("a", 1, b"12345")
    cache.keep("b", 1, b"67890")
    cache.keep("c", 1, b"x")  # 11 bytes in all: "a" goes
    assert cache.page("a", 1) is None and cache.page("b", 1) == b"67890" and cache.page("c", 1) == b"x"
    cache.keep("huge", 1, b"y" * 11)
    assert cache.page("huge", 1) is None and await cache.size() == 2


async def test_pages_older_than_the_age_limit_are_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000.0]
    monkeypatch.setattr(signal_pages.time, "monotonic", lambda: now[0])
    cache = SignalPageCache(4, max_age_s=300)
    cache.keep("a", 7, b"A")
    now[0] += 299.0
    assert cache.page("a", 7) == b"A"
    now[0] += 1.0
    assert cache.page("a", 7) is None  # rows changed by hand in SQL raise no revision: seen within the age


async def test_resizing_to_zero_empties_and_turns_it_off() -> None:
    cache = SignalPageCache(4)
    cache.keep("a", 1, b"A")
    cache.keep("b", 1, b"B")
    cache.resize(1)
    assert await cache.size() == 1 and cache.page("b", 1) == b"B"
    cache.resize(0)
    assert not cache.enabled and await cache.size() == 0
    cache.keep("c", 1, b"C")
    assert await cache.size() == 0
    cache.resize(3)
    cache.keep("c", 1, b"C")
    assert await cache.clear() == 1 and await cache.size() == 0


def test_the_registry_lists_it_but_never_hands_it_out_as_a_key_value_cache() -> None:
    """Bad input: asking the registry for a key / value cache under the page cache's name."""
    registry = CacheRegistry(None)
    registry.register(SignalPageCache(4))
    assert registry.names() == [signal_pages.NAME]
    with pytest.raises(TypeError, match="not a key / value cache"):
        registry.get_or_create(signal_pages.NAME, ttl_s=30)
