"""Tracked signals: each provider's signal posts and the follow-ups that move them through their lifecycle.

A provider is one source of posts (a Telegram channel, a TradingView user). A new signal post becomes a
:class:`TrackedSignal` in ``pending`` (``entered`` at once for a market entry); the provider's later updates of the
same symbol move it on::

    pending --entry filled / entered zone / target hit--> entered (targets_hit = n)
    pending | entered --all targets hit | closed--> closed
    pending | entered --stop hit--> stopped
    pending | entered --cancelled--> cancelled
    move stop: stop = entry price, status unchanged;  other: profit recorded, status unchanged

``closed``, ``stopped`` and ``cancelled`` are final: :func:`apply_update` refuses any event on them with
:class:`InvalidTransition`. :class:`SignalTracker` matches an update to the provider's most recent open signal of
the symbol; an update that names no symbol, matches no open signal or is refused is kept as an
:class:`UnmatchedUpdate`, never dropped. Times are aware UTC datetimes; prices are :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from tsbot.core.errors import DataError, TemporaryError
from tsbot.intake.models import (
    EntryKind,
    ParsedPost,
    PostKind,
    SignalUpdate,
    TradeIntent,
    UpdateEvent,
    normalise,
)
from tsbot.intake.ports import TrackedSignalStore
from tsbot.intake.symbols import split_symbol as symbol_key


class SignalStatus(StrEnum):
    """Where a tracked signal stands. ``PENDING`` and ``ENTERED`` are open; the others are final.

    ``ENTERED`` covers "take-profit n hit" (:attr:`TrackedSignal.targets_hit`); ``CLOSED`` is a close in the
    provider's terms (all targets, or closed by hand); ``STOPPED`` is a stop-loss hit, also after take-profits
    (:attr:`TrackedSignal.note` says so); ``CANCELLED`` is withdrawn by the provider.
    """

    PENDING = "pending"
    ENTERED = "entered"
    CLOSED = "closed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """True for ``PENDING`` and ``ENTERED``: later updates may still change the signal."""
        return self in (SignalStatus.PENDING, SignalStatus.ENTERED)


class UnmatchedReason(StrEnum):
    """Why an update was kept aside instead of applied."""

    NO_SYMBOL = "no_symbol"
    NO_OPEN_SIGNAL = "no_open_signal"
    INVALID_TRANSITION = "invalid_transition"


class TrackOutcome(StrEnum):
    """What :class:`SignalTracker` did with a post."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    APPLIED = "applied"
    UNMATCHED = "unmatched"
    IGNORED = "ignored"


class InvalidTransition(DataError):
    """An update cannot be applied to a tracked signal (a final state, an unknown target, no stop price).

    ``reason`` is the human-readable cause; ``status`` and ``event`` name the refused transition.
    """

    def __init__(self, reason: str, status: SignalStatus, event: UpdateEvent) -> None:
        self.reason = reason
        self.status = status
        self.event = event
        super().__init__(f"cannot apply {event.value} to a {status.value} signal: {reason}")


class ConcurrentUpdateError(TemporaryError):
    """A tracked signal changed in the store between loading it and saving a new state of it; retry."""


@dataclass(frozen=True, slots=True)
class TrackEvent:
    """One applied update in a signal's history: the update as parsed, when, from which post, the status before
    and after, and a note for non-obvious outcomes (a stop-loss hit after take-profits)."""

    at: datetime
    post_id: str | None
    update: SignalUpdate
    from_status: SignalStatus
    to_status: SignalStatus
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TrackedSignal:
    """A provider's signal and its state.

    Attributes
    ----------
    id:
        Store id; ``None`` until stored.
    provider, post_id:
        Who posted it (a channel or user id) and the post's id at that provider (unique per provider).
    symbol:
        ``intent.symbol`` (``BASE/QUOTE`` or base alone).
    status:
        :class:`SignalStatus`.
    posted_at:
        When the signal was posted, aware UTC.
    filled_entries:
        Entry orders reported filled (0 while pending).
    targets_hit:
        Highest take-profit reached (1-based; 0 for none).
    stop:
        Current stop-loss price: ``intent.stop`` until the provider moves it.
    stop_moved_to_entry:
        True once a move-stop update was applied.
    entry_price, exit_price:
        Average entry and exit prices as the provider reported them, else ``None``.
    last_profit_pct:
        The latest profit in percent the provider reported (leveraged; negative for a loss).
    closed_at:
        When the signal reached a final status, aware UTC.
    note:
        Note of the latest transition that made one (``"closed at stop-loss after reaching take-profit 2"``).
    history:
        Applied updates, oldest first.
    """

    id: int | None
    provider: str
    post_id: str
    symbol: str
    intent: TradeIntent
    status: SignalStatus
    posted_at: datetime
    filled_entries: int = 0
    targets_hit: int = 0
    stop: Decimal | None = None
    stop_moved_to_entry: bool = False
    entry_price: Decimal | None = None
    exit_price: Decimal | None = None
    last_profit_pct: Decimal | None = None
    closed_at: datetime | None = None
    note: str | None = None
    history: tuple[TrackEvent, ...] = ()

    @property
    def is_open(self) -> bool:
        """True while pending or entered."""
        return self.status.is_open

    @property
    def average_entry(self) -> Decimal | None:
        """Reported average entry price, else the mean of the filled entry prices (all of them while none is
        reported filled; the zone's middle for a zone entry); ``None`` for a market entry with no report."""
        if self.entry_price is not None:
            return self.entry_price
        prices = self.intent.entry
        if self.intent.entry_kind is not EntryKind.ZONE and self.filled_entries > 0:
            prices = prices[: self.filled_entries]
        if not prices:
            return None
        return normalise(sum(prices, Decimal(0)) / len(prices))


