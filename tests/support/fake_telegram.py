"""A local server that speaks the part of the Telegram Bot API the bot uses, with updates queued by the test.

The server is the standard library's ``ThreadingHTTPServer`` on ``127.0.0.1`` (a free port) in a daemon thread.
Requests go to ``/bot<token>/<method>`` as python-telegram-bot sends them (form-encoded, values JSON-encoded; JSON
bodies work too); another token answers 401, an unknown method 404, as Telegram does. Methods:

* ``getMe``; ``deleteWebhook``, ``setWebhook``, ``setMyCommands``, ``answerCallbackQuery``: ``true``;
* ``getUpdates``: the queued updates from ``offset`` on, waiting up to ``timeout`` seconds for one (long polling);
* ``sendMessage``: a new message (ids count up from 1000); ``editMessageText``: the edited message.

Every call is recorded (:class:`Call`, in order). The test queues updates with :meth:`FakeTelegram.text` (a
private message; a leading ``/command`` gets its ``bot_command`` entity), :meth:`FakeTelegram.press` (a button
press on a message) and :meth:`FakeTelegram.channel_post`, and waits for the bot's answers with
:meth:`FakeTelegram.replies`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

#: The token the server accepts.
TOKEN = "123456789:AAtsbot-test_token"
BOT_USER = {"id": 4242, "is_bot": True, "first_name": "tsbot", "username": "tsbot_test_bot"}
#: Methods whose calls are answers to a chat.
REPLY_METHODS = ("sendMessage", "editMessageText")


@dataclass(frozen=True)
class Call:
    """One Bot API call: the method, its parameters (JSON values decoded) and the server's ``result``."""

    method: str
    params: dict[str, Any]
    result: Any = None

    @property
    def message_id(self) -> int:
        """The id of the message a ``sendMessage`` made or an ``editMessageText`` changed."""
        return int(self.result["message_id"])

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return None if value is None else int(value)

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """``(label, callback data)`` of the inline keyboard, row by row."""
        markup = self.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


#: Parameters whose form values are JSON (the others are plain text).
_JSON_PARAMS = frozenset({"reply_markup", "allowed_updates", "commands", "entities"})


def _value(name: str, raw: str) -> Any:
    if name not in _JSON_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)
    closing: bool = False


class FakeTelegram:
    """The server; ``url`` is its base URL (give it as ``telegram.api_base_url``)."""

    def __init__(self) -> None:
        self._state = _State()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        with self._state.cond:
            self._state.closing = True
            self._state.cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # --- what the bot did ------------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._state.cond:
            return list(self._state.calls)

    def mark(self) -> int:
        """The number of calls so far (to look at later calls only)."""
        return len(self.calls)

    def answers(self, chat_id: int, since: int = 0) -> list[Call]:
        """``sendMessage`` and ``editMessageText`` calls to ``chat_id`` from call number ``since`` on."""
        return [c for c in self.calls[since:] if c.method in REPLY_METHODS and c.chat_id == chat_id]

    async def replies(self, chat_id: int, since: int, count: int = 1, timeout_s: float = 5.0) -> list[Call]:
        """Wait until ``count`` answers to ``chat_id`` came after call number ``since``; those answers.

        Raises:
            AssertionError: fewer came within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.answers(chat_id, since)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} answers to chat {chat_id}: {found}")
            await asyncio.sleep(0.01)

    # --- updates for the bot ---------------------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update (its ``update_id`` assigned here); returns the id."""
        update_id = next(self._update_ids)
        with self._state.cond:
            self._state.updates.append({"update_id": update_id, **update})
            self._state.cond.notify_all()
        return update_id

    @staticmethod
    def user(chat_id: int, username: str | None = "ann_t") -> dict[str, Any]:
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": "Ann"}
        if username:
            user["username"] = username
        return user

    def message(
        self, chat_id: int, text: str, *, username: str | None = "ann_t", chat_type: str = "private"
    ) -> dict[str, Any]:
        """A message update of a user in a chat (private by default)."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type, "first_name": "Ann"},
            "from": self.user(chat_id, username),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"message": message}

    def text(self, chat_id: int, text: str, **kw: Any) -> int:
        """Queue a message of the user ``chat_id`` in their private chat with the bot."""
        return self.push(self.message(chat_id, text, **kw))

    def press(self, chat_id: int, message_id: int, data: str, *, date: int | None = None) -> int:
        """Queue a press of the button with ``data`` on the bot's message ``message_id`` (sent ``date``, epoch
        seconds; default: when the bot sent it)."""
        with self._state.cond:
            sent = dict(self._state.messages.get(message_id, {}))
        message = {
            "message_id": message_id,
            "date": date if date is not None else sent.get("date", int(time.time())),
            "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
            "from": BOT_USER,
            "text": sent.get("text", ""),
        }
        query = {
            "id": f"q{next(self._update_ids)}",
            "from": self.user(chat_id),
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": message,
        }
        return self.push({"callback_query": query})

    def channel_post(self, chat_id: int, username: str | None, text: str, message_id: int = 1) -> int:
        """Queue a post of the channel ``chat_id`` (``@username``)."""
        chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": "Signals"}
        if username:
            chat["username"] = username
        post = {"message_id": message_id, "date": int(time.time()), "chat": chat, "text": text}
        return self.push({"channel_post": post})

    # --- the server ------------------------------------------------------------------------------------------

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = self._result(method, params)
        with self._state.cond:
            self._state.calls.append(Call(method, params, body.get("result")))
        return status, body

    def _result(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        state = self._state
        if method == "getMe":
            return 200, {
                "ok": True,
                "result": {
                    **BOT_USER,
                    "can_join_groups": True,
                    "can_read_all_group_messages": False,
                    "supports_inline_queries": False,
                },
            }
        if method in ("deleteWebhook", "setWebhook", "setMyCommands", "answerCallbackQuery"):
            return 200, {"ok": True, "result": True}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._updates(params)}
        if method == "sendMessage":
            message = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private", "first_name": "Ann"},
                "from": BOT_USER,
                "text": str(params.get("text", "")),
            }
            if isinstance(params.get("reply_markup"), dict):
                message["reply_markup"] = params["reply_markup"]
            with state.cond:
                state.messages[message["message_id"]] = message
            return 200, {"ok": True, "result": message}
        if method == "editMessageText":
            message_id = int(params["message_id"])
            with state.cond:
                message = {**state.messages.get(message_id, {}), "text": str(params.get("text", ""))}
                message.setdefault("message_id", message_id)
                message.setdefault("date", int(time.time()))
                message.setdefault(
                    "chat", {"id": int(params["chat_id"]), "type": "private", "first_name": "Ann"}
                )
                message.pop("reply_markup", None)
                if isinstance(params.get("reply_markup"), dict):
                    message["reply_markup"] = params["reply_markup"]
                state.messages[message_id] = message
            return 200, {"ok": True, "result": message}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        state = self._state
        with state.cond:
            state.updates = [u for u in state.updates if u["update_id"] >= offset]
            while not state.updates and not state.closing and time.monotonic() < deadline:
                state.cond.wait(max(0.0, deadline - time.monotonic()))
            return list(state.updates)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                prefix = f"/bot{TOKEN}/"
                if not self.path.startswith(prefix):
                    self._send(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = {k: _value(k, v) for k, v in parse_qsl(raw, keep_blank_values=True)}
                status, body = server._answer(self.path[len(prefix) :], params)
                self._send(status, body)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return  # a long poll the bot gave up on while it stopped

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
