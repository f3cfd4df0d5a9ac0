"""Messaging rules over an in-memory message store: who may send to whom, bad text (blank, too long, NUL, lone
surrogate), inactive and unknown recipients, contact the admins, bulk send, read / unread, per-user delete."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from tests.unit.accounts.conftest import Kit

from tsbot.accounts.errors import PermissionDeniedError, UserNotFoundError
from tsbot.accounts.messages import (
    MAX_BODY_CHARS,
    MAX_SUBJECT_CHARS,
    MessageInputError,
    MessageNotFoundError,
    MessageService,
    NoRecipientsError,
    RecipientInactiveError,
)
from tsbot.accounts.messaging_ports import Box, Message, MessageKind, NewMessage, UserRef
from tsbot.accounts.models import OPERATOR, Identity, Role, User, permissions_of


@dataclass
class _Stored:
    message: NewMessage
    recipients: dict[str, datetime | None]  # recipient id -> read_at
    count: int
    sender_deleted: bool = False


@dataclass
class MemoryMessageStore:
    """The message store's contract in memory (users named by id; display name = id)."""

    rows: dict[str, _Stored] = field(default_factory=dict)

    async def add(self, message: NewMessage, recipient_ids: Sequence[str]) -> None:
        self.rows[message.id] = _Stored(message, dict.fromkeys(recipient_ids), len(recipient_ids))

    def _view(self, s: _Stored, box: Box, user_id: str) -> Message:
        m = s.message
        recipient = None
        if box is Box.SENT and m.kind is MessageKind.DIRECT and s.recipients:
            (rid,) = s.recipients
            recipient = UserRef(rid, rid)
        return Message(
            m.id, box, m.kind, m.audience, m.subject, m.body, m.created_at, UserRef(m.sender_id, m.sender_id),
            s.count, recipient, s.recipients.get(user_id) if box is Box.INBOX else None,
        )  # fmt: skip

    async def get(self, user_id: str, message_id: str) -> Message | None:
        s = self.rows.get(message_id)
        if s is None:
            return None
        if user_id in s.recipients:
            return self._view(s, Box.INBOX, user_id)
        if s.message.sender_id == user_id and not s.sender_deleted:
            return self._view(s, Box.SENT, user_id)
        return None

    async def list(
        self, user_id: str, box: Box, *, unread_only: bool = False, limit: int = 50, offset: int = 0
    ) -> tuple[builtins.list[Message], int]:
        if box is Box.INBOX:
            found = [s for s in self.rows.values() if user_id in s.recipients]
            if unread_only:
                found = [s for s in found if s.recipients[user_id] is None]
        else:
            found = [s for s in self.rows.values() if s.message.sender_id == user_id and not s.sender_deleted]
        found.sort(key=lambda s: (s.message.created_at, s.message.id), reverse=True)
        return [self._view(s, box, user_id) for s in found[offset : offset + limit]], len(found)

    async def set_read(self, user_id: str, message_id: str, read_at: datetime | None) -> bool:
        s = self.rows.get(message_id)
        if s is None or user_id not in s.recipients:
            return False
        s.recipients[user_id] = read_at
        return True

    async def delete(self, user_id: str, message_ids: Collection[str], at: datetime) -> set[str]:
        done = set()
        for mid in message_ids:
            s = self.rows.get(mid)
            if s is None:
                continue
            if user_id in s.recipients:
                del s.recipients[user_id]
                done.add(mid)
            if s.message.sender_id == user_id and not s.sender_deleted:
                s.sender_deleted = True
                done.add(mid)
            if s.sender_deleted and not s.recipients:
                del self.rows[mid]
        return done

    async def unread_count(self, user_id: str) -> int:
        return sum(1 for s in self.rows.values() if user_id in s.recipients and s.recipients[user_id] is None)


@dataclass
class World:
    kit: Kit
    store: MemoryMessageStore
    service: MessageService

    async def identity(self, email: str, role: Role = Role.TRADER) -> Identity:
        user: User = await self.kit.user(email, role)
        return Identity(user, permissions_of(role))


@pytest.fixture
def world(kit: Kit) -> World:
    store = MemoryMessageStore()
    return World(kit, store, MessageService(store, kit.users, clock=kit.clock))


