"""Inbound webhook alerts: who sent them (a per-user secret token), and whether they were already seen.

TradingView cannot sign its webhooks or add headers, so the secret travels in the URL
(``/api/v1/webhooks/tradingview/{token}``); whoever holds the URL can post. Three checks make that safer:

* tokens are kept only as SHA-256 digests and compared with :func:`hmac.compare_digest`, on the same path for an
  unknown token as for a wrong one;
* the same body from the same owner within ``replay_window_s`` seconds is refused (:class:`ReplayGuard`; the key
  is :func:`replay_key`);
* an alert whose own ``time`` is more than ``max_clock_skew_s`` seconds from the receive time is refused
  (:func:`check_sent_at`), so a body captured once cannot be posted again after the replay window.

:class:`WebhookIntake` runs the checks in order: token, body, time, replay.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tsbot.core.errors import DataError, OperationalError
from tsbot.core.time import to_utc
from tsbot.intake.models import TradeIntent
from tsbot.intake.tradingview import MAX_ALERT_BYTES, read_alert

#: Tokens shorter than this are refused by :meth:`MemoryTokenStore.add` (too easy to guess).
MIN_TOKEN_LENGTH = 16


class UnknownTokenError(OperationalError):
    """The webhook token is unknown or wrong (the two are not told apart)."""


class ReplayedAlertError(DataError):
    """The same alert body from the same owner was already accepted within the replay window."""


class StaleAlertError(DataError):
    """The alert's own ``time`` is further from the receive time than the allowed clock skew."""


class WebhookTokenStore(Protocol):
    """Maps a webhook's secret token to the id of the user who owns it."""

    def owner_of(self, token: str) -> str | None:
        """The owner's user id, or ``None`` for an unknown token. Must not take longer for near misses."""
        ...


class ReplayGuard(Protocol):
    """Remembers accepted alert keys for a while."""

    async def seen(self, key: str, window_s: int) -> bool:
        """``True`` when ``key`` was already accepted within the last ``window_s`` seconds; otherwise record it
        (for ``window_s`` seconds) and return ``False``. Check and record are one atomic step."""
        ...

    async def forget(self, key: str) -> None:
        """Drop ``key`` (its alert was accepted but could not be handled, so a resend must pass)."""
        ...


