"""A local OpenAI-compatible chat server with a scripted queue of answers.

The server is the standard library's ``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port) in a daemon
thread. ``POST /v1/chat/completions`` answers with the next scripted :class:`Reply` (first in, first out); with
the queue empty it answers HTTP 500 ``"no scripted reply"`` so a test that asks more than it scripted fails
loudly. Every request is recorded in :attr:`ChatServer.requests` (path, headers, JSON body) before it is
answered.

Helpers build the usual replies: :func:`answer` (a chat completion whose content is the given text),
:func:`status` (an error status with an OpenAI-shaped error body) and :func:`raw` (any body).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer: status, body bytes, content type and a delay before answering (seconds)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    delay_s: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request the server received: path, headers (lower-case names) and the decoded JSON body."""

    path: str
    headers: dict[str, str]
    body: Any

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


def answer(content: str, *, delay_s: float = 0.0, finish_reason: str = "stop") -> Reply:
    """A 200 chat completion whose ``choices[0].message.content`` is ``content``."""
    body = {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": 0,
        "model": "local",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return Reply(200, json.dumps(body).encode(), delay_s=delay_s)


def status(code: int, message: str = "scripted error") -> Reply:
    """An error status with an OpenAI-shaped ``{"error": {...}}`` body."""
    body = {"error": {"message": message, "type": "scripted", "code": code}}
    return Reply(code, json.dumps(body).encode())


def raw(body: str | bytes, code: int = 200, content_type: str = "application/json") -> Reply:
    """Any body as is (a malformed envelope, HTML from a proxy)."""
    return Reply(code, body.encode() if isinstance(body, str) else body, content_type)


@dataclass
class _State:
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        try:
            body: Any = json.loads(data)
        except ValueError:
            body = data.decode(errors="replace")
        with state.lock:
            state.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = state.replies.popleft() if state.replies else None
        if self.path != CHAT_PATH:
            reply = status(404, f"unknown path {self.path}")
        elif reply is None:
            reply = status(500, "no scripted reply")
        if reply.delay_s and state.closing.wait(reply.delay_s):
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            # The client gave up (a scripted slow answer beyond its timeout).
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _State) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class ChatServer:
    """The running server; use as a context manager or call :meth:`close`.

    ``base_url`` (``http://127.0.0.1:<port>/v1``) is what ``OpenAiChatModel`` takes.
    """

    def __init__(self) -> None:
        self._state = _State()
        self._server = _Server(self._state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="chat-server", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[Request]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def pending(self) -> int:
        """Scripted replies not yet served."""
        with self._state.lock:
            return len(self._state.replies)

    def script(self, *replies: Reply) -> None:
        """Queue ``replies``, served one per request in order."""
        with self._state.lock:
            self._state.replies.extend(replies)

    def close(self) -> None:
        self._state.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