@dataclass(frozen=True, slots=True)
class UnmatchedUpdate:
    """An update that could not be applied, kept with the reason. ``signal_id`` names the signal it matched when
    the transition was refused; ``received_at`` is aware UTC."""

    provider: str
    post_id: str
    received_at: datetime
    update: SignalUpdate
    reason: UnmatchedReason
    detail: str
    signal_id: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class TrackResult:
    """What happened to one post: the signal recorded or changed (``previous_status`` is its status before), the
    update kept aside, or why the post was ignored (``detail``)."""

    outcome: TrackOutcome
    signal: TrackedSignal | None = None
    previous_status: SignalStatus | None = None
    unmatched: UnmatchedUpdate | None = None
    detail: str = ""


def symbols_match(a: str, b: str) -> bool:
    """True when the bases agree and the quotes agree or one of them is not given (``"SXP"`` ~ ``"SXP/USDT"``)."""
    base_a, quote_a = symbol_key(a)
    base_b, quote_b = symbol_key(b)
    if not base_a or base_a != base_b:
        return False
    return quote_a is None or quote_b is None or quote_a == quote_b


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise DataError(f"{name} must be an aware UTC datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


_ENTRY_EVENTS = (UpdateEvent.ENTRY_FILLED, UpdateEvent.ALL_ENTRIES_FILLED, UpdateEvent.ENTERED_ZONE)
_FINAL = {
    UpdateEvent.ALL_TARGETS_HIT: SignalStatus.CLOSED,
    UpdateEvent.CLOSED: SignalStatus.CLOSED,
    UpdateEvent.STOP_HIT: SignalStatus.STOPPED,
    UpdateEvent.CANCELLED: SignalStatus.CANCELLED,
}


def apply_update(
    signal: TrackedSignal, update: SignalUpdate, at: datetime, *, post_id: str | None = None
) -> TrackedSignal:
    """The state of ``signal`` after ``update`` received at ``at`` (aware UTC); ``signal`` is not changed.

    Entry events and ``target_hit`` enter the signal (a take-profit implies the entry filled); ``target_hit n``
    raises ``targets_hit`` to ``n`` (one more than before when no index is given); ``all_targets_hit`` closes it
    with every target hit; ``stop_hit``, ``cancelled`` and ``closed`` end it (``closed_at = at``) with a note when
    take-profits were hit or the stop sat at entry; ``move_stop`` sets the stop to the update's price, else the
    average entry (:attr:`TrackedSignal.average_entry`); ``other`` records only the profit. A reported profit is
    kept as ``last_profit_pct`` for every event, a reported price as the entry or exit price.

    Raises
    ------
    InvalidTransition
        The signal is final; the update names another symbol, a target index below 1 or past the signal's last
        target, or is older than the signal; ``move_stop`` with no price and no entry price.
    DataError
        ``at`` is naive.
    """
    at = _utc(at, "at")
    event, status = update.event, signal.status

    def refuse(reason: str) -> InvalidTransition:
        return InvalidTransition(reason, status, event)

    if not status.is_open:
        raise refuse(
            f"the signal is {status.value} since {signal.closed_at}; a final signal takes no updates"
        )
    if update.symbol is not None and not symbols_match(update.symbol, signal.symbol):
        raise refuse(f"the update is for {update.symbol}, the signal for {signal.symbol}")
    if at < signal.posted_at:
        raise refuse(
            f"the update at {at.isoformat()} is older than the signal ({signal.posted_at.isoformat()})"
        )
    if update.target_index is not None and update.target_index < 1:
        raise refuse(f"index {update.target_index} is not a 1-based entry or target number")

    changes: dict[str, object] = {}
    note: str | None = None
    new_status = status
    if update.profit_pct is not None:
        changes["last_profit_pct"] = update.profit_pct
    targets = len(signal.intent.targets)
    if event in _ENTRY_EVENTS:
        if event is UpdateEvent.ENTRY_FILLED:
            filled = update.target_index or signal.filled_entries + 1
        elif event is UpdateEvent.ALL_ENTRIES_FILLED:
            filled = max(len(signal.intent.entry), 1) if signal.intent.entry_kind is not EntryKind.ZONE else 1
        else:
            filled = 1
        changes["filled_entries"] = max(signal.filled_entries, filled)
        if update.price is not None:
            changes["entry_price"] = update.price
        new_status = SignalStatus.ENTERED
    elif event is UpdateEvent.TARGET_HIT:
        hit = update.target_index or signal.targets_hit + 1
        if targets and hit > targets:
            raise refuse(f"take-profit {hit} hit, but the signal has {targets} target(s)")
        changes["targets_hit"] = max(signal.targets_hit, hit)
        changes["filled_entries"] = max(signal.filled_entries, 1)
        new_status = SignalStatus.ENTERED
    elif event in _FINAL:
        new_status = _FINAL[event]
        changes["closed_at"] = at
        if update.price is not None:
            changes["exit_price"] = update.price
        if event is UpdateEvent.ALL_TARGETS_HIT:
            changes["targets_hit"] = max(signal.targets_hit, targets, update.target_index or 0)
            changes["filled_entries"] = max(signal.filled_entries, 1)
        note = _closing_note(signal, event)
    elif event is UpdateEvent.MOVE_STOP:
        price = update.price if update.price is not None else signal.average_entry
        if price is None:
            raise refuse("the update gives no price and the signal has no entry price to move the stop to")
        changes["stop"] = price
        changes["stop_moved_to_entry"] = True
    if note is not None:
        changes["note"] = note
    entry = TrackEvent(at, post_id, update, status, new_status, note)
    return replace(signal, status=new_status, history=(*signal.history, entry), **changes)  # type: ignore[arg-type]


def _closing_note(signal: TrackedSignal, event: UpdateEvent) -> str | None:
    if event is UpdateEvent.STOP_HIT:
        if signal.targets_hit:
            return f"closed at stop-loss after reaching take-profit {signal.targets_hit}"
        if signal.stop_moved_to_entry:
            return "closed at the stop moved to entry (break-even)"
        if signal.status is SignalStatus.PENDING:
            return "stop-loss hit before any entry was reported"
    if event is UpdateEvent.CANCELLED and signal.status is SignalStatus.ENTERED:
        return "cancelled after entry"
    if event is UpdateEvent.CLOSED and signal.targets_hit:
        return f"closed after reaching take-profit {signal.targets_hit}"
    return None


class SignalTracker:
    """Records providers' signals and applies their updates through a :class:`TrackedSignalStore`."""

    #: Attempts of :meth:`apply` when the signal changes in the store while an update is applied.
    attempts = 3

    def __init__(self, store: TrackedSignalStore) -> None:
        self._store = store

    async def record_signal(
        self, provider: str, post_id: str, intent: TradeIntent, posted_at: datetime
    ) -> TrackedSignal:
        """Store a new signal of ``provider``; the stored one when ``(provider, post_id)`` is known already.

        A market entry starts ``entered`` with one filled entry (it is filled when posted); others ``pending``.

        Raises
        ------
        DataError
            Empty provider or post id, a symbol with no base, or a naive ``posted_at``.
        """
        return (await self._record(provider, post_id, intent, posted_at))[0]

    async def _record(
        self, provider: str, post_id: str, intent: TradeIntent, posted_at: datetime
    ) -> tuple[TrackedSignal, bool]:
        if not provider.strip() or not post_id.strip():
            raise DataError(f"provider and post id must be given, got {provider!r} and {post_id!r}")
        if not symbol_key(intent.symbol)[0]:
            raise DataError(f"signal symbol {intent.symbol!r} names no asset")
        posted_at = _utc(posted_at, "posted_at")
        known = await self._store.find(provider, post_id)
        if known is not None:
            return known, False
        market = intent.entry_kind is EntryKind.MARKET
        signal = TrackedSignal(
            id=None,
            provider=provider,
            post_id=post_id,
            symbol=intent.symbol,
            intent=intent,
            status=SignalStatus.ENTERED if market else SignalStatus.PENDING,
            posted_at=posted_at,
            filled_entries=1 if market else 0,
            stop=intent.stop,
        )
        return await self._store.add(signal), True

    async def apply(self, provider: str, post_id: str, update: SignalUpdate, at: datetime) -> TrackResult:
        """Apply ``update`` (received at ``at``, aware UTC) to ``provider``'s most recent open signal of its symbol
        posted at or before ``at``, store the new state and return it (``APPLIED``).

        An update with no symbol, with no such signal, or whose transition :func:`apply_update` refuses is stored
        as an :class:`UnmatchedUpdate` and returned (``UNMATCHED``); that never raises.

        Raises
        ------
        DataError
            ``at`` is naive.
        ConcurrentUpdateError
            The signal kept changing in the store during :attr:`attempts` tries.
        """
        at = _utc(at, "at")
        base = symbol_key(update.symbol)[0] if update.symbol is not None else ""
        if not base:
            detail = "the update names no symbol, so it cannot be matched to a signal"
            return await self._unmatched(provider, post_id, at, update, UnmatchedReason.NO_SYMBOL, detail)
        for attempt in range(1, self.attempts + 1):
            candidates = [
                s
                for s in await self._store.open_signals(provider, base=base)
                if symbols_match(s.symbol, update.symbol or "") and s.posted_at <= at
            ]
            if not candidates:
                detail = f"{provider} has no open {update.symbol} signal posted by {at.isoformat()}"
                return await self._unmatched(
                    provider, post_id, at, update, UnmatchedReason.NO_OPEN_SIGNAL, detail
                )
            signal = max(candidates, key=lambda s: (s.posted_at, s.id or 0))
            try:
                changed = apply_update(signal, update, at, post_id=post_id)
            except InvalidTransition as exc:
                reason = UnmatchedReason.INVALID_TRANSITION
                return await self._unmatched(provider, post_id, at, update, reason, str(exc), signal.id)
            try:
                saved = await self._store.save_transition(changed)
            except ConcurrentUpdateError:
                if attempt == self.attempts:
                    raise
                continue
            return TrackResult(TrackOutcome.APPLIED, saved, signal.status, detail=update.event.value)
        raise ConcurrentUpdateError(f"signal of {provider} for {update.symbol} kept changing")

    async def ingest(self, provider: str, post_id: str, parsed: ParsedPost, at: datetime) -> TrackResult:
        """Track one parsed post of ``provider`` received (or posted) at ``at``: a signal is recorded
        (``RECORDED``, or ``DUPLICATE`` when the post is stored already), an update applied as :meth:`apply`
        does, anything else ``IGNORED``.

        Raises
        ------
        DataError
            A signal post without its :class:`TradeIntent`, an update post without its :class:`SignalUpdate`,
            or what :meth:`record_signal` and :meth:`apply` raise.
        """
        if parsed.kind is PostKind.SIGNAL:
            if parsed.signal is None:
                raise DataError(f"post {post_id} of {provider} is a signal post without a signal")
            signal, new = await self._record(provider, post_id, parsed.signal, at)
            outcome = TrackOutcome.RECORDED if new else TrackOutcome.DUPLICATE
            return TrackResult(outcome, signal, None if new else signal.status)
        if parsed.kind is PostKind.UPDATE:
            if parsed.update is None:
                raise DataError(f"post {post_id} of {provider} is an update post without an update")
            return await self.apply(provider, post_id, parsed.update, at)
        return TrackResult(TrackOutcome.IGNORED, detail=f"post {post_id} is neither a signal nor an update")

    async def _unmatched(
        self,
        provider: str,
        post_id: str,
        at: datetime,
        update: SignalUpdate,
        reason: UnmatchedReason,
        detail: str,
        signal_id: int | None = None,
    ) -> TrackResult:
        item = await self._store.add_unmatched(
            UnmatchedUpdate(provider, post_id, at, update, reason, detail, signal_id)
        )
        return TrackResult(TrackOutcome.UNMATCHED, unmatched=item, detail=detail)

    async def open_signals(self, provider: str) -> list[TrackedSignal]:
        """``provider``'s pending and entered signals, most recent first."""
        return await self._store.open_signals(provider)

    async def signals_by_status(
        self, status: SignalStatus, *, provider: str | None = None, limit: int = 100
    ) -> list[TrackedSignal]:
        """Signals in ``status`` (of one provider or of all), most recent first, at most ``limit``."""
        return await self._store.by_status(status, provider=provider, limit=limit)

    async def unmatched_updates(self, provider: str, *, limit: int = 100) -> list[UnmatchedUpdate]:
        """``provider``'s updates kept aside, newest first, at most ``limit``."""
        return await self._store.unmatched(provider, limit=limit)
