"""Rate limits: requests per hour per IP or user, orders per hour per user, in process and in the real Redis, and
what happens when Redis is down (requests pass, a warning is logged)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Request
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs
from tests.integration.api.conftest import BASE, REDIS_URL, Serve, closed_port
from tests.integration.api.test_api_errors import assert_error

SMALL = {"requests_per_hour": 5, "orders_per_hour": 2}


async def test_the_request_over_the_hourly_limit_gets_429(serve: Serve) -> None:
    """Bad input: the 6th request within the hour where 5 are allowed (the 1,001st of the default, made small)."""
    async with serve(api=SMALL) as api:
        answers = [await api.client.get("/api/v1/ready") for _ in range(5)]
        refused = await api.client.get("/api/v1/ready")
        elsewhere = await api.client.get("/api/v1/openapi.json")  # the limit is per client, not per route
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["4", "3", "2", "1", "0"]
    assert {a.headers["x-ratelimit-limit"] for a in answers} == {"5"}
    body = assert_error(refused, 429, "rate_limited")
    assert 3_590 <= int(refused.headers["retry-after"]) <= 3_600
    assert body["details"]["limit"] == "requests" and body["details"]["max"] == 5
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-frame-options"] == "DENY"
    assert elsewhere.status_code == 429


async def test_health_and_metrics_are_not_counted(serve: Serve) -> None:
    async with serve(api={"requests_per_hour": 2}) as api:
        probes = [await api.client.get("/api/v1/health") for _ in range(10)]
        scrapes = [await api.client.get("/api/v1/metrics") for _ in range(3)]
        counted = [await api.client.get("/api/v1/ready") for _ in range(3)]
    assert {p.status_code for p in probes + scrapes} == {200}
    assert "x-ratelimit-limit" not in probes[0].headers
    assert [c.status_code for c in counted] == [200, 200, 429]


async def test_clients_are_counted_apart_by_ip(serve: Serve) -> None:
    async with serve(api={"requests_per_hour": 1}, client_ip="192.0.2.10") as first:
        assert (await first.client.get("/api/v1/ready")).status_code == 200
        assert (await first.client.get("/api/v1/ready")).status_code == 429
        transport = httpx.ASGITransport(app=first.app, client=("192.0.2.11", 50_000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as other:
            assert (await other.get("/api/v1/ready")).status_code == 200


async def fake_identify(request: Request) -> str | None:
    """Test identity: ``Authorization: Bearer user-<name>`` is user ``<name>`` (no verification: tests only)."""
    auth = request.headers.get("authorization", "")
    return auth.removeprefix("Bearer user-") if auth.startswith("Bearer user-") else None


async def test_identified_users_are_counted_apart_from_each_other_and_their_ip(serve: Serve) -> None:
    async with serve(api={"requests_per_hour": 2}, identify=fake_identify) as api:
        alice = [
            await api.client.get("/api/v1/ready", headers={"authorization": "Bearer user-alice"})
            for _ in range(3)
        ]
        bob = await api.client.get("/api/v1/ready", headers={"authorization": "Bearer user-bob"})
        anonymous = await api.client.get("/api/v1/ready")
    assert [a.status_code for a in alice] == [200, 200, 429]
    assert bob.status_code == 200 and bob.headers["x-ratelimit-remaining"] == "1"
    assert anonymous.status_code == 200 and anonymous.headers["x-ratelimit-remaining"] == "1"


async def test_a_failing_identify_hook_leaves_the_request_anonymous(serve: Serve) -> None:
    async def broken(request: Request) -> str | None:
        raise RuntimeError("token store unreachable")

    with capture_logs() as logs:
        async with serve(identify=broken) as api:
            answer = await api.client.get("/api/v1/ready")
    assert answer.status_code == 200
    assert [e["error"] for e in logs if e["event"] == "http.identify_failed"] == ["RuntimeError"]


async def test_orders_limit_counts_per_user_set_by_a_dependency(serve: Serve) -> None:
    """Bad input: a third order within the hour where 2 per user are allowed."""
    async with serve(api={"requests_per_hour": 100, "orders_per_hour": 2}) as api:
        carol = [
            await api.client.post("/api/v1/test/orders", headers={"x-test-user": "carol"}) for _ in range(3)
        ]
        dave = await api.client.post("/api/v1/test/orders", headers={"x-test-user": "dave"})
        scrape = await api.client.get("/api/v1/metrics")
    assert [c.status_code for c in carol] == [200, 200, 429]
    body = assert_error(carol[2], 429, "rate_limited")
    assert body["details"]["limit"] == "orders" and body["details"]["max"] == 2
    assert 3_590 <= int(carol[2].headers["retry-after"]) <= 3_600
    assert dave.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(scrape.text)}
    refused = {
        s.labels["limit"]: s.value
        for s in families["tsbot_rate_limited"].samples
        if s.name.endswith("_total")
    }
    assert refused == {"orders": 1.0}


async def test_redis_counts_are_shared_by_two_apps(serve: Serve, redis_ip: str) -> None:
    """Bad input: the third request of one client split over two API processes sharing Redis, limit 2."""
    async with (
        serve(api={"requests_per_hour": 2}, redis_url=REDIS_URL, client_ip=redis_ip) as one,
        serve(api={"requests_per_hour": 2}, redis_url=REDIS_URL, client_ip=redis_ip) as two,
    ):
        assert one.app.state.rate_limits.shared
        first = await one.client.get("/api/v1/ready")
        second = await two.client.get("/api/v1/ready")
        third = await one.client.get("/api/v1/ready")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert_error(third, 429, "rate_limited")
    assert 3_590 <= int(third.headers["retry-after"]) <= 3_600


async def test_redis_down_fails_open_with_one_warning(serve: Serve) -> None:
    """Bad input: none; redis_url points at a closed port, so every rate-limit check fails."""
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    with capture_logs() as logs:
        async with serve(api={"requests_per_hour": 1}, redis_url=dead) as api:
            answers = [await api.client.get("/api/v1/openapi.json") for _ in range(4)]
            scrape = await api.client.get("/api/v1/metrics")
            ready = await api.client.get("/api/v1/ready")
    assert [a.status_code for a in answers] == [200] * 4  # over the limit of 1, yet let through
    assert "x-ratelimit-remaining" not in answers[0].headers
    warnings = [e for e in logs if e["event"] == "rate_limit.storage_failed"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
    assert warnings[0]["error"] == "ConnectionError"
    families = {f.name: f for f in text_string_to_metric_families(scrape.text)}
    [skipped] = [s for s in families["tsbot_rate_limit_storage_errors"].samples if s.name.endswith("_total")]
    assert skipped.value >= 4
    body = assert_error(ready, 503, "not_ready")
    assert body["details"]["checks"]["redis"]["status"] == "down"


@pytest.mark.parametrize("limit", [1, 3])
async def test_default_limits_come_from_settings(serve: Serve, limit: int) -> None:
    async with serve(api={"requests_per_hour": limit}) as api:
        answer = await api.client.get("/api/v1/ready")
    assert answer.headers["x-ratelimit-limit"] == str(limit)
    assert answer.headers["x-ratelimit-remaining"] == str(limit - 1)
