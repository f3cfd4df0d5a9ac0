"""System routes: liveness, readiness against the real database, Redis and RabbitMQ, and Prometheus metrics."""

from __future__ import annotations

import io
import socket
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine
from tests.integration.api.conftest import IN_CI, REDIS_URL, Serve, closed_port
from tests.integration.api.test_api_errors import assert_error

from tsbot.apps.logs import configure_logging
from tsbot.config import load_settings
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.models import Components, Signal
from tsbot.trading.models import Order, OrderRequest, OrderSide, OrderType
from tsbot.wiring import Services

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def metrics_of(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parsed exposition: family name -> [(labels, value)] of its ``_total`` / plain samples."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        out[family.name] = [
            (sample.labels, sample.value) for sample in family.samples if not sample.name.endswith("_created")
        ]
    return out


async def test_health_answers_without_io(serve: Serve) -> None:
    async with serve() as api:
        await api.app.state.services.db.dispose()  # no pooled connection: health must not need one
        answer = await api.client.get("/api/v1/health")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


async def test_ready_checks_the_database_and_skips_what_is_not_configured(serve: Serve) -> None:
    async with serve() as api:
        answer = await api.client.get("/api/v1/ready")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["status"] == "ok" and body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["redis"] == {"status": "not_configured"}
    assert body["checks"]["broker"] == {"status": "not_configured"}


@pytest.fixture
def rabbitmq() -> str:
    """The RabbitMQ at 127.0.0.1:5672; skips when none listens (fails in CI)."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"RabbitMQ at 127.0.0.1:5672 is required in CI: {exc}")
        pytest.skip(f"no RabbitMQ at 127.0.0.1:5672 ({exc})")
    return AMQP_URL


async def test_ready_with_redis_and_an_amqp_broker(serve: Serve, redis_ip: str, rabbitmq: str) -> None:
    async with serve(redis_url=REDIS_URL, broker_url=rabbitmq, client_ip=redis_ip) as api:
        answer = await api.client.get("/api/v1/ready")
    assert answer.status_code == 200, answer.text
    checks = answer.json()["checks"]
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok",
        "redis": "ok",
        "broker": "ok",
    }
    assert all(check["latency_ms"] < 2_000 for check in checks.values())


async def test_ready_with_a_redis_broker(serve: Serve, redis_ip: str) -> None:
    async with serve(broker_url=REDIS_URL, client_ip=redis_ip) as api:
        answer = await api.client.get("/api/v1/ready")
    assert answer.status_code == 200 and answer.json()["checks"]["broker"]["status"] == "ok"


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
async def test_ready_is_503_when_the_broker_is_down(serve: Serve, scheme: str) -> None:
    """Bad input: none; the broker URL points at a port nobody listens on."""
    async with serve(broker_url=f"{scheme}://127.0.0.1:{closed_port()}/") as api:
        answer = await api.client.get("/api/v1/ready")
    body = assert_error(answer, 503, "not_ready")
    assert body["message"] == "not ready: broker is down"
    broker = body["details"]["checks"]["broker"]
    assert broker["status"] == "down" and broker["error"] in ("ConnectionRefusedError", "ConnectionError")
    assert body["details"]["checks"]["database"]["status"] == "ok"
    assert answer.headers["retry-after"] == "5"


async def test_ready_is_503_when_the_database_is_gone(serve: Serve, services: Services) -> None:
    """Bad input: none; the services' engine points at a PostgreSQL port nobody listens on."""
    dead = create_async_engine(f"postgresql+asyncpg://tsbot:pw-not-shown@127.0.0.1:{closed_port()}/tsbot")
    async with serve() as api:
        api.app.state.services = replace(services, db=dead)
        answer = await api.client.get("/api/v1/ready")
        health = await api.client.get("/api/v1/health")
    await dead.dispose()
    body = assert_error(answer, 503, "not_ready")
    assert body["details"]["checks"]["database"] == {
        "status": "down",
        "latency_ms": body["details"]["checks"]["database"]["latency_ms"],
        "error": "TemporaryError",
    }
    assert "pw-not-shown" not in answer.text and "127.0.0.1" not in answer.text  # no addresses in the answer
    assert health.status_code == 200  # liveness does not depend on the database


async def test_metrics_parse_and_count_requests_by_route_template(
    serve: Serve, restore_logging: None
) -> None:
    configure_logging(load_settings(), stream=io.StringIO())  # plain JSON lines: the 500's traceback is quick
    async with serve() as api:
        for _ in range(3):
            assert (await api.client.get("/api/v1/health")).status_code == 200
        await api.client.get("/api/v1/test/raise/not-found")
        await api.client.get("/api/v1/test/boom")
        await api.client.get("/api/v1/nowhere/42")
        scrape = await api.client.get("/api/v1/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    families = metrics_of(scrape.text)
    requests = {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in families["tsbot_http_requests"]
    }
    assert requests[("GET", "/api/v1/health", "200")] == 3
    assert requests[("GET", "/api/v1/test/raise/{kind}", "404")] == 1
    assert requests[("GET", "/api/v1/test/boom", "500")] == 1
    assert requests[("GET", "unrouted", "404")] == 1  # the raw path (/nowhere/42) never becomes a label
    errors = {
        (labels["route"], labels["exception"]): value for labels, value in families["tsbot_http_errors"]
    }
    assert errors == {("/api/v1/test/boom", "RuntimeError"): 1}
    counts = {
        labels["le"]: value
        for labels, value in families["tsbot_http_request_duration_seconds"]
        if labels.get("route") == "/api/v1/health" and "le" in labels
    }
    assert counts["+Inf"] == 3


async def test_two_apps_in_one_process_keep_their_own_metrics(serve: Serve) -> None:
    async with serve() as one, serve() as two:
        await one.client.get("/api/v1/health")
        await one.client.get("/api/v1/health")
        await two.client.get("/api/v1/health")
        first, second = (await one.client.get("/api/v1/metrics")), (await two.client.get("/api/v1/metrics"))
    count = [
        dict(((lb["route"], lb["status"]), v) for lb, v in metrics_of(s.text)["tsbot_http_requests"])[
            ("/api/v1/health", "200")
        ]
        for s in (first, second)
    ]
    assert count == [2, 1]


def _signal(hour: int, action: Action) -> Signal:
    return Signal(
        key=SeriesKey("binance", "BTC/USDT", Timeframe("1h")),
        as_of=datetime(2024, 1, 1, hour, tzinfo=UTC),
        action=action,
        score=0.3 if action is Action.BUY else 0.0,
        confidence=0.5,
        price=100.0,
        stop_loss=None,
        take_profit=[],
        components=Components(0.3, None, None),
        reasons=["test"],
    )


async def test_metrics_count_stored_signals_and_orders(serve: Serve, services: Services) -> None:
    await services.signals.save([_signal(1, Action.HOLD), _signal(2, Action.BUY), _signal(3, Action.BUY)])
    at = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(2):
        request = OrderRequest(
            client_order_id=f"tsb-metrics-{n}",
            account="paper",
            symbol="BTC/USDT",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            qty=Decimal("0.1"),
        )
        assert await services.orders.add(Order.new(request, at))
    async with serve() as api:
        scrape = await api.client.get("/api/v1/metrics")
    families = metrics_of(scrape.text)
    signals = {labels["action"]: value for labels, value in families["tsbot_signals_stored"]}
    orders = {labels["status"]: value for labels, value in families["tsbot_orders_stored"]}
    assert signals == {Action.HOLD.value: 1, Action.BUY.value: 2}
    assert orders == {"new": 2}