async def test_direct_message_by_id_and_by_email_any_case(world: World) -> None:
    ann, bob = await world.identity("ann@example.com"), await world.identity("bob@example.com")
    sent = await world.service.send(ann, bob.user.id, "Hello", "<b>verbatim</b>  ")
    assert sent.box is Box.SENT and sent.kind is MessageKind.DIRECT and sent.recipient_count == 1
    assert sent.recipient == UserRef(bob.user.id, bob.user.id)
    world.kit.clock.advance(seconds=1)
    await world.service.send(ann, "  BOB@Example.COM ", "Again", "second")
    inbox, total = await world.service.list(bob.user.id)
    assert total == 2 and [m.subject for m in inbox] == ["Again", "Hello"]
    assert [m.subject for m in (await world.service.list(bob.user.id, limit=1, offset=1))[0]] == ["Hello"]
    received = await world.service.get(bob.user.id, sent.id)
    assert received.box is Box.INBOX and received.body == "<b>verbatim</b>  " and received.read_at is None
    assert await world.service.unread_count(bob.user.id) == 2


@pytest.mark.parametrize(
    ("subject", "body", "fragment"),
    [
        ("", "body", "subject is empty"),
        ("   \n", "body", "subject is empty"),
        ("s" * (MAX_SUBJECT_CHARS + 1), "body", "at most 200"),
        ("subject", "b" * (MAX_BODY_CHARS + 1), "at most 10000"),
        ("nul\x00", "body", "NUL"),
        ("subject", "lone \ud800 surrogate", "surrogate"),
    ],
    ids=[
        "empty-subject",
        "blank-subject",
        "subject-201-chars",
        "body-10001-chars",
        "nul-in-subject",
        "surrogate",
    ],
)
async def test_bad_text_is_refused(world: World, subject: str, body: str, fragment: str) -> None:
    ann, bob = await world.identity("ann@example.com"), await world.identity("bob@example.com")
    with pytest.raises(MessageInputError, match=fragment):
        await world.service.send(ann, bob.user.id, subject, body)
    assert world.store.rows == {}


async def test_longest_allowed_text_is_kept(world: World) -> None:
    ann, bob = await world.identity("ann@example.com"), await world.identity("bob@example.com")
    sent = await world.service.send(ann, bob.user.id, "s" * MAX_SUBJECT_CHARS, "b" * MAX_BODY_CHARS)
    assert len(sent.subject) == MAX_SUBJECT_CHARS and len(sent.body) == MAX_BODY_CHARS


@pytest.mark.parametrize(
    "to",
    ["nobody@example.com", "00000000-0000-0000-0000-000000000000", "", "x\x00@example.com", "\udcff"],
    ids=["unknown-email", "unknown-id", "empty", "nul", "surrogate"],
)
async def test_unknown_recipient(world: World, to: str) -> None:
    ann = await world.identity("ann@example.com")
    with pytest.raises(UserNotFoundError):
        await world.service.send(ann, to, "s", "b")


async def test_deactivated_recipient_and_self_and_viewer_are_refused(world: World) -> None:
    ann, bob = await world.identity("ann@example.com"), await world.identity("bob@example.com")
    await world.kit.service.set_active(OPERATOR, bob.user.id, False)
    with pytest.raises(RecipientInactiveError, match="deactivated"):
        await world.service.send(ann, bob.user.id, "s", "b")
    with pytest.raises(MessageInputError, match="yourself"):
        await world.service.send(ann, ann.user.email, "s", "b")
    viewer = await world.identity("vic@example.com", Role.VIEWER)
    with pytest.raises(PermissionDeniedError, match="send_messages"):
        await world.service.send(viewer, ann.user.id, "s", "b")
    assert world.store.rows == {}


async def test_contact_admins_reaches_every_active_admin_but_the_sender(world: World) -> None:
    viewer = await world.identity("vic@example.com", Role.VIEWER)
    with pytest.raises(NoRecipientsError):
        await world.service.contact_admins(viewer, "help", "please")
    a1 = await world.identity("a1@example.com", Role.ADMIN)
    a2 = await world.identity("a2@example.com", Role.ADMIN)
    a3 = await world.identity("a3@example.com", Role.ADMIN)
    await world.kit.service.set_active(OPERATOR, a3.user.id, False)
    sent = await world.service.contact_admins(viewer, "help", "please")
    assert sent.kind is MessageKind.ADMINS and sent.recipient_count == 2
    assert set(world.store.rows[sent.id].recipients) == {a1.user.id, a2.user.id}
    from_admin = await world.service.contact_admins(a1, "fyi", "x")
    assert set(world.store.rows[from_admin.id].recipients) == {a2.user.id}


