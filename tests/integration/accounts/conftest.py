"""A real SMTP server (aiosmtpd on a free local port) that keeps the mail it receives and can be told to refuse
recipients; settings that point tsbot's email at it, with an encryption key for two-factor secrets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.fernet import Fernet
from tests.support.smtp import SmtpInbox as BaseInbox
from tests.support.smtp import free_port
from tests.support.smtp import smtp_server as run_smtp

from tsbot.accounts.service import AccountService
from tsbot.config import Settings, load_settings
from tsbot.wiring import Services, open_services

PUBLIC_URL = "https://tsbot.test"


class SmtpInbox(BaseInbox):
    """The local SMTP server's inbox, able to pick the token out of a received link."""

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


@contextmanager
def smtp_server() -> Iterator[SmtpInbox]:
    """A running SMTP server on 127.0.0.1 and its inbox, stopped on exit."""
    with run_smtp(SmtpInbox(free_port())) as inbox:
        yield inbox  # type: ignore[misc]


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
