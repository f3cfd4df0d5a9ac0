"""Plain text from the HTML and markup that feeds and listings carry."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

#: Longest title kept, in characters (longer ones are cut at a word boundary and end with "…").
MAX_TITLE_CHARS = 500
#: Longest summary kept, in characters.
MAX_SUMMARY_CHARS = 2_000

_SPACE = re.compile(r"\s+")
_SKIPPED = frozenset({"script", "style", "head", "title", "noscript", "template", "iframe", "object"})
_BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"})


class _TextCollector(HTMLParser):
    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self._skip:
            self._skip -= 1
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip and self.size <= self.limit:
            self.parts.append(data)
            self.size += len(data)


def html_to_text(markup: str | None, *, max_chars: int) -> str:
    """Visible text of an HTML fragment: tags dropped (scripts and styles with their content), entities decoded,
    whitespace collapsed, cut to ``max_chars`` characters (see :func:`clip`). ``None`` or "" gives ""."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return clip(markup, max_chars)
    parser = _TextCollector(limit=max_chars * 2 + 64)
    parser.feed(markup)
    parser.close()
    return clip("".join(parser.parts), max_chars)


def plain_text(text: str | None, *, max_chars: int) -> str:
    """``text`` with HTML entities decoded and whitespace collapsed, cut to ``max_chars`` (no tag removal)."""
    if not text:
        return ""
    return clip(html.unescape(text[: max_chars * 4 + 64]), max_chars)


def clip(text: str, max_chars: int) -> str:
    """Whitespace collapsed and stripped; longer than ``max_chars``: cut at the last space before the limit (or
    at the limit) and ended with "…", so the result has at most ``max_chars`` characters."""
    out = _SPACE.sub(" ", text[: max_chars * 4 + 64]).strip()
    if len(out) <= max_chars:
        return out
    cut = out[: max_chars - 1]
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"
