"""A local HTTP server for the news readers: the real RSS documents and Reddit listings of ``../shared/data``,
plus hostile and broken answers (malformed XML, HTTP 500, a slow server, redirects, an entity-expansion feed,
a non-JSON Reddit answer) and documents a test puts in ``server.documents``.

The server runs aiohttp in the test's own event loop on ``127.0.0.1`` (a free port). ``server.requests`` logs
``(path, headers)`` of every request received.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from tests.shared_data import SKIP_REASON, shared_data_dir

RSS_FILES = {
    "coindesk": "maddymedia_quant-dashboard__coindesk_rss.xml",
    "cointelegraph": "maddymedia_quant-dashboard__cointelegraph_rss.xml",
    "coindesk-small": "zotochev_trade-news__coindesk.xml",
}
LISTINGS = {
    "new": "TestSubredditListings.test_new__1.json",
    "hot": "TestSubredditListings.test_hot__1.json",
}
LAST_MODIFIED = "Wed, 30 Sep 2026 17:27:11 GMT"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>laughs</title>
<item><title>Bitcoin &lol9;</title><link>https://example.com/lol</link></item>
</channel></rss>
"""


def rss_document(items: list[tuple[str, str, str]], *, title: str = "Test feed") -> bytes:
    """An RSS 2.0 document; ``items`` are ``(title, link, description)`` with markup already escaped as wanted."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
        "<pubDate>Wed, 30 Sep 2026 12:00:00 +0000</pubDate></item>"
        for t, link, d in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://example.com/</link>{body}</channel></rss>"
    ).encode()


class NewsServer:
    """Routes (``url(path)`` gives the absolute URL):

    * ``/rss/<key>``: a real feed (:data:`RSS_FILES`) with ETag and Last-Modified; conditional GET answers 304;
    * ``/r/<name>/<new|hot>.json``: a real Reddit listing (:data:`LISTINGS`); ``/r/notjson/...`` answers HTML,
      ``/r/notlisting/...`` JSON that is no listing; ``/api/v1/access_token`` and ``/r/<name>/<listing>``
      serve asyncpraw;
    * ``/error500``, ``/slow`` (answers after ``slow_s``), ``/redirect`` (301 to ``/rss/coindesk``),
      ``/redirect-loop``, ``/billion-laughs``, ``/truncated`` (the real CoinDesk feed cut in half),
      ``/not-a-feed`` (an HTML page), ``/huge`` (``huge_bytes`` of valid RSS, streamed without a length);
    * ``/doc/<key>``: ``documents[key]`` (bytes) as ``application/rss+xml``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.documents: dict[str, bytes] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.slow_s = 3.0
        self.huge_bytes = 300_000
        self.base = ""
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    async def start(self) -> None:
        app = web.Application(middlewares=[self._log])
        r = app.router
        r.add_get("/rss/{key}", self._rss)
        r.add_get("/doc/{key}", self._doc)
        r.add_get("/error500", self._error500)
        r.add_get("/slow", self._slow)
        r.add_get("/redirect", self._redirect)
        r.add_get("/redirect-loop", self._redirect_loop)
        r.add_get("/billion-laughs", self._billion)
        r.add_get("/truncated", self._truncated)
        r.add_get("/not-a-feed", self._not_a_feed)
        r.add_get("/huge", self._huge)
        r.add_post("/api/v1/access_token", self._token)
        r.add_get("/r/{name}/{listing}", self._listing)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _log(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        self.requests.append((request.path, dict(request.headers)))
        return await handler(request)

    async def _rss(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        if key not in RSS_FILES:
            raise web.HTTPNotFound()
        body = (self.root / "rss" / RSS_FILES[key]).read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
            return web.Response(status=304)
        return web.Response(
            body=body,
            content_type="application/rss+xml",
            headers={"ETag": etag, "Last-Modified": LAST_MODIFIED},
        )

    async def _doc(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.documents[request.match_info["key"]], content_type="application/rss+xml"
        )

    async def _error500(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error")

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.slow_s)
        return web.Response(body=(self.root / "rss" / RSS_FILES["coindesk-small"]).read_bytes())

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(location="/rss/coindesk")

    async def _redirect_loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(location="/redirect-loop")

    async def _billion(self, request: web.Request) -> web.Response:
        return web.Response(body=BILLION_LAUGHS, content_type="application/rss+xml")

    async def _truncated(self, request: web.Request) -> web.Response:
        body = (self.root / "rss" / RSS_FILES["coindesk"]).read_bytes()
        return web.Response(body=body[: len(body) // 2], content_type="application/rss+xml")

    async def _not_a_feed(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><body><h1>Welcome</h1></body></html>", content_type="text/html")

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>')
        sent = 0
        item = b"<item><title>filler</title><link>https://example.com/f</link></item>" * 100
        while sent < self.huge_bytes:
            await resp.write(item)
            sent += len(item)
        await resp.write(b"</channel></rss>")
        return resp

    async def _token(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"access_token": "t", "expires_in": 3600, "scope": "*", "token_type": "bearer"}
        )

    async def _listing(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        listing = request.match_info["listing"].removesuffix(".json")
        if name == "notjson":
            return web.Response(text="<html><body>Too Many Requests</body></html>", content_type="text/html")
        if name == "notlisting":
            return web.json_response({"error": 403, "message": "Forbidden"})
        if listing not in LISTINGS:
            raise web.HTTPNotFound()
        body = (self.root / "reddit_praw_cassettes" / LISTINGS[listing]).read_bytes()
        return web.Response(body=body, content_type="application/json")


@pytest.fixture
async def news_server() -> AsyncIterator[NewsServer]:
    """The local news server over ``../shared/data/rss_reddit`` (skips where that folder is absent)."""
    root = shared_data_dir()
    if root is None or not (root / "rss_reddit").is_dir():
        pytest.skip(f"{SKIP_REASON} (rss_reddit is missing)")
    server = NewsServer(root / "rss_reddit")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
