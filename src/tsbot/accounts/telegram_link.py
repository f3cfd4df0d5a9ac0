"""Linking a user's Telegram chat: status, a one-time code, the bot completing the link, a test message, unlink.

The flow:

1. the user asks for a code (:meth:`TelegramLinkService.connect`): 22 random URL-safe characters, valid
   :data:`CODE_LIFETIME` (10 minutes), stored hashed; a new code voids the user's earlier unused ones. With the bot's
   username configured the answer carries the deep link ``https://t.me/<bot>?start=<code>``;
2. the user sends ``/start <code>`` to the bot (the deep link does it), and the bot calls
   :meth:`TelegramLinkService.complete_link` with the code, the chat id and the Telegram username: the code works
   once, before it expires, and links that chat to the user (replacing their previous chat, and unlinking the chat
   from any other user);
3. :meth:`TelegramLinkService.send_test` sends a test message to the linked chat through the Bot API;
4. :meth:`TelegramLinkService.disconnect` removes the link.

Code creation, linking and unlinking are written to the accounts audit log as ``telegram.code_issued``,
``telegram.linked`` and ``telegram.unlinked`` entries (details ``{"telegram": "<change>", ...}``); the code itself
never is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import structlog

from tsbot.accounts.errors import (
    AccountInactiveError,
    AccountInputError,
    AccountsError,
    TokenExpiredError,
    TokenInvalidError,
    TokenUsedError,
    UserNotFoundError,
)
from tsbot.accounts.messaging_ports import ChatMessenger, LinkCode, TelegramLink, TelegramLinkStore
from tsbot.accounts.models import Identity, User
from tsbot.accounts.ports import AccountEventLog, UserStore
from tsbot.accounts.records import AuditAction, AuditEntry
from tsbot.accounts.tokens import digest, new_token
from tsbot.core.errors import OperationalError, TemporaryError
from tsbot.core.time import utc_now

log = structlog.get_logger("tsbot.accounts.telegram")

_AUDIT_ACTIONS = {
    "code_issued": AuditAction.TELEGRAM_CODE_ISSUED,
    "linked": AuditAction.TELEGRAM_LINKED,
    "unlinked": AuditAction.TELEGRAM_UNLINKED,
}

#: How long a link code works.
CODE_LIFETIME: Final = timedelta(minutes=10)
#: Random bytes of a link code (22 URL-safe characters; Telegram's ``start`` parameter allows up to 64 of
#: ``A-Za-z0-9_-``: https://core.telegram.org/bots/features#deep-linking).
CODE_BYTES: Final = 16
_CODE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Telegram usernames: 5 to 32 of ``A-Za-z0-9_`` (https://core.telegram.org/method/account.checkUsername); a
#: little looser here so a future rule change does not break linking.
_USERNAME: Final = re.compile(r"[A-Za-z0-9_]{1,64}")
#: Telegram chat ids fit in a signed 64-bit integer.
_CHAT_ID_LIMIT: Final = 2**63
#: What the test message says.
TEST_TEXT: Final = "tsbot test message: this chat is connected to your tsbot account ({email})."


class TelegramNotLinkedError(AccountsError):
    """The user has no linked Telegram chat (409)."""

    def __init__(self) -> None:
        super().__init__(
            "no Telegram chat is connected: POST /api/v1/telegram/connect and send the code to the bot"
        )


class TelegramUnavailableError(TemporaryError):
    """Telegram cannot be used now: the Bot API is unreachable or answers 429/5xx, or no bot token is configured
    (503). The message never holds the token; ``retry_after_s`` is when to try again, when Telegram said."""

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TelegramRefusedError(OperationalError):
    """The Bot API refused the message (chat not found, bot blocked by the user, bad token); ``status`` is the HTTP
    status Telegram answered. The message quotes Telegram's description, never the token."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A new link code (shown once: only its hash is stored), when it expires (UTC), and the bot's deep link when
    the bot username is configured."""

    code: str
    expires_at: datetime
    deep_link: str | None

    def __repr__(self) -> str:
        return f"IssuedCode(code=<hidden>, expires_at={self.expires_at!r})"


def mask_chat_id(chat_id: int) -> str:
    """The chat id with all but its last 4 digits replaced by ``*`` (at least 4 of them): ``******6789``."""
    text = str(abs(chat_id))
    shown = text[-4:]
    return ("-" if chat_id < 0 else "") + "*" * max(4, len(text) - len(shown)) + shown


def deep_link(bot_username: str, code: str) -> str:
    """``https://t.me/<bot_username>?start=<code>`` (a leading ``@`` of the username is dropped)."""
    return f"https://t.me/{quote(bot_username.lstrip('@'))}?start={quote(code)}"


