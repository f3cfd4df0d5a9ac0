"""The account service over in-memory stores, a mailer that keeps its mail, a reversible secret box and a clock
the test moves; argon2 with small parameters so hashing takes a millisecond."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from tests.fakes.accounts import (
    Clock,
    MemoryApiKeyStore,
    MemoryEventLog,
    MemoryTokenStore,
    MemoryUserStore,
    OutboxMailer,
    ReversibleBox,
)

from tsbot.accounts.models import OPERATOR, Role, User
from tsbot.accounts.service import AccountService
from tsbot.config import AccountsConfig

SECRET = "unit-test-signing-secret-of-more-than-32-bytes"
PASSWORD = "Correct-horse-42"
FAST_HASH = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))


@dataclass
class Kit:
    service: AccountService
    users: MemoryUserStore
    tokens: MemoryTokenStore
    keys: MemoryApiKeyStore
    events: MemoryEventLog
    mailer: OutboxMailer
    clock: Clock

    async def user(self, email: str = "ann@example.com", role: Role = Role.TRADER, **kw: object) -> User:
        """A user created by the operator (email confirmed), password :data:`PASSWORD`."""
        return await self.service.create_user(OPERATOR, email, PASSWORD, role, **kw)  # type: ignore[arg-type]

    def last_token(self, path: str) -> str:
        """The token of the last emailed link to ``/<path>``."""
        for mail in reversed(self.mailer.sent):
            match = re.search(rf"(https?://\S+/{path}\?\S+)", mail.text)
            if match:
                return parse_qs(urlparse(match.group(1)).query)["token"][0]
        raise AssertionError(f"no email with a {path} link")


def make_kit(config: AccountsConfig | None = None, *, box: bool = True) -> Kit:
    clock = Clock()
    users, tokens, keys, events, mailer = (
        MemoryUserStore(),
        MemoryTokenStore(),
        MemoryApiKeyStore(),
        MemoryEventLog(),
        OutboxMailer(),
    )
    service = AccountService(
        users=users,
        tokens=tokens,
        api_keys=keys,
        events=events,
        mailer=mailer,
        config=config or AccountsConfig(),
        jwt_secret=SECRET,
        public_url="https://tsbot.example.com/",
        secret_box=ReversibleBox() if box else None,
        clock=clock,
        password_hash=FAST_HASH,
    )
    return Kit(service, users, tokens, keys, events, mailer, clock)


@pytest.fixture
def kit() -> Kit:
    return make_kit()
