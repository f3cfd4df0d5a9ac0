"""Bots, their events and the orders they propose for approval, in the ``bots``, ``bot_events`` and
``order_approvals`` tables. Capital is a plain-notation decimal string; pairs, parameters and risk limits are JSON
(:func:`~tsbot.trading.bots.risk_to_json`); a proposed order is JSON (:func:`~tsbot.trading.bots.request_to_json`).

Owners are opaque strings (a user id). Methods taking ``owner`` treat another owner's bot or approval as absent.
Status changes and decisions are conditional updates (``... WHERE status = <the status read>``), so two people
acting at once cannot both win.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.tables import bot_events, bots, order_approvals
from tsbot.core.errors import ConfigError, NotFoundError
from tsbot.trading.bots import (
    Approval,
    ApprovalStatus,
    BotConfig,
    BotMode,
    BotStatus,
    check_transition,
    request_from_json,
    request_to_json,
    risk_from_json,
    risk_to_json,
)
from tsbot.trading.models import InvalidTransitionError

_PENDING = ApprovalStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class BotEventRow:
    """One stored event of a bot: ``at`` (UTC), ``kind`` (``status``, ``order``, ``refused``, ``kill_switch``,
    ``note`` ...; at most 32 characters), a sentence for a person, and optional JSON details."""

    at: datetime
    kind: str
    message: str
    data: dict[str, Any] | None


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


class SqlBotStore:
    """Bots (unique name per owner), their event log and their order approvals."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, config: BotConfig) -> BotConfig:
        """Store a new bot (built by :meth:`BotConfig.new`) and return it as stored.

        Raises:
            ConfigError: the owner already has a bot of that name.
        """
        row = {
            "id": config.id,
            "owner": config.owner,
            "name": config.name,
            "strategy": config.strategy,
            "provider": config.provider,
            "account": config.account,
            "mode": config.mode.value,
            "pairs": list(config.pairs),
            "timeframe": config.timeframe,
            "capital": format(config.capital, "f"),
            "params": dict(config.params),
            "risk": risk_to_json(config.risk),
            "approval": config.approval,
            "status": config.status.value,
            "status_reason": config.status_reason,
            "created_at": config.created_at,
            "updated_at": config.updated_at,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(bots).values(**row))
        except IntegrityError:
            raise ConfigError(f"a bot named {config.name} exists; pick another name") from None
        return await self.get(config.id)

    async def get(self, bot_id: str, owner: str | None = None) -> BotConfig:
        """The bot ``bot_id`` (of ``owner`` when given).

        Raises:
            NotFoundError: no such bot, or it belongs to another owner.
        """
        query = select(bots).where(bots.c.id == bot_id)
        if owner is not None:
            query = query.where(bots.c.owner == owner)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFoundError(f"bot {bot_id} not found")
        return _bot(row._mapping)

    async def by_name(self, owner: str, name: str) -> BotConfig:
        """The owner's bot called ``name`` (surrounding spaces ignored).

        Raises:
            NotFoundError: the owner has no bot of that name.
        """
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(bots).where(bots.c.owner == owner, bots.c.name == name.strip()))
            ).first()
        if row is None:
            raise NotFoundError(f"no bot named {name.strip()}")
        return _bot(row._mapping)

    async def list(
        self, owner: str | None = None, status: BotStatus | None = None
    ) -> builtins.list[BotConfig]:
        """Bots (of ``owner``, in ``status``, when given), oldest first, then by name."""
        query = select(bots)
        if owner is not None:
            query = query.where(bots.c.owner == owner)
        if status is not None:
            query = query.where(bots.c.status == BotStatus(status).value)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(bots.c.created_at, bots.c.name, bots.c.id))).all()
        return [_bot(r._mapping) for r in rows]

    async def set_status(
        self, bot_id: str, status: BotStatus, reason: str, at: datetime, owner: str | None = None
    ) -> BotConfig:
        """Move the bot to ``status`` at ``at`` (UTC) because of ``reason``, and log a ``status`` event (data:
        ``from``, ``to``, ``reason``), in one transaction.

        Raises:
            NotFoundError: no such bot (of ``owner``).
            InvalidTransitionError: the lifecycle forbids the move (see :func:`check_transition`), or the bot's
                status changed meanwhile.
        """
        bot = await self.get(bot_id, owner)
        target = BotStatus(status)
        check_transition(bot.status, target, bot=bot.name)
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(bots)
                .where(bots.c.id == bot_id, bots.c.status == bot.status.value)
                .values(status=target.value, status_reason=reason, updated_at=at)
            )
            if done.rowcount != 1:
                raise InvalidTransitionError(
                    f"bot {bot.name} changed status while it was being {target.value}; look again and retry"
                )
            data = {"from": bot.status.value, "to": target.value, "reason": reason}
            message = f"{bot.status.value} -> {target.value}: {reason}" if reason else f"now {target.value}"
            await self._event(conn, bot_id, at, "status", message, data)
        return await self.get(bot_id)

    async def add_event(
        self, bot_id: str, at: datetime, kind: str, message: str, data: Mapping[str, Any] | None = None
    ) -> None:
        """Log an event of the bot (``kind`` 1-32 characters; ``data`` JSON-serialisable).

        Raises:
            ConfigError: an empty or over-long kind. NotFoundError: no such bot.
        """
        if not 0 < len(kind) <= 32:
            raise ConfigError(f"a bot event kind must be 1-32 characters, got {kind!r}")
        async with self._engine.begin() as conn:
            if await conn.scalar(select(bots.c.id).where(bots.c.id == bot_id)) is None:
                raise NotFoundError(f"bot {bot_id} not found")
            await self._event(conn, bot_id, at, kind, message, data)

    async def events(self, bot_id: str, limit: int = 50) -> builtins.list[BotEventRow]:
        """The bot's latest ``limit`` events, newest first (empty for an unknown bot)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(bot_events)
                .where(bot_events.c.bot_id == bot_id)
                .order_by(bot_events.c.at.desc(), bot_events.c.id.desc())
                .limit(limit)
            )
            return [
                BotEventRow(m["at"], m["kind"], m["message"], m["data"]) for m in (r._mapping for r in rows)
            ]

    async def propose(self, approval: Approval) -> Approval:
        """Store a pending approval; proposing an order whose ``client_order_id`` is already stored returns the
        stored approval unchanged (a bot restarted on the same signal asks once).

        Raises:
            NotFoundError: ``bot_id`` names no bot of the approval's owner.
            ConfigError: the client order id is stored for another owner.
        """
        cid = approval.request.client_order_id
        stored = await self._approval_by_client_id(cid)
        if stored is None:
            if approval.bot_id is not None:
                await self.get(approval.bot_id, approval.owner)
            row = {
                "id": approval.id,
                "bot_id": approval.bot_id,
                "owner": approval.owner,
                "client_order_id": cid,
                "request": request_to_json(approval.request),
                "summary": approval.summary,
                "status": approval.status.value,
                "created_at": approval.created_at,
                "expires_at": approval.expires_at,
                "decided_at": approval.decided_at,
                "decided_by": approval.decided_by,
            }
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(order_approvals).values(**row))
            except IntegrityError:
                stored = await self._approval_by_client_id(cid)  # proposed at the same time elsewhere
                if stored is None:
                    raise
            else:
                return await self.get_approval(approval.id, approval.owner)
        if stored.owner != approval.owner:
            raise ConfigError(f"order {cid} is already proposed for another user")
        return stored

    async def approvals(self, owner: str, status: ApprovalStatus | None = None) -> builtins.list[Approval]:
        """The owner's approvals (in ``status`` when given), oldest first."""
        query = select(order_approvals).where(order_approvals.c.owner == owner)
        if status is not None:
            query = query.where(order_approvals.c.status == ApprovalStatus(status).value)
        query = query.order_by(order_approvals.c.created_at, order_approvals.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_approval(r._mapping) for r in rows]

    async def get_approval(self, approval_id: str, owner: str) -> Approval:
        """The owner's approval ``approval_id``.

        Raises:
            NotFoundError: no such approval, or it belongs to another owner.
        """
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(order_approvals).where(
                        order_approvals.c.id == approval_id, order_approvals.c.owner == owner
                    )
                )
            ).first()
        if row is None:
            raise NotFoundError(f"approval {approval_id} not found")
        return _approval(row._mapping)

    async def decide(self, approval_id: str, owner: str, approve: bool, by: str, at: datetime) -> Approval:
        """Approve (``approve`` True) or reject a pending approval, by ``by`` at ``at`` (UTC). One conditional
        update (``WHERE status = 'pending' AND expires_at > at``): of two decisions at once, one wins.

        Raises:
            NotFoundError: no such approval of ``owner``.
            ConfigError: it was already approved, rejected or expired (the message says how and when); or it is
                past ``expires_at`` (it is then stored as expired).
        """
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        c = order_approvals.c
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(order_approvals)
                .where(c.id == approval_id, c.owner == owner, c.status == _PENDING, c.expires_at > at)
                .values(status=status.value, decided_at=at, decided_by=by)
            )
        if done.rowcount == 1:
            return await self.get_approval(approval_id, owner)
        current = await self.get_approval(approval_id, owner)
        if current.status is ApprovalStatus.PENDING:  # past its expiry: record it
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(order_approvals)
                    .where(c.id == approval_id, c.status == _PENDING)
                    .values(status=ApprovalStatus.EXPIRED.value)
                )
            current = await self.get_approval(approval_id, owner)
        if current.status is ApprovalStatus.EXPIRED:
            raise ConfigError(
                f"approval {approval_id} expired at {_utc(current.expires_at)}; nothing was sent"
            )
        when = _utc(current.decided_at) if current.decided_at is not None else "an unknown time"
        raise ConfigError(
            f"approval {approval_id} was already {current.status.value} by {current.decided_by} at {when}"
        )

    async def expire(self, now: datetime) -> int:
        """Mark every pending approval whose ``expires_at`` is at or before ``now`` (UTC) expired; returns how
        many."""
        c = order_approvals.c
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(order_approvals)
                .where(c.status == _PENDING, c.expires_at <= now)
                .values(status=ApprovalStatus.EXPIRED.value)
            )
        return int(done.rowcount)

    async def _approval_by_client_id(self, client_order_id: str) -> Approval | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(order_approvals).where(order_approvals.c.client_order_id == client_order_id)
                )
            ).first()
        return None if row is None else _approval(row._mapping)

    @staticmethod
    async def _event(
        conn: AsyncConnection,
        bot_id: str,
        at: datetime,
        kind: str,
        message: str,
        data: Mapping[str, Any] | None,
    ) -> None:
        row = {
            "bot_id": bot_id,
            "at": at,
            "kind": kind,
            "message": message,
            "data": None if data is None else dict(data),
        }
        await conn.execute(insert(bot_events).values(**row))


def _bot(m: Mapping[str, Any]) -> BotConfig:
    return BotConfig(
        id=m["id"],
        owner=m["owner"],
        name=m["name"],
        strategy=m["strategy"],
        provider=m["provider"],
        account=m["account"],
        mode=BotMode(m["mode"]),
        pairs=tuple(m["pairs"]),
        timeframe=m["timeframe"],
        capital=Decimal(m["capital"]),
        params={str(k): float(v) for k, v in m["params"].items()},
        risk=risk_from_json(m["risk"]),
        approval=bool(m["approval"]),
        status=BotStatus(m["status"]),
        status_reason=m["status_reason"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _approval(m: Mapping[str, Any]) -> Approval:
    return Approval(
        id=m["id"],
        bot_id=m["bot_id"],
        owner=m["owner"],
        request=request_from_json(m["request"]),
        summary=m["summary"],
        status=ApprovalStatus(m["status"]),
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        decided_at=m["decided_at"],
        decided_by=m["decided_by"],
    )
