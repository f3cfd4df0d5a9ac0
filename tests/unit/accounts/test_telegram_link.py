"""Telegram linking over an in-memory link store: codes (hashed, single use, 10 minutes, replaced by a newer one),
``complete_link`` with bad codes (unknown, malformed, used, expired, voided), bad chat ids and usernames, inactive
and deleted users, chats moving between users, the test message, unlinking, and the audit entries."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import pytest
from tests.unit.accounts.conftest import Kit

from tsbot.accounts.errors import (
    AccountInactiveError,
    AccountInputError,
    TokenExpiredError,
    TokenInvalidError,
    TokenUsedError,
    UserNotFoundError,
)
from tsbot.accounts.messaging_ports import LinkCode, TelegramLink
from tsbot.accounts.models import OPERATOR, Identity, Role, permissions_of
from tsbot.accounts.telegram_link import (
    CODE_LIFETIME,
    TelegramLinkService,
    TelegramNotLinkedError,
    TelegramUnavailableError,
    deep_link,
    mask_chat_id,
)
from tsbot.accounts.tokens import digest


@dataclass
class MemoryLinkStore:
    links: dict[str, TelegramLink] = field(default_factory=dict)
    codes: dict[str, LinkCode] = field(default_factory=dict)

    async def get(self, user_id: str) -> TelegramLink | None:
        return self.links.get(user_id)

    async def save(self, link: TelegramLink) -> None:
        self.links = {u: k for u, k in self.links.items() if k.chat_id != link.chat_id}
        self.links[link.user_id] = link

    async def delete(self, user_id: str) -> bool:
        return self.links.pop(user_id, None) is not None

    async def add_code(self, code: LinkCode) -> None:
        for h, c in list(self.codes.items()):
            if c.user_id == code.user_id and c.used_at is None:
                self.codes[h] = replace(c, used_at=code.created_at)
        self.codes[code.code_hash] = code

    async def code_by_hash(self, code_hash: str) -> LinkCode | None:
        return self.codes.get(code_hash)

    async def use_code(self, code_hash: str, at: datetime) -> bool:
        c = self.codes.get(code_hash)
        if c is None or c.used_at is not None or at >= c.expires_at:
            return False
        self.codes[code_hash] = replace(c, used_at=at)
        return True


@dataclass
class RecordingMessenger:
    sent: list[tuple[int, str]] = field(default_factory=list)

    async def send_message(self, chat_id: int, text: str) -> None:
        self.sent.append((chat_id, text))


@dataclass
class World:
    kit: Kit
    store: MemoryLinkStore
    messenger: RecordingMessenger
    service: TelegramLinkService

    async def identity(self, email: str = "ann@example.com") -> Identity:
        user = await self.kit.user(email, Role.VIEWER)
        return Identity(user, permissions_of(Role.VIEWER))


@pytest.fixture
def world(kit: Kit) -> World:
    store, messenger = MemoryLinkStore(), RecordingMessenger()
    service = TelegramLinkService(
        store, kit.users, events=kit.events, messenger=messenger, bot_username="@tsbot_bot", clock=kit.clock
    )
    return World(kit, store, messenger, service)


def test_mask_and_deep_link() -> None:
    assert mask_chat_id(123456789) == "*****6789"
    assert mask_chat_id(42) == "****42"
    assert mask_chat_id(-1001234567890) == "-*********7890"
    assert deep_link("@tsbot_bot", "ab_C-1") == "https://t.me/tsbot_bot?start=ab_C-1"


async def test_connect_then_complete_link(world: World) -> None:
    ann = await world.identity()
    issued = await world.service.connect(ann, ip="10.0.0.1")
    assert len(issued.code) == 22 and issued.expires_at == world.kit.clock() + CODE_LIFETIME
    assert issued.deep_link == f"https://t.me/tsbot_bot?start={issued.code}"
    assert issued.code not in repr(issued)
    assert issued.code not in world.store.codes and digest(issued.code) in world.store.codes  # stored hashed
    link = await world.service.complete_link(f"  {issued.code}\n", 987654321, "@Ann_T")
    assert link == TelegramLink(ann.user.id, 987654321, "Ann_T", world.kit.clock())
    assert await world.service.status(ann.user.id) == link
    changes = [
        e.details["telegram"] for e in world.kit.events.entries if e.action.value.startswith("telegram.")
    ]
    assert changes == ["code_issued", "linked"]
    assert all(issued.code not in str(e) for e in world.kit.events.entries)


async def test_code_works_once(world: World) -> None:
    ann = await world.identity()
    issued = await world.service.connect(ann)
    await world.service.complete_link(issued.code, 1001, None)
    with pytest.raises(TokenUsedError):
        await world.service.complete_link(issued.code, 2002, None)
    assert (await world.service.status(ann.user.id)).chat_id == 1001  # type: ignore[union-attr]


async def test_code_expires_after_ten_minutes(world: World) -> None:
    ann = await world.identity()
    issued = await world.service.connect(ann)
    world.kit.clock.advance(minutes=10)
    with pytest.raises(TokenExpiredError, match="expired"):
        await world.service.complete_link(issued.code, 1001, None)
    assert await world.service.status(ann.user.id) is None


async def test_newer_code_voids_older_one(world: World) -> None:
    ann = await world.identity()
    old = await world.service.connect(ann)
    new = await world.service.connect(ann)
    with pytest.raises(TokenUsedError, match="newer one"):
        await world.service.complete_link(old.code, 1001, None)
    assert (await world.service.complete_link(new.code, 1001, None)).user_id == ann.user.id


@pytest.mark.parametrize(
    "code",
    ["", "unknown-code-never-issued", "has space", "x" * 65, "é"],
    ids=["empty", "unknown", "space", "65-chars", "non-ascii"],
)
async def test_bad_codes(world: World, code: str) -> None:
    with pytest.raises(TokenInvalidError):
        await world.service.complete_link(code, 1001, None)


@pytest.mark.parametrize(
    ("chat_id", "username"),
    [(0, None), (2**63, None), (True, None), (1001, "bad name"), (1001, "x" * 65)],
    ids=["zero-chat", "chat-over-int64", "bool-chat", "username-with-space", "username-65-chars"],
)
async def test_bad_chat_or_username(world: World, chat_id: int, username: str | None) -> None:
    ann = await world.identity()
    issued = await world.service.connect(ann)
    with pytest.raises(AccountInputError):
        await world.service.complete_link(issued.code, chat_id, username)
    assert (await world.service.complete_link(issued.code, 1001, "")).username is None  # the code still works


async def test_deactivated_or_deleted_user_cannot_link(world: World) -> None:
    ann, bob = await world.identity(), await world.identity("bob@example.com")
    code_a, code_b = await world.service.connect(ann), await world.service.connect(bob)
    await world.kit.service.set_active(OPERATOR, ann.user.id, False)
    with pytest.raises(AccountInactiveError):
        await world.service.complete_link(code_a.code, 1001, None)
    await world.kit.service.delete_user(OPERATOR, bob.user.id)
    with pytest.raises(UserNotFoundError):
        await world.service.complete_link(code_b.code, 1002, None)
    assert world.store.links == {}


async def test_chat_moves_to_the_user_who_links_it_last(world: World) -> None:
    ann, bob = await world.identity(), await world.identity("bob@example.com")
    await world.service.complete_link((await world.service.connect(ann)).code, 555, "shared")
    await world.service.complete_link((await world.service.connect(bob)).code, 555, "shared")
    assert await world.service.status(ann.user.id) is None
    assert (await world.service.status(bob.user.id)).chat_id == 555  # type: ignore[union-attr]


async def test_send_test_and_disconnect(world: World) -> None:
    ann = await world.identity()
    with pytest.raises(TelegramNotLinkedError):
        await world.service.send_test(ann)
    await world.service.complete_link((await world.service.connect(ann)).code, 777, None)
    link = await world.service.send_test(ann)
    assert link.chat_id == 777 and world.messenger.sent == [(777, world.messenger.sent[0][1])]
    assert "ann@example.com" in world.messenger.sent[0][1]
    assert await world.service.disconnect(ann, ip="10.0.0.2") is True
    assert await world.service.disconnect(ann) is False
    assert await world.service.status(ann.user.id) is None
    unlinked = [e for e in world.kit.events.entries if e.details.get("telegram") == "unlinked"]
    assert len(unlinked) == 1 and unlinked[0].ip == "10.0.0.2" and unlinked[0].target == ann.user.id


async def test_send_test_without_bot_token(world: World) -> None:
    ann = await world.identity()
    service = TelegramLinkService(world.store, world.kit.users, clock=world.kit.clock)
    await service.complete_link((await service.connect(ann)).code, 777, None)
    assert (await service.connect(ann)).deep_link is None  # no bot username: no link
    with pytest.raises(TelegramUnavailableError, match="not configured"):
        await service.send_test(ann)
