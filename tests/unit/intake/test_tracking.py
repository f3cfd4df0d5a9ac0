"""Tracked signals: every lifecycle transition, the refused ones, symbol matching and the tracker's matching rules
(over the in-process store, which implements the same port as the SQL store)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tsbot.adapters.memory import MemoryTrackedSignalStore
from tsbot.core.errors import DataError, TemporaryError, TsbotError
from tsbot.intake.models import EntryKind, ParsedPost, PostKind, Side, SignalUpdate, TradeIntent, UpdateEvent
from tsbot.intake.tracking import (
    ConcurrentUpdateError,
    InvalidTransition,
    SignalStatus,
    SignalTracker,
    TrackedSignal,
    TrackOutcome,
    UnmatchedReason,
    apply_update,
    symbol_key,
    symbols_match,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
D = Decimal
E = UpdateEvent


def _intent(symbol: str = "SXP/USDT", **kw: object) -> TradeIntent:
    fields: dict[str, object] = {
        "side": Side.LONG,
        "entry": (D("1.2"), D("1.1")),
        "entry_kind": EntryKind.LIST,
        "targets": (D("1.3"), D("1.4"), D("1.5")),
        "stop": D("1.0"),
        "leverage": D("10"),
    }
    fields.update(kw)
    return TradeIntent(symbol, **fields)  # type: ignore[arg-type]


def _signal(status: SignalStatus = SignalStatus.PENDING, **kw: object) -> TrackedSignal:
    intent = kw.pop("intent", _intent())
    assert isinstance(intent, TradeIntent)
    base = TrackedSignal(
        id=1, provider="chan", post_id="100", symbol=intent.symbol, intent=intent, status=status, posted_at=T0
    )
    return replace(base, stop=intent.stop, **kw)  # type: ignore[arg-type]


def _up(
    event: E, index: int | None = None, price: str | None = None, profit: str | None = None
) -> SignalUpdate:
    return SignalUpdate(
        "SXP/USDT", event, index, None if price is None else D(price), None if profit is None else D(profit)
    )


AT = T0 + timedelta(hours=2)


# --- transitions -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "index", "filled"),
    [
        (E.ENTRY_FILLED, 2, 2),
        (E.ENTRY_FILLED, None, 1),
        (E.ALL_ENTRIES_FILLED, None, 2),
        (E.ENTERED_ZONE, None, 1),
    ],
)
def test_entry_events_enter_a_pending_signal(event: E, index: int | None, filled: int) -> None:
    before = _signal()
    after = apply_update(before, _up(event, index, price="1.15"), AT, post_id="101")
    assert after.status is SignalStatus.ENTERED
    assert after.filled_entries == filled
    assert after.entry_price == D("1.15")
    assert before.status is SignalStatus.PENDING and before.history == ()  # the input is not changed
    (step,) = after.history
    assert (step.from_status, step.to_status, step.post_id, step.at) == (
        SignalStatus.PENDING,
        SignalStatus.ENTERED,
        "101",
        AT,
    )


def test_entry_filled_without_index_counts_the_next_entry() -> None:
    sig = _signal(SignalStatus.ENTERED, filled_entries=1)
    assert apply_update(sig, _up(E.ENTRY_FILLED), AT).filled_entries == 2


def test_target_hit_enters_and_keeps_the_highest_target() -> None:
    sig = apply_update(_signal(), _up(E.TARGET_HIT, 2, profit="30"), AT)
    assert (sig.status, sig.targets_hit, sig.filled_entries, sig.last_profit_pct) == (
        SignalStatus.ENTERED,
        2,
        1,
        D("30"),
    )
    late = apply_update(sig, _up(E.TARGET_HIT, 1), AT)  # a late "target 1" does not lower the count
    assert late.targets_hit == 2
    assert late.last_profit_pct == D("30")  # no profit in the update: the last one stays
    assert apply_update(late, _up(E.TARGET_HIT), AT).targets_hit == 3  # no index: the next target


def test_all_targets_hit_closes_with_every_target() -> None:
    sig = apply_update(_signal(SignalStatus.ENTERED, targets_hit=1), _up(E.ALL_TARGETS_HIT, price="1.5"), AT)
    assert (sig.status, sig.targets_hit, sig.closed_at, sig.exit_price) == (
        SignalStatus.CLOSED,
        3,
        AT,
        D("1.5"),
    )


def test_stop_hit_stops_and_notes_earlier_take_profits() -> None:
    plain = apply_update(_signal(SignalStatus.ENTERED), _up(E.STOP_HIT, profit="-50"), AT)
    assert (plain.status, plain.closed_at, plain.note, plain.last_profit_pct) == (
        SignalStatus.STOPPED,
        AT,
        None,
        D("-50"),
    )
    after_tp = apply_update(_signal(SignalStatus.ENTERED, targets_hit=2), _up(E.STOP_HIT), AT)
    assert after_tp.status is SignalStatus.STOPPED
    assert after_tp.note == "closed at stop-loss after reaching take-profit 2"
    assert after_tp.history[-1].note == after_tp.note
    at_entry = apply_update(_signal(SignalStatus.ENTERED, stop_moved_to_entry=True), _up(E.STOP_HIT), AT)
    assert at_entry.note is not None and "break-even" in at_entry.note


@pytest.mark.parametrize(
    ("event", "status"), [(E.CANCELLED, SignalStatus.CANCELLED), (E.CLOSED, SignalStatus.CLOSED)]
)
@pytest.mark.parametrize("start", [SignalStatus.PENDING, SignalStatus.ENTERED])
def test_cancelled_and_closed_end_an_open_signal(event: E, status: SignalStatus, start: SignalStatus) -> None:
    sig = apply_update(_signal(start), _up(event), AT)
    assert (sig.status, sig.closed_at, sig.is_open) == (status, AT, False)


def test_move_stop_goes_to_the_average_entry_or_the_given_price() -> None:
    pending = apply_update(_signal(), _up(E.MOVE_STOP), AT)
    assert (pending.status, pending.stop, pending.stop_moved_to_entry) == (
        SignalStatus.PENDING,
        D("1.15"),
        True,
    )
    one_fill = apply_update(_signal(SignalStatus.ENTERED, filled_entries=1), _up(E.MOVE_STOP), AT)
    assert one_fill.stop == D("1.2")  # only the first entry filled
    reported = apply_update(_signal(SignalStatus.ENTERED, entry_price=D("1.17")), _up(E.MOVE_STOP), AT)
    assert reported.stop == D("1.17")
    given = apply_update(_signal(SignalStatus.ENTERED), _up(E.MOVE_STOP, price="1.25"), AT)
    assert given.stop == D("1.25")
    zone = _intent(entry=(D("0.11"), D("0.12")), entry_kind=EntryKind.ZONE)
    assert apply_update(_signal(intent=zone, filled_entries=1), _up(E.MOVE_STOP), AT).stop == D("0.115")


def test_other_records_only_the_profit() -> None:
    before = _signal(SignalStatus.ENTERED, targets_hit=1)
    after = apply_update(before, _up(E.OTHER, profit="12.5"), AT)
    assert after.last_profit_pct == D("12.5")
    assert replace(after, last_profit_pct=None, history=()) == replace(before, history=())


# --- refused transitions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("final", [SignalStatus.CLOSED, SignalStatus.STOPPED, SignalStatus.CANCELLED])
@pytest.mark.parametrize("event", list(E))
def test_a_final_signal_refuses_every_event(final: SignalStatus, event: E) -> None:
    sig = _signal(final, closed_at=T0 + timedelta(hours=1))
    with pytest.raises(InvalidTransition) as caught:
        apply_update(sig, _up(event, 1, price="1.2"), AT)
    assert (caught.value.status, caught.value.event) == (final, event)
    assert "final" in caught.value.reason
    assert isinstance(caught.value, TsbotError)


def test_target_hit_after_stopped_is_refused_with_the_reason() -> None:
    stopped = apply_update(_signal(SignalStatus.ENTERED), _up(E.STOP_HIT), AT)
    with pytest.raises(InvalidTransition, match="stopped"):
        apply_update(stopped, _up(E.TARGET_HIT, 1), AT + timedelta(hours=1))


@pytest.mark.parametrize(
    ("update", "at", "fragment"),
    [
        (_up(E.TARGET_HIT, 4), AT, "has 3 target"),  # bad input: a target the signal does not have
        (_up(E.TARGET_HIT, 0), AT, "1-based"),  # bad input: target index 0
        (_up(E.ENTRY_FILLED, -1), AT, "1-based"),  # bad input: negative entry index
        (SignalUpdate("BTC/USDT", E.TARGET_HIT, 1), AT, "BTC/USDT"),  # bad input: another symbol
        (_up(E.ENTRY_FILLED, 1), T0 - timedelta(minutes=1), "older"),  # bad input: update before the signal
    ],
)
def test_inconsistent_updates_are_refused(update: SignalUpdate, at: datetime, fragment: str) -> None:
    with pytest.raises(InvalidTransition, match=fragment):
        apply_update(_signal(SignalStatus.ENTERED), update, at)


def test_move_stop_without_any_price_is_refused() -> None:
    # bad input: "move stop to entry" on a market signal with no reported entry price
    market = _signal(SignalStatus.ENTERED, intent=_intent(entry=(), entry_kind=EntryKind.MARKET))
    with pytest.raises(InvalidTransition, match="no price"):
        apply_update(market, _up(E.MOVE_STOP), AT)


def test_naive_update_time_is_refused() -> None:
    # bad input: a naive datetime
    with pytest.raises(DataError, match="naive"):
        apply_update(_signal(), _up(E.ENTRY_FILLED), datetime(2024, 3, 2, 12, 0))


# --- symbols -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("SXP/USDT", ("SXP", "USDT")),
        ("#sxp", ("SXP", None)),
        ("$SXP", ("SXP", None)),
        ("SXP-USDT", ("SXP", "USDT")),
        ("SXPUSDT", ("SXP", "USDT")),
        ("BINANCE:SXPUSDT.P", ("SXP", "USDT")),
        ("SXP/USDT:USDT", ("SXP", "USDT")),
        ("1000PEPE/USDT", ("1000PEPE", "USDT")),
        ("USDT", ("USDT", None)),
        ("#", ("", None)),
    ],
)
def test_symbol_key(text: str, key: tuple[str, str | None]) -> None:
    assert symbol_key(text) == key


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("SXP/USDT", "SXP", True),
        ("SXP/USDT", "#SXP", True),
        ("#sxp", "SXP", True),
        ("SXP/USDT", "SXPUSDT", True),
        ("SXP/USDT", "SXP/BTC", False),
        ("SXP/USDT", "SX", False),
        ("", "", False),
    ],
)
def test_symbols_match(a: str, b: str, same: bool) -> None:
    assert symbols_match(a, b) is same
    assert symbols_match(b, a) is same


# --- tracker -------------------------------------------------------------------------------------------------------


@pytest.fixture
def store() -> MemoryTrackedSignalStore:
    return MemoryTrackedSignalStore()


@pytest.fixture
def tracker(store: MemoryTrackedSignalStore) -> SignalTracker:
    return SignalTracker(store)


async def test_record_starts_pending_or_entered_for_market(tracker: SignalTracker) -> None:
    limit = await tracker.record_signal("chan", "1", _intent(), T0)
    assert (limit.status, limit.id, limit.stop) == (SignalStatus.PENDING, 1, D("1.0"))
    market = await tracker.record_signal(
        "chan", "2", _intent("BTC/USDT", entry=(), entry_kind=EntryKind.MARKET), T0
    )
    assert (market.status, market.filled_entries) == (SignalStatus.ENTERED, 1)
    assert [s.post_id for s in await tracker.open_signals("chan")] == ["2", "1"]


@pytest.mark.parametrize("symbol", ["SXP", "#SXP", "sxp/usdt", "SXPUSDT"])
async def test_update_matches_the_signal_by_normalised_symbol(tracker: SignalTracker, symbol: str) -> None:
    sig = await tracker.record_signal("chan", "1", _intent(), T0)
    result = await tracker.apply("chan", "2", SignalUpdate(symbol, E.TARGET_HIT, 1), AT)
    assert result.outcome is TrackOutcome.APPLIED
    assert result.previous_status is SignalStatus.PENDING
    assert result.signal is not None and result.signal.id == sig.id and result.signal.targets_hit == 1


async def test_most_recent_open_signal_of_the_symbol_wins(tracker: SignalTracker) -> None:
    old = await tracker.record_signal("chan", "1", _intent(), T0)
    new = await tracker.record_signal("chan", "2", _intent(), T0 + timedelta(hours=1))
    result = await tracker.apply("chan", "3", SignalUpdate("SXP", E.ENTRY_FILLED, 1), AT)
    assert result.signal is not None and result.signal.id == new.id
    stopped = await tracker.apply("chan", "4", SignalUpdate("SXP", E.STOP_HIT), AT)
    assert stopped.signal is not None and stopped.signal.id == new.id
    # with the newer one final, the older open one is next
    again = await tracker.apply("chan", "5", SignalUpdate("SXP", E.CANCELLED), AT)
    assert again.signal is not None and again.signal.id == old.id


async def test_signal_posted_after_the_update_is_not_matched(tracker: SignalTracker) -> None:
    await tracker.record_signal("chan", "1", _intent(), AT + timedelta(hours=1))
    result = await tracker.apply("chan", "2", SignalUpdate("SXP", E.TARGET_HIT, 1), AT)
    assert result.outcome is TrackOutcome.UNMATCHED
    assert result.unmatched is not None and result.unmatched.reason is UnmatchedReason.NO_OPEN_SIGNAL


async def test_updates_of_another_provider_do_not_touch_this_one(
    tracker: SignalTracker, store: MemoryTrackedSignalStore
) -> None:
    mine = await tracker.record_signal("chan", "1", _intent(), T0)
    result = await tracker.apply("other-chan", "1", SignalUpdate("SXP/USDT", E.STOP_HIT), AT)
    assert result.outcome is TrackOutcome.UNMATCHED
    assert await store.get(mine.id or 0) == mine
    assert [u.post_id for u in await tracker.unmatched_updates("other-chan")] == ["1"]
    assert await tracker.unmatched_updates("chan") == []


async def test_update_for_a_symbol_never_signalled_is_kept(tracker: SignalTracker) -> None:
    # bad input: an update for a symbol the provider never signalled
    await tracker.record_signal("chan", "1", _intent(), T0)
    update = SignalUpdate("DOGE/USDT", E.TARGET_HIT, 2, profit_pct=D("40"))
    result = await tracker.apply("chan", "7", update, AT)
    assert result.outcome is TrackOutcome.UNMATCHED and result.signal is None
    (kept,) = await tracker.unmatched_updates("chan")
    assert (kept.reason, kept.update, kept.post_id, kept.received_at, kept.signal_id) == (
        UnmatchedReason.NO_OPEN_SIGNAL,
        update,
        "7",
        AT,
        None,
    )
    assert "DOGE/USDT" in kept.detail
    assert result.unmatched == kept


async def test_update_with_no_symbol_is_kept(tracker: SignalTracker) -> None:
    # bad input: an update with symbol None (a reply that names no coin)
    await tracker.record_signal("chan", "1", _intent(), T0)
    result = await tracker.apply("chan", "8", SignalUpdate(None, E.TARGET_HIT, 1), AT)
    assert result.outcome is TrackOutcome.UNMATCHED
    assert result.unmatched is not None and result.unmatched.reason is UnmatchedReason.NO_SYMBOL
    assert (await tracker.open_signals("chan"))[0].targets_hit == 0


async def test_refused_transition_is_kept_with_the_signal_it_matched(tracker: SignalTracker) -> None:
    sig = await tracker.record_signal("chan", "1", _intent(), T0)
    result = await tracker.apply("chan", "9", SignalUpdate("SXP", E.TARGET_HIT, 5), AT)
    assert result.unmatched is not None
    assert (result.unmatched.reason, result.unmatched.signal_id) == (
        UnmatchedReason.INVALID_TRANSITION,
        sig.id,
    )
    assert "has 3 target" in result.unmatched.detail


async def test_update_after_the_signal_ended_is_kept(tracker: SignalTracker) -> None:
    await tracker.record_signal("chan", "1", _intent(), T0)
    await tracker.apply("chan", "2", SignalUpdate("SXP", E.STOP_HIT), AT)
    late = await tracker.apply("chan", "3", SignalUpdate("SXP", E.TARGET_HIT, 1), AT + timedelta(hours=1))
    assert late.outcome is TrackOutcome.UNMATCHED
    assert [s.status for s in await tracker.signals_by_status(SignalStatus.STOPPED)] == [SignalStatus.STOPPED]
    assert await tracker.open_signals("chan") == []


async def test_ingest_dispatches_by_kind(tracker: SignalTracker) -> None:
    signal_post = ParsedPost(PostKind.SIGNAL, signal=_intent())
    first = await tracker.ingest("chan", "1", signal_post, T0)
    assert first.outcome is TrackOutcome.RECORDED
    again = await tracker.ingest("chan", "1", signal_post, T0)
    assert again.outcome is TrackOutcome.DUPLICATE and again.signal == first.signal
    applied = await tracker.ingest("chan", "2", ParsedPost(PostKind.UPDATE, update=_up(E.ENTERED_ZONE)), AT)
    assert applied.outcome is TrackOutcome.APPLIED
    other = await tracker.ingest("chan", "3", ParsedPost(PostKind.OTHER), AT)
    assert other.outcome is TrackOutcome.IGNORED and other.signal is None
    assert len(await tracker.signals_by_status(SignalStatus.ENTERED, provider="chan")) == 1


async def test_ingest_refuses_a_signal_post_without_its_signal(tracker: SignalTracker) -> None:
    # bad input: parser output that says "signal" but carries none
    with pytest.raises(DataError, match="without a signal"):
        await tracker.ingest("chan", "1", ParsedPost(PostKind.SIGNAL), T0)


@pytest.mark.parametrize(
    ("provider", "post_id", "intent", "posted_at"),
    [
        ("", "1", _intent(), T0),  # bad input: empty provider
        ("chan", " ", _intent(), T0),  # bad input: blank post id
        ("chan", "1", _intent("#"), T0),  # bad input: a symbol with no asset
        ("chan", "1", _intent(), datetime(2024, 3, 1)),  # bad input: naive posted_at
    ],
)
async def test_record_refuses_bad_input(
    tracker: SignalTracker, provider: str, post_id: str, intent: TradeIntent, posted_at: datetime
) -> None:
    with pytest.raises(DataError):
        await tracker.record_signal(provider, post_id, intent, posted_at)


async def test_a_stale_state_is_not_saved(store: MemoryTrackedSignalStore) -> None:
    tracker = SignalTracker(store)
    sig = await tracker.record_signal("chan", "1", _intent(), T0)
    first = apply_update(sig, _up(E.TARGET_HIT, 1), AT)
    second = apply_update(sig, _up(E.STOP_HIT), AT)  # made from the same, now outdated, state
    await store.save_transition(first)
    with pytest.raises(ConcurrentUpdateError):
        await store.save_transition(second)
    assert issubclass(ConcurrentUpdateError, TemporaryError)


class _RacingStore(MemoryTrackedSignalStore):
    """Applies another writer's update right before the first save, as a concurrent worker would."""

    raced = False

    async def save_transition(self, signal: TrackedSignal) -> TrackedSignal:
        if not self.raced:
            self.raced = True
            current = self.signals[signal.id or 0]
            await super().save_transition(apply_update(current, _up(E.TARGET_HIT, 1), AT, post_id="other"))
        return await super().save_transition(signal)


async def test_tracker_reapplies_an_update_after_a_concurrent_change() -> None:
    store = _RacingStore()
    tracker = SignalTracker(store)
    await tracker.record_signal("chan", "1", _intent(), T0)
    result = await tracker.apply("chan", "2", SignalUpdate("SXP", E.MOVE_STOP, price=D("1.25")), AT)
    assert result.signal is not None
    assert [h.post_id for h in result.signal.history] == ["other", "2"]  # neither update is lost
    assert (result.signal.targets_hit, result.signal.stop) == (1, D("1.25"))
