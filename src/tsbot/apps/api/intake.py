"""Intake routes under ``/api/v1/intake``: read a signal post or a typed command, and score signal providers.

* ``POST /parse`` (``write_signals``): read by the rule parsers (:func:`tsbot.intake.posts.parse`,
  :func:`tsbot.intake.commands.parse_command`; no language model: the same text always reads the same). A post that
  is neither a signal nor a follow-up, or a command not understood, answers 422 with the parser's reason. With
  ``provider``, a follow-up names the provider's open tracked signal it would apply to (nothing is stored).
* ``GET /providers``, ``GET /providers/{provider}`` (``read_signals``): each provider's tracked signals
  (:mod:`tsbot.intake.tracking`) counted by status and replayed over the stored candles of one timeframe by
  :mod:`tsbot.intake.scoring` (``intake.scoring`` settings); one provider adds its recent signals and their replays.
* Webhook tokens and accepted alerts: ``/webhooks/tokens``, ``/webhooks/alerts`` (:mod:`tsbot.apps.api.webhooks`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import anyio
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tsbot.accounts.models import Identity, Permission
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.schemas import Page
from tsbot.apps.api.webhooks import SignalOut, tokens_router, unicode_text
from tsbot.config import ProviderScoringConfig
from tsbot.core.errors import NotFoundError
from tsbot.core.time import to_ms
from tsbot.intake.commands import Command, CommandIntent, parse_command
from tsbot.intake.models import ParsedPost, PostKind, SignalUpdate
from tsbot.intake.posts import parse as parse_post
from tsbot.intake.scoring import (
    ProviderScore,
    ReplayedTrade,
    replay_reach_ms,
    replay_signal,
    resolve_symbol,
    score_trades,
)
from tsbot.intake.tracking import SignalStatus, TrackedSignal, symbol_key, symbols_match
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.wiring import Services

router = APIRouter(prefix="/api/v1/intake", tags=["intake"])

#: Tracked signals read per status for the scores (the most recent ones).
MAX_SIGNALS_PER_STATUS = 5_000
#: Bars of one symbol loaded for a replay at most (the most recent; older signals then count as ``no_data``).
MAX_REPLAY_BARS = 200_000


class ParseIn(BaseModel):
    """Text to read and what it is."""

    text: str = Field(description="the post or command as written; posts past 20,000 characters are cut")
    kind: Literal["post", "command"] = Field(description="a signal-channel post, or a typed command")
    provider: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="the provider (channel) of a post, to match follow-ups",
    )

    @field_validator("text", "provider")
    @classmethod
    def _valid_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.field_name == "provider" and value is not None and not value.isprintable():
            raise ValueError("provider must be printable text (no control characters)")
        return unicode_text(value)


class UpdateOut(BaseModel):
    """A follow-up of a trade (entry filled, target hit, stop hit, closed...)."""

    model_config = ConfigDict(from_attributes=True)

    symbol: str | None
    event: str
    target_index: int | None = Field(description="1-based entry or take-profit index, or null")
    price: Decimal | None
    profit_pct: Decimal | None = Field(description="profit in percent as reported (leveraged)")
    period: str | None


class CommandOut(BaseModel):
    """A typed command read into an intent; ``executable`` only when nothing is missing or unclear."""

    intent: str
    symbol: str | None
    amount: Decimal | None
    amount_kind: str | None = Field(description="quantity, quote or fraction")
    amount_currency: str | None
    order_type: str | None = Field(description="market, limit or stop")
    price: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    leverage: Decimal | None
    order_id: str | None
    strategy: str | None
    timeframe: str | None
    direction: str | None = Field(description="above, below or crosses (price alerts)")
    clarification: str | None = Field(description="the question to ask instead of acting, or null")
    executable: bool
    summary: str = Field(description="the command in plain words")

    @classmethod
    def of(cls, command: Command) -> CommandOut:
        fields = command.to_dict()
        fields.pop("confidence")
        return cls(**fields, executable=command.is_executable, summary=command.summary())


class ParseOut(BaseModel):
    """What the text says: a signal, a follow-up, or a command."""

    kind: Literal["signal", "update", "command"]
    confidence: float = Field(ge=0, le=1, description="how sure the reading is")
    notes: list[str] = Field(description="the parser's non-obvious decisions")
    signal: SignalOut | None = None
    update: UpdateOut | None = None
    command: CommandOut | None = None
    matched_signal_id: int | None = Field(
        None, description="the provider's open tracked signal this follow-up would apply to"
    )


@router.post(
    "/parse",
    summary="Read a signal post or a typed command",
    responses={422: {"description": "the text is not a signal, a follow-up or a command (the reason)"}},
)
async def parse(
    body: ParseIn, services: ServicesDep, identity: Identity = requires(Permission.WRITE_SIGNALS)
) -> ParseOut:
    """Deterministic rule parsers; nothing is stored."""
    if body.kind == "command":
        command = await anyio.to_thread.run_sync(parse_command, body.text)
        if command.intent is CommandIntent.UNKNOWN:
            raise ApiError(422, command.clarification or "not a command", error_type="not_understood")
        return ParseOut(
            kind="command", confidence=command.confidence, notes=[], command=CommandOut.of(command)
        )
    parsed: ParsedPost = await anyio.to_thread.run_sync(parse_post, body.text)
    notes = list(parsed.notes)
    if parsed.kind is PostKind.SIGNAL and parsed.signal is not None:
        return ParseOut(
            kind="signal", confidence=parsed.confidence, notes=notes, signal=SignalOut.of(parsed.signal)
        )
    if parsed.kind is PostKind.UPDATE and parsed.update is not None:
        matched = await _matching_signal(services, body.provider, parsed.update)
        return ParseOut(
            kind="update",
            confidence=parsed.confidence,
            notes=notes,
            update=UpdateOut.model_validate(parsed.update),
            matched_signal_id=matched,
        )
    reason = "; ".join(notes) or "no symbol, side and entry found"
    raise ApiError(422, f"not a signal or a follow-up: {reason}", error_type="not_a_signal")


async def _matching_signal(services: Services, provider: str | None, update: SignalUpdate) -> int | None:
    """Id of ``provider``'s most recent open signal of the update's symbol (the tracker's rule), or None."""
    if provider is None or update.symbol is None or not symbol_key(update.symbol)[0]:
        return None
    base = symbol_key(update.symbol)[0]
    candidates = [
        s
        for s in await services.tracked_signals.open_signals(provider, base=base)
        if symbols_match(s.symbol, update.symbol)
    ]
    best = max(candidates, key=lambda s: (s.posted_at, s.id or 0), default=None)
    return None if best is None else best.id


class ProviderScoreOut(BaseModel):
    """A provider's tracked signals counted by status, and the scores of replaying them over stored candles."""

    provider: str
    signals: int = Field(ge=0, description="tracked signals")
    by_status: dict[str, int] = Field(description="tracked signals per status (pending, entered, closed...)")
    replayed: int = Field(ge=0, description="signals with candles to replay them on")
    filled: int = Field(ge=0, description="replayed signals whose entry filled")
    fill_rate: float = Field(description="filled / replayed")
    hit_rate: float = Field(description="share of filled trades that reached at least one take-profit")
    win_rate: float = Field(description="share of filled trades with R > 0")
    average_r: float = Field(description="mean R of the filled trades (profit over the risk to the stop)")
    profit_factor: float | None = Field(description="gross R won / gross R lost; null without losses")
    total_return_ratio: float = Field(
        description="following the provider with intake.scoring.risk_per_trade_ratio"
    )
    max_drawdown_ratio: float
    no_data: int = Field(ge=0, description="signals without candles at this timeframe")
    signals_without_stop: int = Field(ge=0)

    @classmethod
    def of(cls, name: str, signals: list[TrackedSignal], score: ProviderScore) -> ProviderScoreOut:
        filled = [t for t in score.trades if t.filled]
        pf = score.profit_factor
        return cls(
            provider=name,
            signals=len(signals),
            by_status={s.value: sum(1 for x in signals if x.status is s) for s in SignalStatus},
            replayed=score.signals - score.no_data,
            filled=score.filled,
            fill_rate=round(score.fill_rate, 4),
            hit_rate=round(sum(1 for t in filled if t.targets_hit > 0) / len(filled), 4) if filled else 0.0,
            win_rate=round(score.win_rate, 4),
            average_r=round(score.average_r, 4),
            profit_factor=None if pf is None or pf == float("inf") else round(pf, 4),
            total_return_ratio=round(score.total_return_ratio, 6),
            max_drawdown_ratio=round(score.max_drawdown_ratio, 6),
            no_data=score.no_data,
            signals_without_stop=score.signals_without_stop,
        )


class ReplayOut(BaseModel):
    """How following one signal would have gone over the stored candles."""

    model_config = ConfigDict(from_attributes=True)

    exit_reason: str = Field(description="target, stop, expired, timeout, end_of_data, not_filled or no_data")
    r: float | None = Field(description="profit over the risk to the stop; null when never filled")
    targets_hit: int
    filled_at: datetime | None
    exit_at: datetime | None


class TrackedSignalOut(BaseModel):
    """One tracked signal of a provider: what was posted and where it stands."""

    id: int
    post_id: str
    posted_at: datetime
    status: str
    signal: SignalOut
    filled_entries: int
    targets_hit: int
    stop_loss: Decimal | None = Field(description="the current stop (moved by follow-ups)")
    entry_price: Decimal | None = Field(description="average entry as reported")
    exit_price: Decimal | None = Field(description="exit as reported")
    last_profit_pct: Decimal | None
    closed_at: datetime | None
    note: str | None
    replay: ReplayOut


class ProviderOut(BaseModel):
    """One provider: its scores and its most recent tracked signals."""

    score: ProviderScoreOut
    signals: list[TrackedSignalOut]


_TimeframeQ = Query(Timeframe.H1, description="candle timeframe the signals are replayed on")
_ExchangeQ = Query(
    None,
    min_length=1,
    max_length=32,
    description="exchange of the candles (default: any that holds the symbol)",
)


@router.get("/providers", summary="Signal providers and their scores")
async def providers(
    services: ServicesDep,
    timeframe: Timeframe = _TimeframeQ,
    exchange: str | None = _ExchangeQ,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    identity: Identity = requires(Permission.READ_SIGNALS),
) -> Page[ProviderScoreOut]:
    """Providers by name; each scored over its most recent tracked signals (5,000 per status at most)."""
    every = await _tracked(services, None)
    by_provider: dict[str, list[TrackedSignal]] = {}
    for signal in every:
        by_provider.setdefault(signal.provider, []).append(signal)
    names = sorted(by_provider)
    chosen = {name: by_provider[name] for name in names[offset : offset + limit]}
    mine = [s for signals in chosen.values() for s in signals]
    scores, _ = await _replay(services, mine, timeframe, exchange)
    items = [ProviderScoreOut.of(name, signals, scores[name]) for name, signals in chosen.items()]
    return Page[ProviderScoreOut](items=items, total=len(names), limit=limit, offset=offset)


@router.get(
    "/providers/{provider}",
    summary="One signal provider: scores and recent signals",
    responses={404: {"description": "no tracked signal of this provider"}},
)
async def provider_detail(
    services: ServicesDep,
    provider: str = Path(min_length=1, max_length=200, description="the provider (channel) name"),
    timeframe: Timeframe = _TimeframeQ,
    exchange: str | None = _ExchangeQ,
    recent: int = Query(50, ge=1, le=500, description="recent signals listed"),
    identity: Identity = requires(Permission.READ_SIGNALS),
) -> ProviderOut:
    """The provider's scores over its tracked signals and its ``recent`` newest ones with their replays."""
    signals = await _tracked(services, provider) if provider.isprintable() else []
    if not signals:
        raise NotFoundError(f"no tracked signals of provider {provider!r}")
    scores, trades = await _replay(services, signals, timeframe, exchange)
    listed = [_signal_out(s, trades[s.id or 0]) for s in signals[:recent]]
    return ProviderOut(score=ProviderScoreOut.of(provider, signals, scores[provider]), signals=listed)


router.include_router(tokens_router)


def _signal_out(signal: TrackedSignal, trade: ReplayedTrade) -> TrackedSignalOut:
    return TrackedSignalOut(
        id=signal.id or 0,
        post_id=signal.post_id,
        posted_at=signal.posted_at,
        status=signal.status.value,
        signal=SignalOut.of(signal.intent),
        filled_entries=signal.filled_entries,
        targets_hit=signal.targets_hit,
        stop_loss=signal.stop,
        entry_price=signal.entry_price,
        exit_price=signal.exit_price,
        last_profit_pct=signal.last_profit_pct,
        closed_at=signal.closed_at,
        note=signal.note,
        replay=ReplayOut.model_validate(trade),
    )


async def _tracked(services: Services, provider: str | None) -> list[TrackedSignal]:
    """Tracked signals of one provider or of all, most recent first (:data:`MAX_SIGNALS_PER_STATUS` a status)."""
    store = services.tracked_signals
    out: list[TrackedSignal] = []
    for status in SignalStatus:
        out.extend(await store.by_status(status, provider=provider, limit=MAX_SIGNALS_PER_STATUS))
    out.sort(key=lambda s: (s.posted_at, s.id or 0), reverse=True)
    return out


async def _replay(
    services: Services, signals: list[TrackedSignal], timeframe: Timeframe, exchange: str | None
) -> tuple[dict[str, ProviderScore], dict[int, ReplayedTrade]]:
    """Each signal replayed over the stored candles of its symbol, and each provider's score of them."""
    config = services.settings.intake.scoring
    keys: dict[str, SeriesKey] = {}
    for info in sorted(await services.candles.series(), key=lambda s: (s.key.exchange, s.key.symbol)):
        key = info.key
        if key.timeframe is timeframe and (exchange is None or key.exchange == exchange.strip().lower()):
            keys.setdefault(key.symbol, key)
    symbol_of = {s.id: resolve_symbol(s.intent.symbol, keys.keys()) for s in signals}
    spans: dict[str, tuple[datetime, datetime]] = {}
    for signal in signals:
        symbol = symbol_of[signal.id]
        if symbol is not None:
            first, last = spans.get(symbol, (signal.posted_at, signal.posted_at))
            spans[symbol] = (min(first, signal.posted_at), max(last, signal.posted_at))
    reach_ms = replay_reach_ms(config, timeframe)
    frames: dict[str, CandleFrame] = {}
    for symbol, (first, last) in spans.items():
        end_ms = to_ms(last) + reach_ms + timeframe.ms
        bars = min((end_ms - to_ms(first)) // timeframe.ms + 3, MAX_REPLAY_BARS)
        frames[symbol] = await services.candles.load(keys[symbol], end_ms=end_ms, limit=bars)
    return await anyio.to_thread.run_sync(_score_all, signals, symbol_of, frames, timeframe, config)


def _score_all(
    signals: list[TrackedSignal],
    symbol_of: dict[int | None, str | None],
    frames: dict[str, CandleFrame],
    timeframe: Timeframe,
    config: ProviderScoringConfig,
) -> tuple[dict[str, ProviderScore], dict[int, ReplayedTrade]]:
    trades: dict[int, ReplayedTrade] = {}
    by_provider: dict[str, list[ReplayedTrade]] = {}
    empty = CandleFrame.empty()
    for signal in sorted(signals, key=lambda s: (s.posted_at, s.id or 0)):
        symbol = symbol_of[signal.id]
        frame = empty if symbol is None else frames[symbol]
        trade = replay_signal(
            signal.intent,
            signal.posted_at,
            frame,
            timeframe,
            config,
            post_id=signal.post_id,
            provider=signal.provider,
        )
        trades[signal.id or 0] = trade
        by_provider.setdefault(signal.provider, []).append(trade)
    scores = {name: score_trades(name, mine, config, posts=len(mine)) for name, mine in by_provider.items()}
    return scores, trades
