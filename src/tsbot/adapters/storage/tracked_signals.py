"""SQL implementation of :class:`tsbot.intake.ports.TrackedSignalStore`.

Prices and percents are stored as plain-notation decimal strings (``"0.000065"``, ``"27400"``), in columns and
inside the JSON of the intent and of each update, so a stored signal reads back exactly as it was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tsbot.adapters.storage.tables import tracked_signal_events, tracked_signals, unmatched_updates
from tsbot.core.errors import DataError, NotFoundError
from tsbot.core.time import utc_now
from tsbot.intake.models import EntryKind, MarginMode, Side, SignalUpdate, TradeIntent, UpdateEvent
from tsbot.intake.tracking import (
    ConcurrentUpdateError,
    SignalStatus,
    TrackedSignal,
    TrackEvent,
    UnmatchedReason,
    UnmatchedUpdate,
    symbol_key,
)

_NAME_MAX = 200
_SYMBOL_MAX = 64


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _plain(value: Any) -> Any:
    """JSON-ready copy of ``value`` with every Decimal as a plain-notation string."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _intent(data: Mapping[str, Any]) -> TradeIntent:
    margin = data.get("margin")
    return TradeIntent(
        symbol=data["symbol"],
        side=Side(data["side"]),
        entry=tuple(Decimal(v) for v in data["entry"]),
        entry_kind=EntryKind(data["entry_kind"]),
        targets=tuple(Decimal(v) for v in data["targets"]),
        stop=_decimal(data.get("stop")),
        leverage=_decimal(data.get("leverage")),
        margin=MarginMode(margin) if margin else None,
        exchanges=tuple(data["exchanges"]),
    )


def _update(data: Mapping[str, Any]) -> SignalUpdate:
    return SignalUpdate(
        symbol=data.get("symbol"),
        event=UpdateEvent(data["event"]),
        target_index=data.get("target_index"),
        price=_decimal(data.get("price")),
        profit_pct=_decimal(data.get("profit_pct")),
        period=data.get("period"),
    )


