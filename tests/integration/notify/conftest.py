"""Real channels for the notification tests: an SMTP server (aiosmtpd) that can refuse chosen recipients, and local
HTTP servers standing in for Slack incoming webhooks and the Telegram Bot API, which record every request, answer as
scripted, and can be stopped and started again on the same port (a service that is down); settings that point
tsbot at them, and helpers to make users with preferences and linked Telegram chats."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.support.smtp import SmtpInbox, free_port, smtp_server

from tsbot.accounts.messaging_ports import TelegramLink
from tsbot.accounts.models import OPERATOR, Preferences, Role, User
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.telegram_links import SqlTelegramLinkStore
from tsbot.config import Settings, load_settings
from tsbot.core.time import utc_now
from tsbot.wiring import Services, open_services

BOT_TOKEN = "123456789:AAH-notify_test-token"
SENDER = "tsbot@tsbot.test"
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    """A running SMTP server on 127.0.0.1 and its inbox."""
    with smtp_server() as inbox:
        yield inbox


@dataclass(frozen=True)
class Answer:
    """One scripted HTTP answer."""

    status: int = 200
    body: Any = "ok"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request the server received: when (monotonic seconds), path and JSON body."""

    at: float
    path: str
    body: Any


class HttpStandIn:
    """A local HTTP server in a thread: records each POST and answers the next scripted :class:`Answer`, else
    ``default``; :meth:`stop` closes the port (connections are refused), :meth:`start` opens it again."""

    def __init__(self, default: Answer, *, delay_s: float = 0.0) -> None:
        self.default = default
        self.delay_s = delay_s
        self.script: deque[Answer] = deque()
        self.seen: list[Seen] = []
        self.port = free_port()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [s.body for s in self.seen]

    def start(self) -> None:
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with state._lock:
                    state.seen.append(Seen(time.monotonic(), self.path, body))
                    answer = state.script.popleft() if state.script else state.default
                if state.delay_s:
                    time.sleep(state.delay_s)
                payload = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
                data = payload.encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None


@pytest.fixture
def slack() -> Iterator[HttpStandIn]:
    """A Slack incoming-webhook stand-in answering ``200 ok``."""
    server = HttpStandIn(Answer(200, "ok"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bot_api() -> Iterator[HttpStandIn]:
    """A Telegram Bot API stand-in answering ``{"ok": true, ...}``."""
    server = HttpStandIn(Answer(200, {"ok": True, "result": {"message_id": 1}}))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def notify_settings(
    database_url: str, tmp_path: Path, smtp: SmtpInbox, slack: HttpStandIn, bot_api: HttpStandIn
) -> Settings:
    """Settings on the test's database with email, Telegram and users' Slack webhooks pointing at the local
    servers; backoff 30 s doubling up to an hour, 8 attempts, a 60 s lease."""
    return load_settings(
        database_url=database_url,
        data_dir=tmp_path,
        email={"host": "127.0.0.1", "port": smtp.port, "sender": SENDER, "timeout_s": 5},
        telegram={"bot_token": BOT_TOKEN, "api_base_url": bot_api.url},
        notify={
            "backoff_s": 30,
            "max_backoff_s": 3600,
            "max_attempts": 8,
            "lease_s": 60,
            "timeout_s": 5,
            "slack_user_url_prefixes": [f"{slack.url}/"],
        },
    )


@pytest.fixture
async def services(notify_settings: Settings) -> AsyncIterator[Services]:
    async with open_services(notify_settings) as svc:
        yield svc


async def make_user(
    services: Services,
    *,
    prefs: Mapping[str, bool | int | float | str] | None = None,
    chat_id: int | None = None,
    verified: bool = True,
) -> User:
    """A trader with a confirmed (or not) address, these notification preferences and, when given, a linked chat."""
    email = f"user-{secrets.token_hex(4)}@example.com"
    user = await services.accounts().create_user(
        OPERATOR, email, PASSWORD, Role.TRADER, email_verified=verified
    )
    if prefs:
        await SqlUserStore(services.db).update(
            user.id, {"preferences": Preferences(notifications=dict(prefs))}
        )
    if chat_id is not None:
        await SqlTelegramLinkStore(services.db).save(TelegramLink(user.id, chat_id, "ann", utc_now()))
    return user