class TelegramLinkService:
    """Telegram link status, codes, linking, test messages and unlinking.

    Args:
        links: the link store.
        users: the user store (the linking user must still exist and be able to sign in).
        events: the accounts audit log; None: nothing is audited.
        messenger: sends Bot API messages; None: no bot token is configured and :meth:`send_test` answers
            :class:`TelegramUnavailableError`.
        bot_username: the bot's username, for deep links; None: answers carry no link.
        clock: the current time (aware UTC).
    """

    def __init__(
        self,
        links: TelegramLinkStore,
        users: UserStore,
        *,
        events: AccountEventLog | None = None,
        messenger: ChatMessenger | None = None,
        bot_username: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._links = links
        self._users = users
        self._events = events
        self._messenger = messenger
        self._bot_username = bot_username or None
        self._clock = clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bot_username={self._bot_username!r})"

    async def status(self, user_id: str) -> TelegramLink | None:
        """The user's linked chat, or None."""
        return await self._links.get(user_id)

    async def connect(self, identity: Identity, *, ip: str | None = None) -> IssuedCode:
        """A new one-time code for ``identity``'s user, valid :data:`CODE_LIFETIME`; earlier unused codes stop
        working."""
        now = self._clock()
        code = new_token(CODE_BYTES)
        expires_at = now + CODE_LIFETIME
        await self._links.add_code(LinkCode(digest(code), identity.user.id, now, expires_at))
        await self._audit(identity.user, "code_issued", ip=ip)
        link = deep_link(self._bot_username, code) if self._bot_username else None
        return IssuedCode(code, expires_at, link)

    async def complete_link(self, code: str, chat_id: int, username: str | None) -> TelegramLink:
        """Link ``chat_id`` to the user who asked for ``code`` (what the bot does on ``/start <code>``).

        Parameters
        ----------
        code:
            The code as the user sent it (surrounding blanks are ignored).
        chat_id:
            Telegram's id of the chat the code came from (signed 64-bit, not 0).
        username:
            The sender's Telegram username, with or without ``@``; None or empty when they have none.

        Raises:
            TokenInvalidError: no such code (or malformed).
            TokenUsedError: the code was used already.
            TokenExpiredError: the code is older than :data:`CODE_LIFETIME`.
            AccountInputError: the chat id or username is not one Telegram gives.
            UserNotFoundError: the user was deleted since.
            AccountInactiveError: the user cannot sign in any more.
        """
        if isinstance(chat_id, bool) or not isinstance(chat_id, int) or not chat_id:
            raise AccountInputError("chat_id must be Telegram's non-zero integer chat id")
        if not -_CHAT_ID_LIMIT <= chat_id < _CHAT_ID_LIMIT:
            raise AccountInputError("chat_id does not fit in a signed 64-bit integer")
        name = (username or "").strip().lstrip("@") or None
        if name is not None and not _USERNAME.fullmatch(name):
            raise AccountInputError("username must be 1 to 64 of A-Z, a-z, 0-9 and _")
        clean = code.strip()
        if not _CODE.fullmatch(clean):
            raise TokenInvalidError("this link code is not valid: ask tsbot for a new one")
        code_hash = digest(clean)
        stored = await self._links.code_by_hash(code_hash)
        now = self._clock()
        if stored is None:
            raise TokenInvalidError("this link code is not valid: ask tsbot for a new one")
        if stored.used_at is not None:
            raise TokenUsedError(
                "this link code was used already, or a newer one replaced it: ask tsbot for a new one"
            )
        if now >= stored.expires_at:
            raise TokenExpiredError(
                "this link code has expired (codes work 10 minutes): ask tsbot for a new one"
            )
        record = await self._users.get(stored.user_id)
        if record is None:
            raise UserNotFoundError("the account that asked for this code no longer exists")
        if not record.user.can_sign_in_at(now):
            raise AccountInactiveError("the account that asked for this code is deactivated")
        if not await self._links.use_code(code_hash, now):
            raise TokenUsedError(
                "this link code was used already, or a newer one replaced it: ask tsbot for a new one"
            )
        link = TelegramLink(record.user.id, chat_id, name, now)
        await self._links.save(link)
        await self._audit(record.user, "linked", chat=mask_chat_id(chat_id), username=name)
        return link

    async def send_test(self, identity: Identity) -> TelegramLink:
        """Send a test message to the linked chat; the link it went to.

        Raises:
            TelegramNotLinkedError: no chat is linked.
            TelegramUnavailableError: no bot token is configured, or the Bot API is unreachable or failing.
            TelegramRefusedError: the Bot API refused the message.
        """
        link = await self._links.get(identity.user.id)
        if link is None:
            raise TelegramNotLinkedError
        if self._messenger is None:
            raise TelegramUnavailableError(
                "Telegram is not configured on this server (no bot token): ask the operator to set one"
            )
        await self._messenger.send_message(link.chat_id, TEST_TEXT.format(email=identity.user.email))
        return link

    async def disconnect(self, identity: Identity, *, ip: str | None = None) -> bool:
        """Unlink the user's chat; False when none was linked (nothing audited then)."""
        removed = await self._links.delete(identity.user.id)
        if removed:
            await self._audit(identity.user, "unlinked", ip=ip)
        return removed

    async def _audit(self, user: User, change: str, *, ip: str | None = None, **details: Any) -> None:
        """Append a ``telegram.<change>`` audit entry by and about ``user``."""
        if self._events is None:
            return
        fields = {"telegram": change, **{k: v for k, v in details.items() if v is not None}}
        entry = AuditEntry(
            self._clock(), _AUDIT_ACTIONS[change], user.id, user.email, user.id, ip and ip[:64], fields
        )
        await self._events.add_audit(entry)
        log.info(
            "account_audit", action=entry.action.value, actor=user.email, target=user.id, telegram=change
        )
