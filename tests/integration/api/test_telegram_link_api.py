"""Telegram linking over HTTP (``/api/v1/telegram``) on SQLite and PostgreSQL, with the Bot API played by a real
local HTTP server that records each ``sendMessage`` call and answers as told.

Bad input tried: no token; an API key connecting or disconnecting; a test message with no chat linked, with no bot
token configured, with a malformed token configured, with the Bot API answering 403 (bot blocked), 429, 502 and not
listening at all; a link code used twice, after 10 minutes, replaced by a newer one, never issued.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.integration.api.conftest import Api, Caller, Serve, closed_port, sign_in
from tests.integration.api.test_api_errors import assert_error

from tsbot.accounts.errors import TokenExpiredError, TokenInvalidError, TokenUsedError
from tsbot.accounts.records import AuditAction
from tsbot.accounts.telegram_link import TelegramLinkService
from tsbot.adapters.storage.account_events import SqlAccountEventLog
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.telegram_links import SqlTelegramLinkStore
from tsbot.apps.api import auth
from tsbot.apps.api.telegram import TelegramOptions, telegram_options
from tsbot.core.time import utc_now

URL = "/api/v1/telegram"
TOKEN = "123456789:AAH-test_token-not-a-real-one"
BOT = "tsbot_test_bot"


@dataclass
class BotApi:
    """A local stand-in for api.telegram.org: records calls, answers ``status`` with ``reply``."""

    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    reply: dict[str, Any] = field(default_factory=lambda: {"ok": True, "result": {"message_id": 1}})


@pytest.fixture
def bot_api() -> Iterator[BotApi]:
    state = BotApi()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            state.calls.append((self.path, json.loads(self.rfile.read(size) or b"{}")))
            payload = json.dumps(state.reply).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def use_bot(api: Api, base_url: str, token: str | None = TOKEN) -> None:
    """Configure the app's Telegram options: the bot token, the bot username and the Bot API at ``base_url``."""
    options = TelegramOptions(bot_token=token, bot_username=BOT, api_base_url=base_url, timeout_s=2.0)
    api.app.dependency_overrides[telegram_options] = lambda: options


def links_of(api: Api, **kw: Any) -> TelegramLinkService:
    """The link service as the Telegram bot will build it (over the app's database)."""
    db = api.app.state.services.db
    return TelegramLinkService(
        SqlTelegramLinkStore(db), SqlUserStore(db), events=SqlAccountEventLog(db), bot_username=BOT, **kw
    )


async def link(api: Api, caller: Caller, chat_id: int = 987654321, username: str | None = "ann_t") -> None:
    """Connect through the API, then complete the link as the bot does on ``/start <code>``."""
    code = (await api.client.post(f"{URL}/connect", headers=caller.headers)).json()["code"]
    await links_of(api).complete_link(code, chat_id, username)


async def test_connect_link_test_message_disconnect(
    serve: Serve, bot_api: BotApi, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve() as api:
        use_bot(api, bot_api.url)
        ann = await sign_in(api)
        status = (await api.client.get(URL, headers=ann.headers)).json()
        assert status == {
            "linked": False,
            "username": None,
            "chat_id_masked": None,
            "linked_at": None,
            "bot_username": BOT,
        }
        connect = await api.client.post(f"{URL}/connect", headers=ann.headers)
        assert connect.status_code == 201, connect.text
        code = connect.json()["code"]
        assert connect.json()["deep_link"] == f"https://t.me/{BOT}?start={code}"
        await links_of(api).complete_link(f"{code}", 987654321, "@ann_t")

        status = (await api.client.get(URL, headers=ann.headers)).json()
        assert status["linked"] is True and status["username"] == "ann_t"
        assert status["chat_id_masked"] == "*****4321" and "987654321" not in json.dumps(status)

        caplog.set_level(logging.INFO, logger="httpx")
        sent = await api.client.post(f"{URL}/test", headers=ann.headers)
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"sent": True, "chat_id_masked": "*****4321"}
        ((path, payload),) = bot_api.calls
        assert path == f"/bot{TOKEN}/sendMessage"
        assert payload["chat_id"] == 987654321 and ann.user.email in payload["text"]
        assert TOKEN not in caplog.text and "/bot***/sendMessage" in caplog.text

        assert (await api.client.delete(URL, headers=ann.headers)).status_code == 204
        assert (await api.client.get(URL, headers=ann.headers)).json()["linked"] is False
        assert (await api.client.delete(URL, headers=ann.headers)).status_code == 204  # nothing linked: no-op
        assert_error(await api.client.post(f"{URL}/test", headers=ann.headers), 409, "telegram_not_linked")

        entries = await SqlAccountEventLog(api.app.state.services.db).audit(
            user_id=ann.user.id,
            actions=[
                AuditAction.TELEGRAM_CODE_ISSUED,
                AuditAction.TELEGRAM_LINKED,
                AuditAction.TELEGRAM_UNLINKED,
            ],
        )
        assert [e.action.value for e in entries] == [
            "telegram.unlinked",
            "telegram.linked",
            "telegram.code_issued",
        ]
        assert all(code not in json.dumps(dict(e.details)) for e in entries)


