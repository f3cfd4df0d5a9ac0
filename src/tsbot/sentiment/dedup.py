"""De-duplication of news items: canonical URLs and near-identical titles.

Two items are the same story when their canonical URLs are equal (:func:`canonical_url`), or when their titles are
near-identical: the Jaccard similarity ``|A ∩ B| / |A ∪ B|`` of their normalised word shingles (:func:`shingles`,
word bigrams) reaches a threshold (``news.near_duplicate_similarity``, 0.85 by default). Jaccard similarity of
shingle sets is the resemblance measure of Broder, "On the resemblance and containment of documents" (1997).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters that only track where a click came from; dropped from canonical URLs (compared lower-case).
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "cmpid",
        "ref",
        "ref_src",
        "ref_url",
        "smid",
        "ncid",
        "guccounter",
        "_ga",
        "_gl",
        "feedtype",
        "feedname",
        "sr_share",
    }
)
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WORD = re.compile(r"\w+", re.UNICODE)
_MIN_WORDS = 3


def canonical_url(url: str) -> str:
    """The URL that identifies a story: lower-case scheme and host, no default port, no fragment, no tracking query
    parameters (``utm_*``, ``fbclid``, :data:`TRACKING_PARAMS`), the other parameters sorted, no trailing ``/`` on
    a non-root path, and a leading ``www.`` kept (some sites serve different pages without it).

    Returns the stripped input unchanged when it is not an absolute http(s) URL (an ``urn:`` id, an empty string).
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return text
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES)
    )
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def normalise_title(title: str) -> str:
    """A title reduced for comparison: Unicode NFKC, case-folded, words only (punctuation and extra spaces gone)."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", title).casefold()))


def shingles(title: str, *, k: int = 2) -> frozenset[str]:
    """The set of word ``k``-shingles (``k`` consecutive words) of the normalised title.

    Titles of fewer than 3 words (also titles in scripts written without spaces, such as Chinese or Japanese) use
    character trigrams of the normalised title instead, so a one-character change does not make them unrelated.
    An empty title has no shingles.
    """
    words = normalise_title(title).split()
    if not words:
        return frozenset()
    if len(words) < _MIN_WORDS:
        text = " ".join(words)
        if len(text) < 3:
            return frozenset({text})
        return frozenset(text[i : i + 3] for i in range(len(text) - 2))
    if len(words) < k:
        return frozenset({" ".join(words)})
    return frozenset(" ".join(words[i : i + k]) for i in range(len(words) - k + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """``|a ∩ b| / |a ∪ b|`` in [0, 1]; 0 when both are empty."""
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class TitleIndex:
    """Titles seen so far, answering "is this title a near-duplicate of one of them?" quickly.

    An inverted index from shingle to title lets a lookup compare only titles that share a shingle, so checking
    ``n`` titles against ``m`` costs about ``n`` times the number of titles sharing words, not ``n * m``.
    """

    def __init__(self, threshold: float, titles: Iterable[str] = ()) -> None:
        """``threshold``: the similarity (in (0, 1]) at or above which two titles are the same story."""
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._sets: list[frozenset[str]] = []
        self._postings: dict[str, list[int]] = {}
        for title in titles:
            self.add(title)

    def __len__(self) -> int:
        return len(self._sets)

    def add(self, title: str) -> None:
        """Remember ``title`` (titles without shingles are ignored)."""
        sh = shingles(title)
        if not sh:
            return
        idx = len(self._sets)
        self._sets.append(sh)
        for s in sh:
            self._postings.setdefault(s, []).append(idx)

    def best_match(self, title: str) -> float:
        """The highest similarity of ``title`` to a remembered title (0 when none shares a shingle)."""
        sh = shingles(title)
        if not sh:
            return 0.0
        shared: dict[int, int] = {}
        for s in sh:
            for idx in self._postings.get(s, ()):
                shared[idx] = shared.get(idx, 0) + 1
        best = 0.0
        for idx, inter in shared.items():
            best = max(best, inter / (len(sh) + len(self._sets[idx]) - inter))
        return best

    def is_duplicate(self, title: str) -> bool:
        """True when ``title`` is at least :attr:`threshold` similar to a remembered title."""
        return self.best_match(title) >= self.threshold
