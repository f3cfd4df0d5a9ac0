"""A real SMTP server (aiosmtpd on a free local port) that keeps the mail it receives and can be told to refuse
recipients; settings that point tsbot's email at it, with an encryption key for two-factor secrets."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from tsbot.accounts.service import AccountService
from tsbot.config import Settings, load_settings
from tsbot.wiring import Services, open_services

PUBLIC_URL = "https://tsbot.test"


@dataclass
class SmtpInbox:
    """What the local SMTP server received; ``refuse`` (e.g. ``"550 5.1.1 no such user"``) answers every RCPT."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: str | None = None

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def token(self, path: str, to: str | None = None) -> str:
        """The token of the newest received link to ``/<path>`` (sent to ``to`` when given)."""
        for message in reversed(self.messages):
            if to is not None and message["To"] != to:
                continue
            body = message.get_body(("plain",))
            assert body is not None
            match = re.search(rf"({re.escape(PUBLIC_URL)}/{path}\?\S+)", body.get_content())
            if match:
                return parse_qs(urlparse(match.group(1)).query)["token"][0]
        raise AssertionError(f"no email with a /{path} link received")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[SmtpInbox]:
    """A running SMTP server on 127.0.0.1 and its inbox, stopped on exit."""
    inbox = SmtpInbox(free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    """A running SMTP server on 127.0.0.1 and its inbox."""
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture
def account_settings(database_url: str, tmp_path: Path, smtp: SmtpInbox) -> Settings:
    """Settings on the test's database, email through the local server, one encryption key, no JWT secret set
    (a generated one in ``<tmp_path>/jwt.secret``)."""
    return load_settings(
        database_url=database_url,
        data_dir=tmp_path,
        email={"host": "127.0.0.1", "port": smtp.port, "sender": "tsbot@tsbot.test", "timeout_s": 5},
        api={"public_url": PUBLIC_URL},
        security={"encryption_keys": [Fernet.generate_key().decode()]},
    )


@pytest.fixture
async def services(account_settings: Settings) -> AsyncIterator[Services]:
    async with open_services(account_settings) as svc:
        yield svc


@pytest.fixture
def accounts(services: Services) -> AccountService:
    return services.accounts()
