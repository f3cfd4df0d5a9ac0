"""In-memory versions of the account ports (:mod:`tsbot.accounts.ports`) for unit tests: stores in dicts and lists,
a mailer that keeps what it sends, a reversible secret box, and a clock the test moves."""

from __future__ import annotations

import base64
import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tsbot.accounts.errors import EmailTakenError, UserNotFoundError
from tsbot.accounts.models import Role
from tsbot.accounts.ports import USER_FIELDS
from tsbot.accounts.records import (
    COUNTED_FAILURES,
    ApiKeyInfo,
    AuditAction,
    AuditEntry,
    LoginEvent,
    LoginOutcome,
    OneTimeToken,
    RefreshTokenRecord,
    TokenPurpose,
    UserRecord,
)
from tsbot.core.errors import ConfigError


class MemoryUserStore:
    def __init__(self) -> None:
        self.users: dict[str, UserRecord] = {}
        self.codes: dict[str, set[str]] = {}

    async def add(self, record: UserRecord) -> None:
        if any(r.user.email == record.user.email for r in self.users.values()):
            raise EmailTakenError()
        self.users[record.user.id] = record

    async def get(self, user_id: str) -> UserRecord | None:
        return self.users.get(user_id)

    async def by_email(self, email: str) -> UserRecord | None:
        return next((r for r in self.users.values() if r.user.email == email.lower()), None)

    async def list(
        self, role: Role | None = None, active: bool | None = None, limit: int = 100, offset: int = 0
    ) -> builtins.list[UserRecord]:
        found = [
            r
            for r in sorted(self.users.values(), key=lambda r: (r.user.created_at, r.user.email))
            if (role is None or r.user.role is role) and (active is None or r.user.is_active is active)
        ]
        return found[offset : offset + limit]

    async def count_admins(self, at: datetime) -> int:
        return sum(1 for r in self.users.values() if r.user.role is Role.ADMIN and r.user.can_sign_in_at(at))

    async def update(self, user_id: str, changes: Mapping[str, Any]) -> UserRecord:
        record = self.users.get(user_id)
        if record is None:
            raise UserNotFoundError(user_id)
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError(f"cannot update user fields {sorted(unknown)}")
        outer = {k: v for k, v in changes.items() if k in ("password_hash", "totp_secret")}
        inner = {k: v for k, v in changes.items() if k not in outer}
        record = replace(record, user=replace(record.user, **inner), **outer)
        self.users[user_id] = record
        return record

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        record = self.users[user_id]
        if record.totp_last_step is not None and record.totp_last_step >= step:
            return False
        self.users[user_id] = replace(record, totp_last_step=step)
        return True

    async def delete(self, user_id: str) -> bool:
        self.codes.pop(user_id, None)
        return self.users.pop(user_id, None) is not None

    async def set_recovery_codes(self, user_id: str, code_hashes: Iterable[str]) -> None:
        self.codes[user_id] = set(code_hashes)

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        codes = self.codes.get(user_id, set())
        if code_hash not in codes:
            return False
        codes.discard(code_hash)
        return True

    async def recovery_codes_left(self, user_id: str) -> int:
        return len(self.codes.get(user_id, set()))


class MemoryTokenStore:
    def __init__(self) -> None:
        self.refresh: dict[str, RefreshTokenRecord] = {}
        self.one_time: dict[str, OneTimeToken] = {}

    async def add_refresh(self, record: RefreshTokenRecord) -> None:
        self.refresh[record.id] = record

    async def refresh_by_hash(self, token_hash: str) -> RefreshTokenRecord | None:
        return next((r for r in self.refresh.values() if r.token_hash == token_hash), None)

    async def mark_refresh_used(self, token_id: str, at: datetime) -> bool:
        record = self.refresh[token_id]
        if record.used_at is not None or record.revoked_at is not None:
            return False
        self.refresh[token_id] = replace(record, used_at=at)
        return True

    async def revoke_family(self, family_id: str, at: datetime) -> int:
        return self._revoke(lambda r: r.family_id == family_id, at)

    async def revoke_user_sessions(self, user_id: str, at: datetime, keep_family: str | None = None) -> int:
        return self._revoke(lambda r: r.user_id == user_id and r.family_id != keep_family, at)

    def _revoke(self, pick: object, at: datetime) -> int:
        n = 0
        for key, record in list(self.refresh.items()):
            if pick(record) and record.revoked_at is None:  # type: ignore[operator]
                self.refresh[key] = replace(record, revoked_at=at)
                n += 1
        return n

    async def family_active(self, family_id: str, at: datetime) -> bool:
        return any(
            r.family_id == family_id and r.used_at is None and r.revoked_at is None and r.expires_at > at
            for r in self.refresh.values()
        )

    async def add_one_time(self, token: OneTimeToken) -> None:
        self.one_time[token.token_hash] = token

    async def one_time_by_hash(self, token_hash: str) -> OneTimeToken | None:
        return self.one_time.get(token_hash)

    async def mark_one_time_used(self, token_hash: str, at: datetime) -> bool:
        token = self.one_time.get(token_hash)
        if token is None or token.used_at is not None:
            return False
        self.one_time[token_hash] = replace(token, used_at=at)
        return True

    async def discard_one_time(self, user_id: str, purpose: TokenPurpose, at: datetime) -> int:
        n = 0
        for key, token in list(self.one_time.items()):
            if token.user_id == user_id and token.purpose is purpose and token.used_at is None:
                self.one_time[key] = replace(token, used_at=at)
                n += 1
        return n


class MemoryApiKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[ApiKeyInfo, str]] = {}

    async def add_key(self, info: ApiKeyInfo, key_hash: str) -> None:
        self.keys[info.id] = (info, key_hash)

    async def key_by_hash(self, key_hash: str) -> ApiKeyInfo | None:
        return next((info for info, h in self.keys.values() if h == key_hash), None)

    async def list_keys(self, user_id: str) -> builtins.list[ApiKeyInfo]:
        found = [info for info, _ in self.keys.values() if info.user_id == user_id]
        return sorted(found, key=lambda k: k.created_at, reverse=True)

    async def revoke_key(self, user_id: str, key_id: str, at: datetime) -> bool:
        info, h = self.keys.get(key_id, (None, ""))
        if info is None or info.user_id != user_id or info.revoked_at is not None:
            return False
        self.keys[key_id] = (replace(info, revoked_at=at), h)
        return True

    async def touch_key(self, key_id: str, at: datetime) -> None:
        info, h = self.keys[key_id]
        self.keys[key_id] = (replace(info, last_used_at=at), h)


class MemoryEventLog:
    def __init__(self) -> None:
        self.logins: list[LoginEvent] = []
        self.entries: list[AuditEntry] = []

    async def add_login(self, event: LoginEvent) -> None:
        self.logins.append(event)

    async def failure_times(
        self, since: datetime, *, email: str | None = None, ip: str | None = None
    ) -> builtins.list[datetime]:
        return sorted(
            e.at
            for e in self.logins
            if e.at > since
            and e.outcome in COUNTED_FAILURES
            and (e.email == email if email is not None else e.ip == ip)
        )

    async def last_success_at(self, email: str) -> datetime | None:
        times = [e.at for e in self.logins if e.email == email and e.outcome is LoginOutcome.SUCCESS]
        return max(times, default=None)

    async def login_history(self, user_id: str, limit: int = 50) -> builtins.list[LoginEvent]:
        return [e for e in reversed(self.logins) if e.user_id == user_id][:limit]

    async def add_audit(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def audit(
        self,
        *,
        user_id: str | None = None,
        actions: Sequence[AuditAction] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditEntry]:
        found = [
            e
            for e in reversed(self.entries)
            if (user_id is None or user_id in (e.actor_id, e.target))
            and (not actions or e.action in actions)
            and (since is None or e.at >= since)
            and (until is None or e.at < until)
        ]
        return found[:limit]


@dataclass
class Sent:
    to: str
    subject: str
    text: str


@dataclass
class OutboxMailer:
    """Keeps every email; ``fail`` set: raises it instead."""

    sent: list[Sent] = field(default_factory=list)
    fail: Exception | None = None

    async def send(self, to: str, subject: str, text: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(Sent(to, subject, text))


class ReversibleBox:
    """A SecretBox for tests: base64 with a marker (not encryption; the SQL tests use the Fernet vault)."""

    def encrypt(self, plaintext: str) -> str:
        return "box:" + base64.b64encode(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        if not ciphertext.startswith("box:"):
            raise ConfigError("not sealed by this box")
        return base64.b64decode(ciphertext[4:]).decode()


@dataclass
class Clock:
    """A clock the test moves: ``clock()`` is the time, ``clock.advance(minutes=5)`` moves it."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)