def _check_name(kind: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise DataError(
            f"{kind} {value[:40]!r}... is {len(value)} characters long; at most {limit} are stored"
        )


def _state(signal: TrackedSignal) -> dict[str, Any]:
    return {
        "status": signal.status.value,
        "filled_entries": signal.filled_entries,
        "targets_hit": signal.targets_hit,
        "stop": _text(signal.stop),
        "stop_moved_to_entry": signal.stop_moved_to_entry,
        "entry_price": _text(signal.entry_price),
        "exit_price": _text(signal.exit_price),
        "last_profit_pct": _text(signal.last_profit_pct),
        "closed_at": signal.closed_at,
        "note": signal.note,
        "event_count": len(signal.history),
        "updated_at": utc_now(),
    }


def _event_row(signal_id: int, seq: int, item: TrackEvent) -> dict[str, Any]:
    return {
        "signal_id": signal_id,
        "seq": seq,
        "at": item.at,
        "post_id": item.post_id,
        "event": item.update.event.value,
        "update_data": _plain(item.update.to_dict()),
        "from_status": item.from_status.value,
        "to_status": item.to_status.value,
        "note": item.note,
    }


def _signal(row: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> TrackedSignal:
    history = tuple(
        TrackEvent(
            at=e["at"],
            post_id=e["post_id"],
            update=_update(e["update_data"]),
            from_status=SignalStatus(e["from_status"]),
            to_status=SignalStatus(e["to_status"]),
            note=e["note"],
        )
        for e in events
    )
    return TrackedSignal(
        id=row["id"],
        provider=row["provider"],
        post_id=row["post_id"],
        symbol=row["symbol"],
        intent=_intent(row["intent"]),
        status=SignalStatus(row["status"]),
        posted_at=row["posted_at"],
        filled_entries=row["filled_entries"],
        targets_hit=row["targets_hit"],
        stop=_decimal(row["stop"]),
        stop_moved_to_entry=bool(row["stop_moved_to_entry"]),
        entry_price=_decimal(row["entry_price"]),
        exit_price=_decimal(row["exit_price"]),
        last_profit_pct=_decimal(row["last_profit_pct"]),
        closed_at=row["closed_at"],
        note=row["note"],
        history=history,
    )


def _unmatched(row: Mapping[str, Any]) -> UnmatchedUpdate:
    return UnmatchedUpdate(
        provider=row["provider"],
        post_id=row["post_id"],
        received_at=row["received_at"],
        update=_update(row["update_data"]),
        reason=UnmatchedReason(row["reason"]),
        detail=row["detail"],
        signal_id=row["signal_id"],
        id=row["id"],
    )


_RECENT_FIRST = (tracked_signals.c.posted_at.desc(), tracked_signals.c.id.desc())


class SqlTrackedSignalStore:
    """Tracked signals in ``tracked_signals``, their history in ``tracked_signal_events`` (one row per applied
    update, numbered by ``seq``), and unmatched updates in ``unmatched_updates``.

    ``tracked_signals.event_count`` guards :meth:`save_transition`: a new state is written only over the state it
    was made from, so two writers applying updates to one signal at once cannot lose either update.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, signal: TrackedSignal) -> TrackedSignal:
        """See :meth:`tsbot.intake.ports.TrackedSignalStore.add`. Raises DataError for a stored post, or for a
        provider or post id over 200 characters or a symbol over 64."""
        _check_name("provider", signal.provider, _NAME_MAX)
        _check_name("post id", signal.post_id, _NAME_MAX)
        _check_name("symbol", signal.symbol, _SYMBOL_MAX)
        values = {
            "provider": signal.provider,
            "post_id": signal.post_id,
            "symbol": signal.symbol,
            "base": symbol_key(signal.symbol)[0][:_SYMBOL_MAX],
            "intent": _plain(signal.intent.to_dict()),
            "posted_at": signal.posted_at,
            **_state(signal),
        }
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(tracked_signals.insert().values(**values))
                signal_id = int(result.inserted_primary_key[0])  # type: ignore[index]
                if signal.history:
                    await conn.execute(
                        tracked_signal_events.insert(),
                        [_event_row(signal_id, seq, e) for seq, e in enumerate(signal.history)],
                    )
        except IntegrityError as exc:
            raise DataError(f"signal {signal.post_id} of {signal.provider} is stored already") from exc
        return await self._get_required(signal_id)

    async def save_transition(self, signal: TrackedSignal) -> TrackedSignal:
        """See :meth:`tsbot.intake.ports.TrackedSignalStore.save_transition`."""
        if signal.id is None or not signal.history:
            raise NotFoundError("only a stored signal with a new history entry can be saved")
        seq = len(signal.history) - 1
        t = tracked_signals
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(t).where(t.c.id == signal.id, t.c.event_count == seq).values(**_state(signal))
            )
            if result.rowcount != 1:
                found = (await conn.execute(select(t.c.id).where(t.c.id == signal.id))).first()
                if found is None:
                    raise NotFoundError(f"no tracked signal with id {signal.id}")
                raise ConcurrentUpdateError(f"tracked signal {signal.id} changed since it was loaded")
            await conn.execute(
                tracked_signal_events.insert().values(**_event_row(signal.id, seq, signal.history[-1]))
            )
        return await self._get_required(signal.id)

    async def get(self, signal_id: int) -> TrackedSignal | None:
        found = await self._load(select(tracked_signals).where(tracked_signals.c.id == signal_id))
        return found[0] if found else None

    async def find(self, provider: str, post_id: str) -> TrackedSignal | None:
        t = tracked_signals
        found = await self._load(select(t).where(t.c.provider == provider, t.c.post_id == post_id))
        return found[0] if found else None

    async def open_signals(self, provider: str, *, base: str | None = None) -> list[TrackedSignal]:
        t = tracked_signals
        open_ = [s.value for s in SignalStatus if s.is_open]
        stmt = select(t).where(t.c.provider == provider, t.c.status.in_(open_)).order_by(*_RECENT_FIRST)
        if base is not None:
            stmt = stmt.where(t.c.base == base)
        return await self._load(stmt)

    async def by_status(
        self, status: SignalStatus, *, provider: str | None = None, limit: int = 100
    ) -> list[TrackedSignal]:
        t = tracked_signals
        stmt = select(t).where(t.c.status == status.value).order_by(*_RECENT_FIRST).limit(limit)
        if provider is not None:
            stmt = stmt.where(t.c.provider == provider)
        return await self._load(stmt)

    async def add_unmatched(self, item: UnmatchedUpdate) -> UnmatchedUpdate:
        """See :meth:`tsbot.intake.ports.TrackedSignalStore.add_unmatched`. Raises DataError for a provider or
        post id over 200 characters; a symbol over 64 is cut in its column and kept whole in the update's JSON."""
        _check_name("provider", item.provider, _NAME_MAX)
        _check_name("post id", item.post_id, _NAME_MAX)
        symbol = item.update.symbol
        async with self._engine.begin() as conn:
            result = await conn.execute(
                unmatched_updates.insert().values(
                    provider=item.provider,
                    post_id=item.post_id,
                    received_at=item.received_at,
                    symbol=None if symbol is None else symbol[:_SYMBOL_MAX],
                    event=item.update.event.value,
                    update_data=_plain(item.update.to_dict()),
                    reason=item.reason.value,
                    detail=item.detail,
                    signal_id=item.signal_id,
                )
            )
            item_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            row = (
                (await conn.execute(select(unmatched_updates).where(unmatched_updates.c.id == item_id)))
                .mappings()
                .one()
            )
        return _unmatched(row)

    async def unmatched(self, provider: str, *, limit: int = 100) -> list[UnmatchedUpdate]:
        u = unmatched_updates
        stmt = (
            select(u)
            .where(u.c.provider == provider)
            .order_by(u.c.received_at.desc(), u.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_unmatched(r) for r in rows]

    async def _get_required(self, signal_id: int) -> TrackedSignal:
        found = await self.get(signal_id)
        if found is None:
            raise NotFoundError(f"no tracked signal with id {signal_id}")
        return found

    async def _load(self, stmt: Select[Any]) -> list[TrackedSignal]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
            events = await self._events(conn, [r["id"] for r in rows])
        return [_signal(r, events.get(r["id"], ())) for r in rows]

    @staticmethod
    async def _events(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[Mapping[str, Any]]]:
        out: dict[int, list[Mapping[str, Any]]] = {}
        e = tracked_signal_events
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            stmt = select(e).where(e.c.signal_id.in_(chunk)).order_by(e.c.signal_id, e.c.seq)
            for row in (await conn.execute(stmt)).mappings():
                out.setdefault(row["signal_id"], []).append(row)
        return out
