"""Canonical URLs and near-duplicate titles; each test names the bad input it tries."""

from __future__ import annotations

import time

import pytest

from tsbot.sentiment.dedup import TitleIndex, canonical_url, jaccard, normalise_title, shingles


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://www.CoinDesk.com/markets/2026/x/?utm_source=rss&utm_medium=feed",
            "https://www.coindesk.com/markets/2026/x",
        ),
        ("HTTPS://news.example.com:443/a?b=2&a=1#comments", "https://news.example.com/a?a=1&b=2"),
        ("http://example.com:8080/p?fbclid=abc&gclid=1&id=9", "http://example.com:8080/p?id=9"),
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/path/  ", "https://example.com/path"),
        ("urn:tsbot:headline:abc", "urn:tsbot:headline:abc"),
        ("", ""),
        ("not a url", "not a url"),
        ("https://example.com:99999/x", "https://example.com:99999/x"),  # invalid port: left as given
        ("javascript:alert(1)", "javascript:alert(1)"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    """Bad inputs: tracking parameters, fragments, mixed case, default ports, blanks, non-URLs, a bad port."""
    assert canonical_url(raw) == expected


def test_canonical_url_keeps_meaningful_query_and_path_case() -> None:
    assert canonical_url("https://e.com/News/A?ID=5") == "https://e.com/News/A?ID=5"
    assert canonical_url("https://e.com/a?id=1") != canonical_url("https://e.com/a?id=2")


def test_normalise_and_shingles() -> None:
    """Bad inputs: punctuation, full-width characters, blank text, text in scripts without spaces."""
    assert normalise_title("  Bitcoin  TOPS $70,000!! ") == "bitcoin tops 70 000"
    assert normalise_title("ＢＴＣ rallies") == "btc rallies"  # NFKC folds full-width letters
    assert shingles("") == frozenset() and shingles(" ... ") == frozenset()
    assert shingles("Bitcoin tops record high") == {"bitcoin tops", "tops record", "record high"}
    cjk = shingles("比特币价格突破十万美元")
    assert "比特币" in cjk and len(cjk) == 9  # character trigrams when there are too few words
    assert shingles("BTC") == {"btc"}


def test_jaccard_bounds() -> None:
    a, b = frozenset({"a", "b"}), frozenset({"b", "c"})
    assert jaccard(a, b) == pytest.approx(1 / 3)
    assert jaccard(a, a) == 1.0 and jaccard(frozenset(), frozenset()) == 0.0


def test_title_index_finds_near_duplicates_only() -> None:
    """Bad inputs: the same title in other case and punctuation; one word changed; a different story; a CJK title
    with one character changed; an empty title."""
    index = TitleIndex(
        0.85, ["Bitcoin ETF inflows hit a record as price tops $70,000", "比特币价格突破十万美元"]
    )
    assert index.is_duplicate("BITCOIN ETF inflows hit a record, as price tops $70,000!")
    assert not index.is_duplicate("Bitcoin ETF outflows hit a record as price drops below $60,000")
    assert not index.is_duplicate("Ethereum developers schedule the next upgrade")
    assert index.best_match("比特币价格突破十万美元") == 1.0
    assert 0.4 < index.best_match("比特币价格突破九万美元") < 0.85
    assert not index.is_duplicate("") and len(index) == 2
    index.add("")
    assert len(index) == 2


def test_title_index_rejects_bad_threshold() -> None:
    for bad in (0.0, -1.0, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            TitleIndex(bad)


def test_title_index_scales_to_thousands_of_titles() -> None:
    """Bad input: 100 KB titles and 5,000 stored titles; a lookup must stay fast (inverted index, not n*m)."""
    index = TitleIndex(0.85, [f"Story number {i} about crypto markets today" for i in range(5_000)])
    huge = "moon " * 20_000
    started = time.perf_counter()
    for i in range(200):
        index.is_duplicate(f"Unrelated headline {i} on equities")
    assert not index.is_duplicate(huge)
    assert time.perf_counter() - started < 1.0
    assert index.is_duplicate("Story number 4999 about crypto markets today")
