"""OpenAiChatModel and the post fallback over real HTTP, against a scripted local chat server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.support.chat_server import CHAT_PATH, ChatServer, answer, raw, status

from tsbot.adapters.llm.openai_chat import OpenAiChatModel, build_chat_model
from tsbot.config import load_settings
from tsbot.core.errors import OperationalError, TemporaryError
from tsbot.intake.fallback import POST_SYSTEM_PROMPT, FallbackPostParser, LlmAnswerError, LlmPostReader
from tsbot.intake.models import EntryKind, ParsedPost, PostKind, Side

POST = """⚡️⚡️ #SOL/USDT ⚡️⚡️
Signal Type: Regular (Short)
Leverage: Isolated (25.0X)
Entry Targets: 142.35 - 145.10
Take-Profit Targets: 1) 139.8 2) 137.25 3) 133.9
Stop Targets: 149.60"""

VALID = {
    "kind": "signal",
    "signal": {
        "symbol": "SOL/USDT",
        "side": "short",
        "entry": [142.35, 145.10],
        "entry_kind": "zone",
        "targets": [139.8, 137.25, 133.9],
        "stop": 149.60,
        "leverage": 25.0,
        "margin": "isolated",
        "exchanges": [],
    },
    "update": None,
}
VALID_JSON = json.dumps(VALID)
BROKEN_SCHEMA_JSON = VALID_JSON.replace('"short"', '"sell"')
PRICE_NOT_IN_POST_JSON = VALID_JSON.replace("149.6", "150.5")
RULE_READING = ParsedPost(kind=PostKind.OTHER, confidence=0.2, notes=("rule parser found no entry",))


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


def chat_model(server: ChatServer, **overrides: Any) -> OpenAiChatModel:
    options: dict[str, Any] = {
        "base_url": server.base_url,
        "model": "local-test-model",
        "api_key": "sk-local-test",
        "timeout_s": 2.0,
        "max_retries": 0,
        "backoff_s": 0.01,
    }
    options.update(overrides)
    return OpenAiChatModel(**options)


def fallback(model: OpenAiChatModel) -> FallbackPostParser:
    return FallbackPostParser(lambda text: RULE_READING, LlmPostReader(model), min_confidence=0.6)


# --- the request ---------------------------------------------------------------------------------------------


async def test_valid_answer_and_the_request_sent(server: ChatServer) -> None:
    server.script(answer(VALID_JSON))
    text = await chat_model(server).complete_json("system words", "Post:\nhello")
    assert json.loads(text) == json.loads(VALID_JSON)
    (request,) = server.requests
    assert request.path == CHAT_PATH
    assert request.headers["authorization"] == "Bearer sk-local-test"
    assert request.body["model"] == "local-test-model"
    assert request.body["temperature"] == 0
    assert request.body["response_format"] == {"type": "json_object"}
    assert request.messages == [
        {"role": "system", "content": "system words"},
        {"role": "user", "content": "Post:\nhello"},
    ]


async def test_no_auth_header_without_api_key(server: ChatServer) -> None:
    server.script(answer("{}"))
    await chat_model(server, api_key=None).complete_json("s", "u")
    assert "authorization" not in server.requests[0].headers


async def test_shared_client_is_used_and_left_open(server: ChatServer) -> None:
    server.script(answer("{}"), answer("{}"))
    async with httpx.AsyncClient() as client:
        model = chat_model(server, client=client)
        assert await model.complete_json("s", "u") == "{}"
        assert await model.complete_json("s", "u") == "{}"
        assert not client.is_closed
    assert len(server.requests) == 2


# --- scripted answers end to end through FallbackPostParser --------------------------------------------------


async def test_valid_answer_replaces_the_unsure_rule_reading(server: ChatServer) -> None:
    server.script(answer(VALID_JSON))
    post = await fallback(chat_model(server)).parse(POST)
    assert post.kind is PostKind.SIGNAL and post.signal is not None
    assert post.signal.side is Side.SHORT and post.signal.entry_kind is EntryKind.ZONE
    assert post.signal.entry == (Decimal("142.35"), Decimal("145.1"))
    assert post.signal.stop == Decimal("149.6") and post.signal.leverage == Decimal("25.0")
    assert 0 < post.confidence <= 0.8
    (request,) = server.requests
    assert request.messages[0] == {"role": "system", "content": POST_SYSTEM_PROMPT}
    assert POST in request.messages[1]["content"]


async def test_fenced_answer_is_used(server: ChatServer) -> None:
    server.script(answer(f"```json\n{VALID_JSON}\n```"))
    post = await fallback(chat_model(server)).parse(POST)
    assert post.signal is not None and post.signal.targets[-1] == Decimal("133.9")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{'kind': 'signal'", "not valid JSON"),  # invalid JSON
        (BROKEN_SCHEMA_JSON, "schema"),  # side "sell" is not a Side
        (PRICE_NOT_IN_POST_JSON, "text does not contain"),  # a stop of 150.5 the post never wrote
    ],
    ids=["invalid JSON", "breaks the schema", "price not in post"],
)
async def test_invalid_answer_keeps_the_rule_reading(server: ChatServer, content: str, reason: str) -> None:
    server.script(answer(content))
    model = chat_model(server)
    with pytest.raises(LlmAnswerError, match=reason):
        await LlmPostReader(model).read_post(POST)
    server.script(answer(content))
    post = await fallback(model).parse(POST)
    assert post.kind is PostKind.OTHER and post.signal is None and post.confidence == 0.2
    assert post.notes[0] == RULE_READING.notes[0] and reason in post.notes[-1]


async def test_server_error_then_success_is_retried(server: ChatServer) -> None:
    server.script(status(500), status(503), answer(VALID_JSON))
    post = await fallback(chat_model(server, max_retries=2)).parse(POST)
    assert post.kind is PostKind.SIGNAL
    assert len(server.requests) == 3


async def test_rate_limit_then_success_is_retried(server: ChatServer) -> None:
    server.script(status(429, "slow down"), answer("{}"))
    assert await chat_model(server, max_retries=1).complete_json("s", "u") == "{}"


async def test_server_error_on_every_attempt_is_temporary(server: ChatServer) -> None:
    server.script(status(500), status(502))
    with pytest.raises(TemporaryError, match=r"2 attempt.*HTTP 502"):
        await chat_model(server, max_retries=1).complete_json("s", "u")
    server.script(status(500), status(500))
    post = await fallback(chat_model(server, max_retries=1)).parse(POST)
    assert post.kind is PostKind.OTHER and "TemporaryError" in post.notes[-1]


async def test_slow_answer_beyond_timeout_is_temporary(server: ChatServer) -> None:
    server.script(answer(VALID_JSON, delay_s=1.5))
    with pytest.raises(TemporaryError, match="no answer within 0.3 s"):
        await chat_model(server, timeout_s=0.3).complete_json("s", "u")
    server.script(answer(VALID_JSON, delay_s=1.5))
    post = await fallback(chat_model(server, timeout_s=0.3)).parse(POST)
    assert post.kind is PostKind.OTHER and post.confidence == 0.2


async def test_slow_answer_then_fast_retry_succeeds(server: ChatServer) -> None:
    server.script(answer(VALID_JSON, delay_s=1.5), answer(VALID_JSON))
    post = await fallback(chat_model(server, timeout_s=0.3, max_retries=1)).parse(POST)
    assert post.kind is PostKind.SIGNAL


async def test_unauthorised_is_operational_and_not_retried(server: ChatServer) -> None:
    server.script(status(401, "Incorrect API key provided"), answer(VALID_JSON))
    with pytest.raises(OperationalError, match="HTTP 401") as caught:
        await chat_model(server, max_retries=3).complete_json("s", "u")
    assert not isinstance(caught.value, TemporaryError)
    assert len(server.requests) == 1 and server.pending == 1
    post = await fallback(chat_model(server, api_key="sk-wrong")).parse(POST)
    assert post.kind is PostKind.SIGNAL  # the next call got the queued valid answer
    server.script(status(401))
    kept = await fallback(chat_model(server, api_key="sk-wrong")).parse(POST)
    assert kept.kind is PostKind.OTHER and "HTTP 401" in kept.notes[-1]


async def test_unknown_path_is_operational(server: ChatServer) -> None:
    model = chat_model(server, base_url=server.base_url.removesuffix("/v1") + "/v2")
    with pytest.raises(OperationalError, match="HTTP 404"):
        await model.complete_json("s", "u")


@pytest.mark.parametrize(
    "envelope",
    [
        raw("<html>bad gateway page</html>", content_type="text/html"),  # not JSON at all
        raw('{"choices": []}'),  # no choice
        raw('{"choices": [{"message": {"role": "assistant"}}]}'),  # no content
        raw('{"choices": [{"message": {"content": null, "refusal": "no"}}]}'),  # content null
        answer('{"kind": "sig', finish_reason="length"),  # cut off at the token limit
    ],
    ids=["HTML", "no choices", "no content", "null content", "truncated"],
)
async def test_malformed_envelope_is_an_answer_error(server: ChatServer, envelope: Any) -> None:
    server.script(envelope)
    with pytest.raises(LlmAnswerError):
        await chat_model(server).complete_json("s", "u")


async def test_connection_refused_is_temporary() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = OpenAiChatModel(f"http://127.0.0.1:{port}/v1", "m", None, 1.0, 1, backoff_s=0.01)
    with pytest.raises(TemporaryError, match="connection failed"):
        await model.complete_json("s", "u")


# --- settings ------------------------------------------------------------------------------------------------


def test_build_chat_model_from_settings(server: ChatServer) -> None:
    assert build_chat_model(load_settings()) is None  # off by default
    settings = load_settings(
        intake={"llm": {"enabled": True, "base_url": server.base_url + "/", "model": "m1", "max_retries": 2}}
    )
    model = build_chat_model(settings)
    assert model is not None
    assert model.url == f"{server.base_url}/chat/completions" and model.model == "m1"