async def test_bot_api_failures_answer_503_without_the_token(serve: Serve, bot_api: BotApi) -> None:
    async with serve() as api:
        ann = await sign_in(api)
        await link(api, ann)
        no_token = await api.client.post(f"{URL}/test", headers=ann.headers)
        assert "not configured" in assert_error(no_token, 503, "telegram_unavailable")["message"]  # type: ignore[operator]

        use_bot(api, bot_api.url, token="not a token")
        malformed = assert_error(
            await api.client.post(f"{URL}/test", headers=ann.headers), 503, "telegram_unavailable"
        )
        assert "malformed" in str(malformed["message"]) and "not a token" not in str(malformed)

        use_bot(api, bot_api.url)
        answers = [
            (
                403,
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
                "blocked",
            ),
            (
                429,
                {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 17}},
                "rate-limit",
            ),
            (502, {"ok": False}, "HTTP 502"),
            (200, {"ok": False, "description": "Bad Request: chat not found"}, "chat not found"),
        ]
        for status, reply, fragment in answers:
            bot_api.status, bot_api.reply = status, reply
            answer = await api.client.post(f"{URL}/test", headers=ann.headers)
            body = assert_error(answer, 503, "telegram_unavailable")
            assert fragment in str(body["message"]) and TOKEN not in answer.text
            if status == 429:
                assert answer.headers["Retry-After"] == "17"
        assert len(bot_api.calls) == 4

        use_bot(api, f"http://127.0.0.1:{closed_port()}")
        unreachable = await api.client.post(f"{URL}/test", headers=ann.headers)
        assert "could not be reached" in str(
            assert_error(unreachable, 503, "telegram_unavailable")["message"]
        )
        assert TOKEN not in unreachable.text


async def test_sign_in_required_and_api_keys_cannot_link(serve: Serve) -> None:
    async with serve() as api:
        for method, path in (("GET", ""), ("POST", "/connect"), ("POST", "/test"), ("DELETE", "")):
            assert_error(await api.client.request(method, f"{URL}{path}"), 401, "unauthorized")
        ann = await sign_in(api)
        key = (await auth.accounts_of_app(api.app).create_api_key(ann.user.id, "program")).key
        as_key = {"Authorization": f"Bearer {key}"}
        assert (await api.client.get(URL, headers=as_key)).json()["linked"] is False
        assert_error(await api.client.post(f"{URL}/connect", headers=as_key), 403, "forbidden")
        assert_error(await api.client.delete(URL, headers=as_key), 403, "forbidden")


async def test_complete_link_codes_on_the_database(serve: Serve) -> None:
    async with serve() as api:
        ann, bob = await sign_in(api), await sign_in(api)
        code = (await api.client.post(f"{URL}/connect", headers=ann.headers)).json()["code"]
        late = links_of(api, clock=lambda: utc_now() + timedelta(minutes=10, seconds=1))
        with pytest.raises(TokenExpiredError):
            await late.complete_link(code, 1001, None)
        await links_of(api).complete_link(code, 1001, None)
        with pytest.raises(TokenUsedError):
            await links_of(api).complete_link(code, 1002, None)
        with pytest.raises(TokenInvalidError):
            await links_of(api).complete_link("never-issued-code", 1003, None)

        old = (await api.client.post(f"{URL}/connect", headers=bob.headers)).json()["code"]
        new = (await api.client.post(f"{URL}/connect", headers=bob.headers)).json()["code"]
        with pytest.raises(TokenUsedError):
            await links_of(api).complete_link(old, 1001, None)
        await links_of(api).complete_link(new, 1001, "bob")  # the same chat: it moves to bob
        assert (await api.client.get(URL, headers=ann.headers)).json()["linked"] is False
        bob_status = (await api.client.get(URL, headers=bob.headers)).json()
        assert bob_status["linked"] is True and bob_status["chat_id_masked"] == "****1001"
        await link(api, ann, chat_id=-1001234567890)  # a group chat id (negative, 13 digits)
        assert (await api.client.get(URL, headers=ann.headers)).json()["chat_id_masked"] == "-*********7890"
