"""Outbox rules: request checks (bad input: empty or huge keys, non-JSON values, NaN, naive times), backoff
doubling with its cap and the channel's Retry-After, and the temporary / permanent split of errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tsbot.core.errors import DataError, TemporaryError, TsbotError
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.notify.policy import MAX_ERROR_CHARS, check_now, check_request, classify, retry_delay_s


def _req(**kw: object) -> NotificationRequest:
    base: dict[str, object] = {
        "user_id": "u1",
        "type": NotificationType.SYSTEM,
        "dedup_key": "k",
        "context": {},
    }
    return NotificationRequest(**(base | kw))  # type: ignore[arg-type]


def test_context_is_made_json() -> None:
    at = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    context = {
        "price": Decimal("0.000065"),
        "at": at,
        "day": date(2024, 1, 2),
        "type": NotificationType.PRICE_ALERT,
        "tags": ("a", "b"),
        "set": {"y", "x"},
        "nested": {"n": [1, 2.5, None, True]},
    }
    assert check_request(_req(context=context)) == {
        "price": "0.000065",
        "at": "2024-01-01T10:00:00+00:00",
        "day": "2024-01-02",
        "type": "price_alert",
        "tags": ["a", "b"],
        "set": ["x", "y"],
        "nested": {"n": [1, 2.5, None, True]},
    }


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"dedup_key": ""}, "dedup key"),
        ({"dedup_key": "k" * 201}, "dedup key"),
        ({"user_id": " "}, "user id"),
        ({"type": "weather"}, "unknown notification type"),
        ({"context": {"f": float("nan")}}, "finite"),
        ({"context": {"o": object()}}, "is not JSON"),
        ({"context": {1: "x"}}, "keys must be text"),
        ({"context": {"big": "x" * 20_000}}, "bytes as JSON"),
        ({"context": ["not", "a", "mapping"]}, "mapping"),
    ],
)
def test_bad_requests_are_refused(kw: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        check_request(_req(**kw))


def test_backoff_doubles_up_to_the_cap_and_respects_retry_after() -> None:
    delays = [retry_delay_s(n, backoff_s=30, max_backoff_s=3600) for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay_s(1, backoff_s=30, max_backoff_s=3600, retry_after_s=90) == 90
    assert retry_delay_s(3, backoff_s=30, max_backoff_s=3600, retry_after_s=5) == 120
    assert retry_delay_s(1, backoff_s=30, max_backoff_s=600, retry_after_s=86_400) == 600
    assert retry_delay_s(10_000, backoff_s=30, max_backoff_s=600) == 600  # no overflow


class _Slow(TemporaryError):
    def __init__(self) -> None:
        super().__init__("rate limited")
        self.retry_after_s = 12


def test_errors_are_sorted_into_temporary_and_for_good() -> None:
    assert classify(_Slow()).temporary and classify(_Slow()).retry_after_s == 12
    refused = classify(TsbotError("550 no such user"))
    assert not refused.temporary and refused.error == "550 no such user"
    bug = classify(KeyError("x"))
    assert bug.temporary and bug.error.startswith("unexpected KeyError")
    assert len(classify(TsbotError("e" * 5_000)).error) == MAX_ERROR_CHARS


def test_now_must_be_aware() -> None:
    with pytest.raises(DataError):
        check_now(datetime(2024, 1, 1))  # bad input: a naive time
    assert check_now(datetime(2024, 1, 1, tzinfo=UTC)).tzinfo is UTC