def token_digest(token: str) -> bytes:
    """SHA-256 digest (32 bytes) of a token's UTF-8 text: what a token store keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def replay_key(owner: str, body: bytes) -> str:
    """Hex SHA-256 of the owner id and the raw body (64 characters), the key a :class:`ReplayGuard` stores."""
    return hashlib.sha256(owner.encode("utf-8") + b"\x00" + body).hexdigest()


class MemoryTokenStore:
    """Tokens held in process as SHA-256 digests; ``tokens`` maps raw token to owner id.

    Lookup is by digest, and the stored digest is compared again with :func:`hmac.compare_digest`; an unknown
    token is compared against a dummy digest so it takes the same path as a wrong one.
    """

    _DUMMY = token_digest("\x00unknown-token")

    def __init__(self, tokens: Mapping[str, str] | None = None) -> None:
        self._owners: dict[bytes, str] = {}
        self._lock = threading.Lock()
        for token, owner in (tokens or {}).items():
            self.add(token, owner)

    def add(self, token: str, owner: str) -> None:
        """Let ``token`` act for ``owner``. Raises :class:`DataError` for a token under 16 characters."""
        if len(token) < MIN_TOKEN_LENGTH:
            raise DataError(f"a webhook token needs at least {MIN_TOKEN_LENGTH} characters")
        with self._lock:
            self._owners[token_digest(token)] = owner

    def issue(self, owner: str) -> str:
        """A new random token (43 URL-safe characters, 256 bits) for ``owner``; only its digest is kept."""
        token = secrets.token_urlsafe(32)
        self.add(token, owner)
        return token

    def revoke(self, token: str) -> bool:
        """Forget ``token``; ``True`` when it was known."""
        with self._lock:
            return self._owners.pop(token_digest(token), None) is not None

    def owner_of(self, token: str) -> str | None:
        """The owner of ``token``, or ``None``."""
        digest = token_digest(token)
        owner = self._owners.get(digest)
        stored = self._DUMMY if owner is None else digest
        matches = hmac.compare_digest(stored, digest)
        return owner if matches and owner is not None else None


class MemoryReplayGuard:
    """A :class:`ReplayGuard` for one process: keys with their expiry on a monotonic clock (seconds).

    Expired keys are evicted on every call (a heap ordered by expiry). ``clock`` is injectable for tests.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Keys held now (expired ones included until the next call)."""
        return len(self._expiry)

    async def seen(self, key: str, window_s: int) -> bool:
        now = self._clock()
        with self._lock:
            self._evict(now)
            if key in self._expiry:
                return True
            expires = now + window_s
            self._expiry[key] = expires
            heapq.heappush(self._heap, (expires, key))
            return False

    async def forget(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)

    def _evict(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expires:
                del self._expiry[key]


def check_sent_at(sent_at: datetime, received_at: datetime, max_skew_s: int) -> None:
    """Refuse an alert sent more than ``max_skew_s`` seconds before (or after) ``received_at`` (aware UTC).

    Raises :class:`StaleAlertError` naming the difference and the limit.
    """
    skew = (to_utc(received_at) - to_utc(sent_at)).total_seconds()
    if abs(skew) > max_skew_s:
        when = "before" if skew > 0 else "after"
        raise StaleAlertError(
            f"alert time {to_utc(sent_at).isoformat()} is {abs(skew):.0f} s {when} it was received; the limit is "
            f"{max_skew_s} s (put {{{{timenow}}}} in the alert's time field)"
        )


@dataclass(frozen=True, slots=True)
class AcceptedAlert:
    """An alert that passed every check: its owner, trade, receive time (aware UTC), own time and replay key."""

    owner: str
    intent: TradeIntent
    received_at: datetime
    sent_at: datetime | None
    replay_key: str
    source: str


class WebhookIntake:
    """The checks one webhook alert goes through, independent of HTTP.

    Parameters
    ----------
    tokens, guard:
        Where tokens and accepted alert keys live.
    replay_window_s:
        Seconds an accepted body stays refused as a replay.
    max_clock_skew_s:
        Largest distance in seconds between the alert's own ``time`` and its receive time.
    max_body_bytes:
        Largest body read, in bytes.
    """

    def __init__(
        self,
        tokens: WebhookTokenStore,
        guard: ReplayGuard,
        *,
        replay_window_s: int,
        max_clock_skew_s: int,
        max_body_bytes: int = MAX_ALERT_BYTES,
    ) -> None:
        self.tokens = tokens
        self.guard = guard
        self.replay_window_s = replay_window_s
        self.max_clock_skew_s = max_clock_skew_s
        self.max_body_bytes = max_body_bytes

    def authenticate(self, token: str) -> str:
        """The owner of ``token``. Raises :class:`UnknownTokenError` for an unknown or wrong token."""
        owner = self.tokens.owner_of(token)
        if owner is None:
            raise UnknownTokenError("unknown webhook token")
        return owner

    async def accept(
        self, owner: str, body: bytes, content_type: str | None, received_at: datetime
    ) -> AcceptedAlert:
        """Read, date-check and replay-check one alert body of ``owner``.

        Raises
        ------
        tsbot.intake.tradingview.AlertError
            The body cannot be read as a trade to open.
        StaleAlertError
            Its ``time`` is too far from ``received_at``.
        ReplayedAlertError
            The same body from the same owner was accepted within the replay window.
        tsbot.core.errors.TemporaryError
            The replay guard's store did not answer (raised by the guard).
        """
        alert = read_alert(body, content_type, max_bytes=self.max_body_bytes)
        if alert.sent_at is not None:
            check_sent_at(alert.sent_at, received_at, self.max_clock_skew_s)
        key = replay_key(owner, body)
        if await self.guard.seen(key, self.replay_window_s):
            raise ReplayedAlertError(
                f"the same alert was already accepted within the last {self.replay_window_s} s"
            )
        return AcceptedAlert(owner, alert.intent, to_utc(received_at), alert.sent_at, key, alert.source)

    async def release(self, accepted: AcceptedAlert) -> None:
        """Let the same body in again (its handling failed after it was accepted)."""
        await self.guard.forget(accepted.replay_key)
