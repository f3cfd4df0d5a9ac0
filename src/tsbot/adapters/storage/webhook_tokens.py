"""Users' TradingView webhook tokens (``webhook_tokens``) and the alerts those webhooks accepted
(``webhook_alerts``).

A token is ``tvw_`` and 43 URL-safe characters (256 random bits). It is shown once, when issued; only its SHA-256
hex digest is stored, with a visible prefix (its first 8 characters) so its owner can tell tokens apart. Looking a
token up is one indexed equality match on the digest of the presented token: a near miss changes the whole
digest, so the time taken says nothing about how close a guess was.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.adapters.storage.backtest_jobs import is_id
from tsbot.adapters.storage.tables_jobs import webhook_alerts, webhook_tokens
from tsbot.core.time import utc_now
from tsbot.intake.models import TradeIntent

#: Start of every webhook token (tells it apart from API keys, ``tsb_``).
TOKEN_PREFIX = "tvw_"
#: Characters of a token kept in clear to name it in lists.
VISIBLE_CHARS = 8
#: Longest token looked up; longer ones are unknown without a query.
MAX_TOKEN_CHARS = 128


def token_hash(token: str) -> str:
    """SHA-256 hex digest (64 characters) of a token's UTF-8 text, as stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class WebhookTokenInfo:
    """A stored token without its secret: id, owner, label, visible prefix, created / last used (aware UTC)."""

    id: str
    owner_id: str
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An accepted alert: its id, owner, receive time (aware UTC) and the trade it asked for."""

    id: int
    owner_id: str
    received_at: datetime
    intent: TradeIntent


def _info(row: Mapping[str, Any]) -> WebhookTokenInfo:
    return WebhookTokenInfo(
        id=row["id"],
        owner_id=row["owner_id"],
        label=row["label"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
    )


class SqlWebhookTokenStore:
    """Webhook tokens over ``engine``; :meth:`owner_of` is the lookup the TradingView route uses."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def issue(self, owner_id: str, label: str, now: datetime) -> tuple[WebhookTokenInfo, str]:
        """A new token for ``owner_id``: its stored description and the token itself (never stored)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = uuid.uuid4().hex
        async with self._engine.begin() as conn:
            await conn.execute(
                webhook_tokens.insert().values(
                    id=token_id,
                    owner_id=owner_id,
                    label=label,
                    prefix=token[:VISIBLE_CHARS],
                    token_hash=token_hash(token),
                    created_at=now,
                )
            )
        info = WebhookTokenInfo(token_id, owner_id, label, token[:VISIBLE_CHARS], now, None)
        return info, token

    async def count(self, owner_id: str) -> int:
        """How many tokens ``owner_id`` holds."""
        query = select(func.count()).where(webhook_tokens.c.owner_id == owner_id)
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def list_for(self, owner_id: str) -> list[WebhookTokenInfo]:
        """``owner_id``'s tokens, oldest first."""
        t = webhook_tokens
        query = select(t).where(t.c.owner_id == owner_id).order_by(t.c.created_at, t.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_info(r) for r in rows]

    async def delete(self, owner_id: str, token_id: str) -> bool:
        """Delete ``owner_id``'s token ``token_id``; False when the owner has no such token."""
        if not is_id(token_id):
            return False
        t = webhook_tokens
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(t).where(t.c.id == token_id, t.c.owner_id == owner_id))
        return bool(result.rowcount)

    async def owner_of(self, token: str) -> str | None:
        """The owner of ``token``, or None for an unknown one; records the use (``last_used_at``)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
            return None
        t = webhook_tokens
        digest = token_hash(token)
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(t.c.id, t.c.owner_id).where(t.c.token_hash == digest))).first()
            if row is None:
                return None
            await conn.execute(update(t).where(t.c.id == row.id).values(last_used_at=utc_now()))
        return str(row.owner_id)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class SqlWebhookAlertStore:
    """Alerts accepted by users' TradingView webhooks, over ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, owner_id: str, intent: TradeIntent, received_at: datetime) -> int:
        """Store an accepted alert; returns its id."""
        values = {k: _plain(v) for k, v in intent.to_dict().items()}
        async with self._engine.begin() as conn:
            result = await conn.execute(
                webhook_alerts.insert().values(
                    owner_id=owner_id,
                    received_at=received_at,
                    symbol=intent.symbol[:64],
                    side=intent.side.value,
                    intent=values,
                )
            )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def page(self, owner_id: str, *, limit: int, offset: int) -> tuple[list[StoredAlert], int]:
        """``owner_id``'s alerts, newest first (``limit`` from ``offset``), and how many there are in all."""
        a = webhook_alerts
        query = (
            select(a)
            .where(a.c.owner_id == owner_id)
            .order_by(a.c.received_at.desc(), a.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            total = (await conn.execute(select(func.count()).where(a.c.owner_id == owner_id))).scalar_one()
        alerts = [
            StoredAlert(r["id"], r["owner_id"], r["received_at"], TradeIntent.from_dict(r["intent"]))
            for r in rows
        ]
        return alerts, int(total)