async def test_broadcast_to_all_or_one_role_needs_admin(world: World) -> None:
    admin = await world.identity("root@example.com", Role.ADMIN)
    trader = await world.identity("t@example.com", Role.TRADER)
    viewer = await world.identity("v@example.com", Role.VIEWER)
    with pytest.raises(PermissionDeniedError, match="admin_access"):
        await world.service.broadcast(trader, "s", "b")
    everyone = await world.service.broadcast(admin, "s", "b")
    assert everyone.audience == "all" and set(world.store.rows[everyone.id].recipients) == {
        trader.user.id,
        viewer.user.id,
    }
    viewers = await world.service.broadcast(admin, "s", "b", Role.VIEWER)
    assert viewers.audience == "viewer" and set(world.store.rows[viewers.id].recipients) == {viewer.user.id}
    with pytest.raises(NoRecipientsError, match="api_user"):
        await world.service.broadcast(admin, "s", "b", Role.API_USER)


async def test_read_unread_and_sent_copy_has_no_read_state(world: World) -> None:
    ann, bob = await world.identity("ann@example.com"), await world.identity("bob@example.com")
    sent = await world.service.send(ann, bob.user.id, "s", "b")
    read = await world.service.mark(bob.user.id, sent.id, read=True)
    assert read.read_at == world.kit.clock()
    world.kit.clock.advance(minutes=5)
    again = await world.service.mark(bob.user.id, sent.id, read=True)
    assert again.read_at == read.read_at  # the first read time is kept
    assert (await world.service.list(bob.user.id, unread_only=True))[1] == 0
    unread = await world.service.mark(bob.user.id, sent.id, read=False)
    assert unread.read_at is None and await world.service.unread_count(bob.user.id) == 1
    with pytest.raises(MessageNotFoundError):
        await world.service.mark(ann.user.id, sent.id, read=True)
    with pytest.raises(MessageInputError, match="inbox only"):
        await world.service.list(ann.user.id, Box.SENT, unread_only=True)


async def test_delete_is_per_user_and_ignores_other_users_ids(world: World) -> None:
    ann, bob = await world.identity("ann@example.com"), await world.identity("bob@example.com")
    eve = await world.identity("eve@example.com")
    first = await world.service.send(ann, bob.user.id, "one", "b")
    second = await world.service.send(ann, bob.user.id, "two", "b")
    stranger = await world.service.send(eve, ann.user.id, "eve's", "b")
    result = await world.service.delete(bob.user.id, [first.id, first.id, stranger.id, "not-an-id"])
    assert result.deleted == [first.id] and result.not_found == [stranger.id, "not-an-id"]
    assert (await world.service.get(ann.user.id, first.id)).box is Box.SENT  # the sender's copy stays
    assert [m.id for m in (await world.service.list(bob.user.id))[0]] == [second.id]
    with pytest.raises(MessageNotFoundError):
        await world.service.get(bob.user.id, first.id)
    assert (await world.service.delete(ann.user.id, [first.id])).deleted == [first.id]
    assert first.id not in world.store.rows
    with pytest.raises(MessageInputError, match="at most 500"):
        await world.service.delete(bob.user.id, [f"id-{i}" for i in range(501)])


async def test_get_refuses_other_users_and_malformed_ids(world: World) -> None:
    ann, bob = await world.identity("ann@example.com"), await world.identity("bob@example.com")
    eve = await world.identity("eve@example.com")
    sent = await world.service.send(ann, bob.user.id, "s", "b")
    for bad in (sent.id.upper(), "../etc", "", sent.id + "x"):
        with pytest.raises(MessageNotFoundError):
            await world.service.get(bob.user.id, bad)
    with pytest.raises(MessageNotFoundError):
        await world.service.get(eve.user.id, sent.id)
    assert (await world.service.get(bob.user.id, sent.id)).subject == "s"
