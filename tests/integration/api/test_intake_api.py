"""Intake routes over the API (SQLite and PostgreSQL): reading posts and commands, providers scored over their
tracked signals and the stored candles, and per-user TradingView webhook tokens with the webhook mounted in the app
(alerts stored, replays refused on the in-process guard and on Redis, the token never logged)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis
from structlog.testing import capture_logs
from tests.integration.api.conftest import REDIS_URL, Api, Caller, Serve, sign_in
from tests.integration.api.test_api_errors import assert_error

from tsbot.accounts.models import Role
from tsbot.adapters.replay_redis import DEFAULT_PREFIX
from tsbot.intake.models import EntryKind, Side, TradeIntent
from tsbot.intake.tracking import SignalTracker
from tsbot.intake.webhooks import replay_key
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.wiring import Services

PARSE = "/api/v1/intake/parse"
PROVIDERS = "/api/v1/intake/providers"
TOKENS = "/api/v1/intake/webhooks/tokens"
ALERTS = "/api/v1/intake/webhooks/alerts"
HOOK = "/api/v1/webhooks/tradingview/"
START = datetime(2024, 1, 1, tzinfo=UTC)
POST = "#BTC/USDT LONG\nEntry: 30000 - 29500\nTargets: 31000, 32000, 33000\nStop loss: 28500\nLeverage: 10x"
ALERT = {"symbol": "BINANCE:BTCUSDT.P", "side": "buy", "price": "30000.5", "tp": [31000, 32000], "sl": 29000}


async def owned_objects(api: Api, caller: Caller) -> dict[str, str]:
    """A webhook token of ``caller``, made through the API."""
    answer = await api.client.post(TOKENS, json={"label": "walk"}, headers=caller.headers)
    assert answer.status_code == 201, answer.text
    return {"token_id": answer.json()["id"]}


async def test_parse_reads_a_signal_post(serve: Serve) -> None:
    async with serve() as api:
        trader = await sign_in(api)
        answer = await api.client.post(PARSE, json={"text": POST, "kind": "post"}, headers=trader.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kind"] == "signal" and body["update"] is None and body["command"] is None
    assert body["signal"] == {
        "symbol": "BTC/USDT",
        "side": "long",
        "entry_kind": "zone",
        "entries": ["30000", "29500"],
        "take_profits": ["31000", "32000", "33000"],
        "stop_loss": "28500",
        "leverage": "10",
        "margin": None,
        "exchanges": [],
    }
    assert 0.5 < body["confidence"] <= 1


async def test_parse_follow_up_names_the_open_signal_it_matches(serve: Serve, services: Services) -> None:
    tracker = SignalTracker(services.tracked_signals)
    intent = TradeIntent("BTC/USDT", Side.LONG, (Decimal(30000),), EntryKind.SINGLE, (Decimal(31000),))
    signal = await tracker.record_signal("alpha", "p1", intent, START)
    text = "#BTC/USDT Take-Profit target 1 ✅\nProfit: 20%"
    async with serve() as api:
        trader = await sign_in(api)
        matched = await api.client.post(
            PARSE, json={"text": text, "kind": "post", "provider": "alpha"}, headers=trader.headers
        )
        unknown = await api.client.post(
            PARSE, json={"text": text, "kind": "post", "provider": "nobody"}, headers=trader.headers
        )
    assert matched.status_code == 200, matched.text
    body = matched.json()
    assert body["kind"] == "update" and body["matched_signal_id"] == signal.id
    assert body["update"]["event"] == "target_hit" and body["update"]["target_index"] == 1
    assert body["update"]["profit_pct"] == "20"
    assert unknown.json()["matched_signal_id"] is None
    assert (await services.tracked_signals.get(signal.id or 0)) == signal  # parsing stores nothing


async def test_parse_reads_a_command(serve: Serve) -> None:
    async with serve() as api:
        trader = await sign_in(api)
        buy = await api.client.post(
            PARSE, json={"text": "buy 0.1 BTC at market", "kind": "command"}, headers=trader.headers
        )
        unclear = await api.client.post(
            PARSE, json={"text": "buy BTC", "kind": "command"}, headers=trader.headers
        )
    assert buy.status_code == 200, buy.text
    command = buy.json()["command"]
    assert buy.json()["kind"] == "command"
    assert command["intent"] == "buy" and command["symbol"] == "BTC" and command["amount"] == "0.1"
    assert command["amount_kind"] == "quantity" and command["order_type"] == "market"
    assert command["executable"] is True and command["summary"] == "buy 0.1 BTC at market"
    assert unclear.status_code == 200 and unclear.json()["command"]["executable"] is False
    assert unclear.json()["command"]["clarification"]


async def test_parse_refuses_what_it_cannot_read_with_the_reason(serve: Serve) -> None:
    """Bad input: small talk as a post, nonsense as a command, empty texts."""
    async with serve() as api:
        trader = await sign_in(api)
        post = await api.client.post(
            PARSE, json={"text": "good morning all", "kind": "post"}, headers=trader.headers
        )
        command = await api.client.post(
            PARSE, json={"text": "what is love", "kind": "command"}, headers=trader.headers
        )
        empty_post = await api.client.post(PARSE, json={"text": "", "kind": "post"}, headers=trader.headers)
        empty_command = await api.client.post(
            PARSE, json={"text": " ", "kind": "command"}, headers=trader.headers
        )
    assert "not a signal or a follow-up" in assert_error(post, 422, "not_a_signal")["message"]
    assert "didn't understand" in assert_error(command, 422, "not_understood")["message"]
    assert "empty post" in assert_error(empty_post, 422, "not_a_signal")["message"]
    assert "empty" in assert_error(empty_command, 422, "not_understood")["message"]


async def test_parse_never_answers_5xx_to_adversarial_text(serve: Serve) -> None:
    """Bad input: 900 KB of text (under the 1 MiB body limit) as post and command, a body over the limit, emoji,
    right-to-left and zero-width characters, NUL and control characters, a lone surrogate, a number as text, an
    unknown kind, a missing text, an empty provider, NUL in a provider (body and path), a provider too long."""
    huge = ("BTC LONG entry 1 " * 60_000)[:900_000]
    texts = [
        huge,
        "🚀" * 5000,
        "\u202e\u200b\u200dLONG BTC\u0000\u0007 ٣٠٠٠٠",
        "\x00" * 1000,
        "Ｂｕｙ　０.１　ＢＴＣ",
    ]
    async with serve() as api:
        trader = await sign_in(api)
        answers = []
        for text in texts:
            for kind in ("post", "command"):
                body = {"text": text, "kind": kind}
                answers.append(await api.client.post(PARSE, json=body, headers=trader.headers))
        raw = '{"text": "a\\ud800b", "kind": "post"}'
        headers = {**trader.headers, "content-type": "application/json"}
        surrogate = await api.client.post(PARSE, content=raw, headers=headers)
        malformed = [
            await api.client.post(PARSE, json=body, headers=trader.headers)
            for body in ({"text": 42, "kind": "post"}, {"text": "x", "kind": "tweet"}, {"kind": "post"})
        ]
        bad_providers = [
            await api.client.post(
                PARSE, json={"text": POST, "kind": "post", "provider": name}, headers=trader.headers
            )
            for name in ("", "a\x00b", "x" * 201)
        ]
        nul_provider = await api.client.get(f"{PROVIDERS}/a%00b", headers=trader.headers)
        too_big = await api.client.post(
            PARSE, json={"text": "x" * 1_100_000, "kind": "post"}, headers=trader.headers
        )
    assert all(a.status_code in (200, 422) for a in answers), [a.status_code for a in answers]
    assert "lone surrogate" in assert_error(surrogate, 422, "validation_error")["message"]
    for answer in (*malformed, *bad_providers):
        assert_error(answer, 422, "validation_error")
    assert_error(nul_provider, 422, "validation_error")  # a NUL in the path is refused app-wide
    assert_error(too_big, 413, "payload_too_large")


async def test_who_may_parse_and_read_providers(serve: Serve) -> None:
    """Bad input: no token; a viewer parsing (read only) and managing webhook tokens."""
    async with serve() as api:
        viewer = await sign_in(api, Role.VIEWER)
        assert_error(await api.client.post(PARSE, json={"text": POST, "kind": "post"}), 401, "unauthorized")
        refused = await api.client.post(PARSE, json={"text": POST, "kind": "post"}, headers=viewer.headers)
        assert_error(refused, 403, "forbidden")
        assert_error(await api.client.get(PROVIDERS), 401, "unauthorized")
        listed = await api.client.get(PROVIDERS, headers=viewer.headers)
        assert_error(
            await api.client.post(TOKENS, json={"label": "x"}, headers=viewer.headers), 403, "forbidden"
        )
        assert_error(await api.client.get(TOKENS, headers=viewer.headers), 403, "forbidden")
        assert_error(await api.client.post(TOKENS, json={"label": "x"}), 401, "unauthorized")
    assert listed.status_code == 200 and listed.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def store_candles(services: Services) -> None:
    """400 hourly BTC/USDT bars on binance from :data:`START`: a sine wave around 100 (high 1 % over the close)."""
    t0 = int(START.timestamp() * 1000)
    closes = [100 + 10 * math.sin(i / 12) for i in range(400)]
    rows = [(t0 + i * Timeframe.H1.ms, c, c * 1.01, c * 0.99, c, 10.0) for i, c in enumerate(closes)]
    await services.candles.upsert(
        SeriesKey("binance", "BTC/USDT", Timeframe.H1), "crypto", CandleFrame.from_rows(rows)
    )


async def test_providers_are_scored_over_their_tracked_signals(serve: Serve, services: Services) -> None:
    """alpha: a market long on BTC whose take-profit the sine wave reaches (stop never touched); beta: a short on
    ETH, for which no candles are stored."""
    await store_candles(services)
    tracker = SignalTracker(services.tracked_signals)
    win = TradeIntent("BTC", Side.LONG, targets=(Decimal(108),), stop=Decimal(80))
    await tracker.record_signal("alpha", "a1", win, START + timedelta(hours=1))
    eth = TradeIntent(
        "ETH/USDT", Side.SHORT, (Decimal(2000),), EntryKind.SINGLE, (Decimal(1900),), Decimal(2100)
    )
    await tracker.record_signal("beta", "b1", eth, START + timedelta(hours=1))
    async with serve() as api:
        reader = await sign_in(api, Role.VIEWER)
        page = await api.client.get(PROVIDERS, headers=reader.headers)
        second = await api.client.get(PROVIDERS, params={"limit": 1, "offset": 1}, headers=reader.headers)
        daily = await api.client.get(PROVIDERS, params={"timeframe": "1d"}, headers=reader.headers)
        alpha = await api.client.get(f"{PROVIDERS}/alpha", headers=reader.headers)
        other_exchange = await api.client.get(f"{PROVIDERS}/alpha?exchange=kraken", headers=reader.headers)
        missing = await api.client.get(f"{PROVIDERS}/nobody", headers=reader.headers)
        bad = await api.client.get(PROVIDERS, params={"timeframe": "7m"}, headers=reader.headers)
    assert page.status_code == 200, page.text
    scores: dict[str, Any] = {item["provider"]: item for item in page.json()["items"]}
    assert list(scores) == ["alpha", "beta"] and page.json()["total"] == 2
    a, b = scores["alpha"], scores["beta"]
    assert a["signals"] == 1 and a["by_status"]["entered"] == 1 and a["replayed"] == 1 and a["filled"] == 1
    assert a["hit_rate"] == 1.0 and a["win_rate"] == 1.0 and a["average_r"] > 0 and a["profit_factor"] is None
    assert b["by_status"]["pending"] == 1 and b["no_data"] == 1 and b["replayed"] == 0 and b["filled"] == 0
    assert [i["provider"] for i in second.json()["items"]] == ["beta"] and second.json()["total"] == 2
    assert all(item["no_data"] == 1 for item in daily.json()["items"])  # no 1d candles stored
    detail = alpha.json()
    assert detail["score"] == a
    [signal] = detail["signals"]
    assert signal["post_id"] == "a1" and signal["signal"]["take_profits"] == ["108"]
    assert signal["replay"]["exit_reason"] == "target" and signal["replay"]["r"] > 0
    assert other_exchange.json()["signals"][0]["replay"]["exit_reason"] == "no_data"
    assert_error(missing, 404, "not_found")
    assert_error(bad, 422, "validation_error")


async def test_webhook_tokens_and_the_mounted_webhook(serve: Serve) -> None:
    async with serve() as api:
        owner = await sign_in(api)
        other = await sign_in(api)
        created = await api.client.post(TOKENS, json={"label": "  my strategy  "}, headers=owner.headers)
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        token_id = created.json()["id"]
        listed = await api.client.get(TOKENS, headers=owner.headers)
        body = json.dumps(ALERT).encode()
        with capture_logs() as logs:
            accepted = await api.client.post(
                HOOK + token, content=body, headers={"content-type": "application/json"}
            )
            replayed = await api.client.post(
                HOOK + token, content=body, headers={"content-type": "application/json"}
            )
            wrong = await api.client.post(HOOK + token[:-1] + "x", content=body)
        alerts = await api.client.get(ALERTS, headers=owner.headers)
        their_alerts = await api.client.get(ALERTS, headers=other.headers)
        their_delete = await api.client.delete(f"{TOKENS}/{token_id}", headers=other.headers)
        deleted = await api.client.delete(f"{TOKENS}/{token_id}", headers=owner.headers)
        again = await api.client.delete(f"{TOKENS}/{token_id}", headers=owner.headers)
        after = await api.client.post(HOOK + token, content=b'{"symbol": "ETHUSDT", "side": "sell"}')
        emptied = await api.client.get(TOKENS, headers=owner.headers)
    info = created.json()
    assert token.startswith("tvw_") and len(token) > 40 and info["label"] == "my strategy"
    assert info["webhook_url"].endswith(HOOK + token) and token.startswith(info["prefix"])
    assert listed.json()["total"] == 1 and token not in listed.text and "webhook_url" not in listed.text
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["signal"]["symbol"] == "BTC/USDT"
    assert replayed.status_code == 409 and wrong.status_code == 401
    assert token not in repr(logs) and any(e.get("path") == HOOK + "***" for e in logs)
    [alert] = alerts.json()["items"]
    assert alert["signal"]["symbol"] == "BTC/USDT" and alert["signal"]["side"] == "long"
    assert alert["signal"]["entries"] == ["30000.5"] and alert["signal"]["stop_loss"] == "29000"
    assert their_alerts.json()["total"] == 0
    assert_error(their_delete, 404, "not_found")
    assert deleted.status_code == 204
    assert_error(again, 404, "not_found")
    assert after.status_code == 401
    assert emptied.json()["total"] == 0


async def test_webhook_token_creation_and_deletion_are_in_the_activity_log(serve: Serve) -> None:
    """Who, what, when and from where, never the token. Bad input: another user deleting the token and a delete of
    an unknown id (404s: nothing done, nothing recorded)."""
    async with serve(client_ip="198.51.100.7") as api:
        owner = await sign_in(api)
        other = await sign_in(api)
        admin = await sign_in(api, Role.ADMIN)
        before = datetime.now(UTC)
        created = (await api.client.post(TOKENS, json={"label": "breakout"}, headers=owner.headers)).json()
        assert (
            await api.client.delete(f"{TOKENS}/{created['id']}", headers=other.headers)
        ).status_code == 404
        assert (await api.client.delete(f"{TOKENS}/{'0' * 32}", headers=owner.headers)).status_code == 404
        deleted = await api.client.delete(f"{TOKENS}/{created['id']}", headers=owner.headers)
        after = datetime.now(UTC)
        log = await api.client.get(
            "/api/v1/admin/activity",
            params={"action": ["webhook_token.created", "webhook_token.deleted"]},
            headers=admin.headers,
        )
    assert deleted.status_code == 204 and log.status_code == 200, log.text
    entries = log.json()["items"]
    assert [e["action"] for e in entries] == [
        "webhook_token.deleted",
        "webhook_token.created",
    ]  # newest first
    for entry in entries:
        assert (entry["actor_id"], entry["actor"]) == (owner.user.id, owner.user.email)
        assert entry["target"] == created["id"] and entry["ip"] == "198.51.100.7"
        assert before <= datetime.fromisoformat(entry["at"]) <= after
    assert entries[1]["details"] == {"label": "breakout", "prefix": created["prefix"]}
    assert entries[0]["details"] == {}
    assert created["token"] not in log.text


async def test_webhook_token_inputs(serve: Serve) -> None:
    """Bad input: a blank label, a label over 64 characters, NUL and newline in a label, a lone surrogate, no
    label; deleting ids with NUL or of the wrong shape; then one token more than a user may hold."""
    async with serve() as api:
        owner = await sign_in(api)
        for body in ({"label": "   "}, {"label": "x" * 65}, {"label": "a\x00b"}, {"label": "a\nb"}, {}):
            assert_error(
                await api.client.post(TOKENS, json=body, headers=owner.headers), 422, "validation_error"
            )
        headers = {**owner.headers, "content-type": "application/json"}
        surrogate = await api.client.post(TOKENS, content='{"label": "\\udfff"}', headers=headers)
        assert_error(surrogate, 422, "validation_error")
        assert_error(
            await api.client.delete(f"{TOKENS}/x{'x' * 31}", headers=owner.headers), 404, "not_found"
        )
        for bad_id in ("a%00b", "%00"):  # a NUL in the path is refused app-wide
            assert_error(
                await api.client.delete(f"{TOKENS}/{bad_id}", headers=owner.headers), 422, "validation_error"
            )
        for n in range(20):
            made = await api.client.post(TOKENS, json={"label": f"t{n}"}, headers=owner.headers)
            assert made.status_code == 201
        over = await api.client.post(TOKENS, json={"label": "one more"}, headers=owner.headers)
        page = await api.client.get(TOKENS, params={"limit": 5, "offset": 18}, headers=owner.headers)
    assert_error(over, 409, "too_many_tokens")
    assert page.json()["total"] == 20 and [t["label"] for t in page.json()["items"]] == ["t18", "t19"]


async def test_webhook_replay_guard_is_on_redis_when_configured(serve: Serve, redis_ip: str) -> None:
    """Two apps sharing the Redis: an alert accepted by one is refused as a replay by the other."""
    client = redis.Redis.from_url(REDIS_URL)
    async with serve(redis_url=REDIS_URL, client_ip=redis_ip) as api:
        owner = await sign_in(api)
        token = (await api.client.post(TOKENS, json={"label": "r"}, headers=owner.headers)).json()["token"]
        body = json.dumps({**ALERT, "comment": redis_ip}).encode()
        first = await api.client.post(HOOK + token, content=body)
    key = DEFAULT_PREFIX + replay_key(owner.user.id, body)
    try:
        stored = client.exists(key)
        async with serve(redis_url=REDIS_URL, client_ip=redis_ip) as second_app:
            second = await second_app.client.post(HOOK + token, content=body)
    finally:
        client.delete(key)
        client.close()
    assert first.status_code == 202, first.text
    assert stored == 1 and second.status_code == 409
