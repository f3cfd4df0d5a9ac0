"""The rules of the outbox: what a request may hold (:func:`check_request`), how long to wait before a retry
(:func:`retry_delay_s`) and what a channel's error means (:func:`classify`).

Retries back off exponentially: after the n-th failed attempt the next one waits ``backoff_s * 2**(n-1)`` seconds,
at most ``max_backoff_s``, and at least what the channel asked for (an HTTP 429's ``Retry-After``, Telegram's
``retry_after``), capped at ``max_backoff_s`` too. No random jitter: due times are spread by when the notifications
were made, and tests can reason about exact times. After ``max_attempts`` attempts a delivery fails for good.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from tsbot.core.errors import DataError, TemporaryError, TsbotError
from tsbot.core.time import to_utc
from tsbot.notify.models import NotificationRequest, NotificationType

#: Longest dedup key, in characters.
MAX_DEDUP_KEY_CHARS: Final = 200
#: Largest context, as compact JSON, in bytes.
MAX_CONTEXT_BYTES: Final = 16_384
#: Longest error text kept for an attempt, in characters.
MAX_ERROR_CHARS: Final = 500
_MAX_DEPTH: Final = 8


def check_request(request: NotificationRequest) -> dict[str, Any]:
    """The request's context as a JSON object (``Decimal`` as plain decimal text, ``datetime`` as ISO 8601 UTC,
    ``date`` as ISO 8601, enums as their value, tuples and sets as lists), after checking the request.

    Raises:
        DataError: an unknown type, an empty or too long dedup key (over :data:`MAX_DEDUP_KEY_CHARS`), an empty
            user id, or a context that is not a JSON object of text keys, holds a value that is not JSON (or a
            non-finite number), nests deeper than 8 levels, or is over :data:`MAX_CONTEXT_BYTES` as JSON.
    """
    try:
        NotificationType(request.type)
    except ValueError:
        raise DataError(f"unknown notification type {request.type!r}") from None
    if not isinstance(request.user_id, str) or not request.user_id.strip():
        raise DataError("a notification needs a user id")
    key = request.dedup_key
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_DEDUP_KEY_CHARS:
        raise DataError(f"a notification's dedup key must be 1 to {MAX_DEDUP_KEY_CHARS} characters")
    if not isinstance(request.context, Mapping):
        raise DataError("a notification's context must be a mapping of names to values")
    context = _json(request.context, "context", 0)
    size = len(json.dumps(context, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_CONTEXT_BYTES:
        raise DataError(f"a notification's context is {size} bytes as JSON; at most {MAX_CONTEXT_BYTES}")
    return context


def _json(value: Any, where: str, depth: int) -> Any:  # noqa: PLR0911 (one branch per kind of value)
    if depth > _MAX_DEPTH:
        raise DataError(f"{where}: nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(f"{where}: {value} is not a finite number")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise DataError(f"{where}: {value} is not a finite number")
        return format(value, "f")
    if isinstance(value, Enum):
        return _json(value.value, where, depth)
    if isinstance(value, datetime):
        return to_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise DataError(f"{where}: keys must be text, not {type(k).__name__}")
            out[k] = _json(v, f"{where}.{k}", depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_json(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(items)]
    raise DataError(f"{where}: a {type(value).__name__} is not JSON (use text, numbers, lists or objects)")


def retry_delay_s(
    attempt: int, *, backoff_s: float, max_backoff_s: float, retry_after_s: float | None = None
) -> float:
    """Seconds to wait after the ``attempt``-th (1-based) failed attempt: ``backoff_s * 2**(attempt-1)``, at most
    ``max_backoff_s``, and at least ``retry_after_s`` (when the channel asked; also capped at ``max_backoff_s``)."""
    delay = min(backoff_s * 2.0 ** min(max(attempt, 1) - 1, 62), max_backoff_s)
    if retry_after_s is not None and retry_after_s > 0:
        delay = max(delay, min(float(retry_after_s), max_backoff_s))
    return delay


@dataclass(frozen=True, slots=True)
class Failure:
    """What a channel's error means: ``temporary`` (retry later, after at least ``retry_after_s`` seconds when
    set) or not (refused for good), and the error text to record."""

    temporary: bool
    error: str
    retry_after_s: float | None = None


def classify(exc: BaseException) -> Failure:
    """A notifier's error sorted: a :class:`~tsbot.core.errors.TemporaryError` is temporary (its
    ``retry_after_s`` kept), any other :class:`~tsbot.core.errors.TsbotError` is a refusal for good, and anything
    else (a bug, an unforeseen library error) is treated as temporary, so a message is not lost to it; the
    attempt limit still ends it."""
    if isinstance(exc, TemporaryError):
        after = getattr(exc, "retry_after_s", None)
        retry = float(after) if isinstance(after, int | float) and not isinstance(after, bool) else None
        return Failure(True, error_text(exc), retry)
    if isinstance(exc, TsbotError):
        return Failure(False, error_text(exc))
    return Failure(True, error_text(exc, unexpected=True))


def error_text(exc: BaseException, *, unexpected: bool = False) -> str:
    """The error's message (its class name when it has none), cut to :data:`MAX_ERROR_CHARS`; ``unexpected``
    prefixes ``unexpected <class>:``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if unexpected:
        text = f"unexpected {type(exc).__name__}: {text}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def check_now(now: datetime) -> datetime:
    """``now`` as aware UTC.

    Raises:
        DataError: ``now`` is naive.
    """
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise DataError("now must be an aware UTC datetime")
    return to_utc(now)
