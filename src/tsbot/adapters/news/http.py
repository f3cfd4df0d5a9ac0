"""Bounded HTTP GET for news sources: size limit while streaming, conditional GET, clear errors."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tsbot.core.errors import DataError, TemporaryError

#: Redirects followed per request before giving up.
MAX_REDIRECTS = 5


class SourceFetchError(TemporaryError):
    """A source answered with an HTTP error, did not answer in time, or could not be reached."""


class ResponseTooLargeError(DataError):
    """A source sent more than the configured ``news.max_bytes``."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """One response: ``status`` 200 with ``body``, or 304 (not modified, empty body); ``url`` after redirects;
    ``etag`` and ``last_modified`` as the server sent them (None when absent)."""

    status: int
    body: bytes
    url: str
    etag: str | None
    last_modified: str | None


def new_client(
    *, timeout_s: float, user_agent: str, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An HTTP client for news sources: ``timeout_s`` per connect/read/write, redirects followed (at most
    :data:`MAX_REDIRECTS`), ``user_agent`` sent with every request."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": user_agent},
        transport=transport,
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Fetched:
    """GET ``url`` and read at most ``max_bytes`` of body (counted after content decoding, so a compressed bomb
    is stopped too).

    Raises:
        SourceFetchError: HTTP status >= 400 other than 304, a timeout, a connection failure, too many redirects.
        ResponseTooLargeError: the body (or its declared ``Content-Length``) exceeds ``max_bytes``.
    """
    try:
        async with client.stream("GET", url, headers=headers, params=params) as resp:
            if resp.status_code == 304:
                return Fetched(
                    304, b"", str(resp.url), resp.headers.get("ETag"), resp.headers.get("Last-Modified")
                )
            if resp.status_code >= 400:
                raise SourceFetchError(f"HTTP {resp.status_code} {resp.reason_phrase} from {resp.url}")
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes and "Content-Encoding" not in resp.headers:
                raise ResponseTooLargeError(
                    f"response of {int(declared):,} bytes exceeds max_bytes={max_bytes:,}"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLargeError(f"response exceeds max_bytes={max_bytes:,}; reading stopped")
                chunks.append(chunk)
            return Fetched(
                resp.status_code,
                b"".join(chunks),
                str(resp.url),
                resp.headers.get("ETag"),
                resp.headers.get("Last-Modified"),
            )
    except httpx.TimeoutException as exc:
        raise SourceFetchError(f"timed out ({type(exc).__name__}) reading {url}") from exc
    except httpx.TooManyRedirects as exc:
        raise SourceFetchError(f"more than {MAX_REDIRECTS} redirects from {url}") from exc
    except httpx.HTTPError as exc:
        raise SourceFetchError(f"{type(exc).__name__} reading {url}: {exc}") from exc
