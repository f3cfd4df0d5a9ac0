"""A real SMTP server for tests (aiosmtpd on 127.0.0.1) and what it received."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpInbox:
    """What the local SMTP server received. ``refuse`` (e.g. ``"550 5.1.1 no such user"``) answers every RCPT;
    ``refuse_address`` maps one address (lower case) to the reply its RCPT gets."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: str | None = None
    refuse_address: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse:
            return self.refuse
        if address.lower() in self.refuse_address:
            return self.refuse_address[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(inbox: SmtpInbox | None = None) -> Iterator[SmtpInbox]:
    """Run ``inbox`` (default: a new :class:`SmtpInbox` on a free port) as an SMTP server until the block ends."""
    inbox = inbox or SmtpInbox(free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
