"""Trading bots as a person manages them: what each trades (a strategy or a followed signal provider, pairs,
capital, risk limits, account), its status (running, paused, stopped, killed) and the orders it proposes for a
person's approval. :class:`~tsbot.trading.bot.SignalBot` is the runtime that trades; this module only describes.

Money is :class:`~decimal.Decimal` in the quote currency of the pairs; times are timezone-aware UTC. Every refusal
is a :class:`~tsbot.core.errors.ConfigError` (bad settings) or :class:`~tsbot.trading.models.InvalidTransitionError`
(a status move the lifecycle forbids) whose message a person can read. The JSON forms of risk limits and order
requests (:mod:`tsbot.trading.bot_codec`) are re-exported here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from tsbot.backtest.strategies import STRATEGIES, build_strategy
from tsbot.config import TradingConfig
from tsbot.core.errors import ConfigError
from tsbot.market.models import Timeframe
from tsbot.trading.bot_codec import (
    plain_decimal,
    request_from_json,
    request_to_json,
    risk_from_json,
    risk_to_json,
)
from tsbot.trading.models import InvalidTransitionError, OrderRequest, OrderType
from tsbot.trading.risk import RiskLimits

#: The strategy name of a bot that trades a signal provider's posts instead of a built-in strategy.
FOLLOW = "follow"


class BotStatus(StrEnum):
    """RUNNING: trades. PAUSED: a person paused it; orders wait. KILLED: the risk kill switch stopped it until a
    person resumes it. STOPPED: finished for good (final)."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    KILLED = "killed"


class BotMode(StrEnum):
    """PAPER: trades a simulated account (``paper:<portfolio id>``). LIVE: trades an exchange account."""

    PAPER = "paper"
    LIVE = "live"


#: Allowed status moves; a killed bot is resumed (RUNNING) or stopped by a person; STOPPED is final.
BOT_TRANSITIONS: dict[BotStatus, frozenset[BotStatus]] = {
    BotStatus.RUNNING: frozenset({BotStatus.PAUSED, BotStatus.STOPPED, BotStatus.KILLED}),
    BotStatus.PAUSED: frozenset({BotStatus.RUNNING, BotStatus.STOPPED, BotStatus.KILLED}),
    BotStatus.KILLED: frozenset({BotStatus.RUNNING, BotStatus.STOPPED}),
    BotStatus.STOPPED: frozenset(),
}

_VERB = {
    BotStatus.RUNNING: "resumed",
    BotStatus.PAUSED: "paused",
    BotStatus.STOPPED: "stopped",
    BotStatus.KILLED: "killed",
}


def check_transition(current: BotStatus, target: BotStatus, *, bot: str = "") -> None:
    """Whether a bot (named ``bot`` in the message) may move from ``current`` to ``target``.

    Raises:
        InvalidTransitionError: the move is not in :data:`BOT_TRANSITIONS` (the message says why and what to do).
    """
    current, target = BotStatus(current), BotStatus(target)
    if target in BOT_TRANSITIONS[current]:
        return
    who = f"bot {bot}" if bot else "the bot"
    if current is BotStatus.STOPPED:
        raise InvalidTransitionError(
            f"{who} is stopped: a stopped bot cannot be {_VERB[target]}; start a new one"
        )
    if current is target:
        raise InvalidTransitionError(f"{who} is already {current.value}")
    raise InvalidTransitionError(
        f"{who} was stopped by the kill switch: resume it or stop it; it cannot be {_VERB[target]}"
    )


@dataclass(frozen=True, slots=True)
class BotConfig:
    """A stored bot. Build a new one with :meth:`new`, which validates everything.

    Attributes:
        id: 32 hex digits. ``owner``: a user id. ``name``: unique per owner, 1-64 characters.
        strategy: a name of :data:`tsbot.backtest.strategies.STRATEGIES`, or :data:`FOLLOW`.
        provider: the followed signal provider (only and always with :data:`FOLLOW`).
        account: the broker account of its orders: ``"paper:<portfolio id>"`` or ``"<exchange>:<key id>"``.
        mode: paper (a paper account) or live (an exchange account).
        pairs: ``BASE/QUOTE`` symbols, upper-cased, at least one, no repeats.
        timeframe: the bar it trades on (``"1h"``). ``capital``: quote currency it may use, > 0.
        params: the strategy's parameters over its defaults. ``risk``: the bot's own limits.
        approval: each order waits for a person's approval.
        status, status_reason: where it stands and why. ``created_at``, ``updated_at``: UTC.
    """

    id: str
    owner: str
    name: str
    strategy: str
    provider: str | None
    account: str
    mode: BotMode
    pairs: tuple[str, ...]
    timeframe: str
    capital: Decimal
    params: dict[str, float]
    risk: RiskLimits
    approval: bool
    status: BotStatus
    status_reason: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def new(
        cls,
        owner: str,
        name: str,
        strategy: str,
        pairs: Iterable[str] | str,
        capital: Decimal | int | str,
        *,
        account: str,
        mode: BotMode | str = BotMode.PAPER,
        provider: str | None = None,
        timeframe: str = "1h",
        params: Mapping[str, float] | None = None,
        risk: RiskLimits | None = None,
        approval: bool = False,
        now: datetime,
    ) -> BotConfig:
        """A new RUNNING bot (id: 32 random hex digits; created and updated at ``now``, UTC). ``pairs`` may be one
        comma-separated string (``"btc/usdt, eth/usdt"``).

        Raises:
            ConfigError: every problem found, one readable reason each, joined by "; ": an empty owner or name,
                no pairs, a pair without ``/`` or listed twice, capital not a positive number, an unknown
                strategy or parameter, follow without a provider (or a provider without follow), an account not
                ``<venue>:<id>``, live mode on a paper account or paper mode on another, an unknown timeframe.
            ValueError: ``now`` is naive.
        """
        if now.tzinfo is None:
            raise ValueError(f"a bot needs a timezone-aware creation time (UTC), got {now.isoformat()}")
        problems: list[str] = []
        owner, name = owner.strip(), name.strip()
        if not 0 < len(owner) <= 128:
            problems.append("a bot's owner must be 1-128 characters")
        if not 0 < len(name) <= 64:
            problems.append(f"a bot's name must be 1-64 characters, got {name!r}")
        strategy = strategy.strip().lower()
        if strategy != FOLLOW and strategy not in STRATEGIES:
            problems.append(
                f"unknown strategy {strategy!r}; built-in strategies: {', '.join(STRATEGIES)}, or follow"
            )
        provider = (provider or "").strip() or None
        if strategy == FOLLOW and provider is None:
            problems.append(
                "strategy follow needs a provider: the signal provider whose posts the bot trades"
            )
        elif strategy != FOLLOW and provider is not None:
            problems.append(
                f"a provider ({provider}) is only for strategy follow; {strategy} trades its own signals"
            )
        elif provider is not None and len(provider) > 128:
            problems.append("a provider name must be at most 128 characters")
        checked_pairs = _pairs(pairs, problems)
        amount = _capital(capital, problems)
        account = account.strip()
        venue, _, key = account.partition(":")
        if not venue or not key or len(account) > 128:
            problems.append(f"account {account!r} must be 'paper:<portfolio id>' or '<exchange>:<key id>'")
        try:
            kind: BotMode | None = BotMode(str(mode).strip().lower())
        except ValueError:
            problems.append(f"mode {mode!r} is not one of paper, live")
            kind = None
        paper_account = venue.lower() == "paper"
        if venue and key and kind is BotMode.LIVE and paper_account:
            problems.append(f"live mode needs an exchange account ('<exchange>:<key id>'), not {account}")
        elif venue and key and kind is BotMode.PAPER and not paper_account:
            problems.append(f"paper mode trades a paper account ('paper:<portfolio id>'), not {account}")
        try:
            frame = Timeframe.parse(timeframe).value
        except ConfigError as exc:
            problems.append(str(exc))
            frame = timeframe
        values = _params(params, problems)
        if strategy in STRATEGIES and values is not None:
            try:
                build_strategy(strategy, TradingConfig(), values)
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("; ".join(problems))
        at = now.astimezone(UTC)
        return cls(
            id=uuid.uuid4().hex,
            owner=owner,
            name=name,
            strategy=strategy,
            provider=provider,
            account=account,
            mode=kind or BotMode.PAPER,
            pairs=checked_pairs,
            timeframe=frame,
            capital=amount,
            params=values or {},
            risk=risk if risk is not None else RiskLimits(),
            approval=bool(approval),
            status=BotStatus.RUNNING,
            status_reason="created",
            created_at=at,
            updated_at=at,
        )


def _pairs(pairs: Iterable[str] | str, problems: list[str]) -> tuple[str, ...]:
    items = pairs.split(",") if isinstance(pairs, str) else list(pairs)
    out: list[str] = []
    for raw in items:
        pair = str(raw).strip().upper()
        if not pair and isinstance(pairs, str):
            continue
        base, slash, quote = pair.partition("/")
        if not (slash and base.isalnum() and quote.isalnum()):
            problems.append(f"pair {raw!r} must be BASE/QUOTE, e.g. BTC/USDT")
        elif pair in out:
            problems.append(f"pair {pair} is listed twice")
        else:
            out.append(pair)
    if not items or all(not str(p).strip() for p in items):
        problems.append("a bot needs at least one pair (BASE/QUOTE, e.g. BTC/USDT)")
    return tuple(out)


def _capital(capital: Decimal | int | str, problems: list[str]) -> Decimal:
    try:
        amount = capital if isinstance(capital, Decimal) else Decimal(str(capital).strip())
    except InvalidOperation:
        problems.append(f"capital {capital!r} is not a number")
        return Decimal(0)
    if not (amount.is_finite() and amount > 0):
        problems.append(f"capital must be a positive amount of the quote currency, got {capital}")
    return amount


def _params(params: Mapping[str, float] | None, problems: list[str]) -> dict[str, float] | None:
    try:
        return {str(k): float(v) for k, v in (params or {}).items()}
    except (TypeError, ValueError):
        problems.append(f"strategy parameters must be numbers, got {dict(params or {})}")
        return None


class ApprovalStatus(StrEnum):
    """PENDING waits for a person; APPROVED and REJECTED are their decision; EXPIRED: nobody decided in time."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


def approval_summary(actor: str, request: OrderRequest) -> str:
    """A sentence for a person: ``"swing wants to BUY 0.01 BTC/USDT at market: signal at ..."`` (``actor``: the
    bot's name; the order's reason, when it has one, after the colon)."""
    base, _, quote = request.symbol.partition("/")
    if request.quote_qty is not None:
        amount = f"{plain_decimal(request.quote_qty.normalize())} {quote} of {request.symbol}"
    else:
        amount = f"{plain_decimal(request.qty.normalize())} {request.symbol}"
    price = plain_decimal(request.price.normalize()) if request.price is not None else None
    stop = plain_decimal(request.stop_price.normalize()) if request.stop_price is not None else None
    how = {
        OrderType.MARKET: "at market",
        OrderType.LIMIT: f"at {price} {quote} or better (limit)",
        OrderType.STOP: f"at market once {stop} {quote} trades (stop)",
        OrderType.STOP_LIMIT: f"at {price} {quote} once {stop} {quote} trades (stop-limit)",
    }[request.order_type]
    text = f"{actor} wants to {request.side.value.upper()} {amount} {how}"
    return f"{text}: {request.reason}" if request.reason else text


@dataclass(frozen=True, slots=True)
class Approval:
    """An order a bot (or a person's tool) proposes, waiting for a person's decision.

    Attributes:
        id: 32 hex digits. ``bot_id``: the proposing bot (None: not from a bot). ``owner``: who decides.
        request: the order that is sent once approved (its ``client_order_id`` is unique among approvals).
        summary: what a person reads (see :func:`approval_summary`).
        status: see :class:`ApprovalStatus`. ``created_at``, ``expires_at``: UTC; past ``expires_at`` a pending
            approval can no longer be approved.
        decided_at, decided_by: when and by whom it was approved or rejected (None while pending or expired).
    """

    id: str
    bot_id: str | None
    owner: str
    request: OrderRequest
    summary: str
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None

    @classmethod
    def new(
        cls,
        owner: str,
        request: OrderRequest,
        summary: str,
        *,
        now: datetime,
        ttl: timedelta = timedelta(minutes=15),
        bot_id: str | None = None,
    ) -> Approval:
        """A PENDING approval (id: 32 random hex digits) created at ``now`` that expires ``ttl`` later.

        Raises:
            ValueError: a naive ``now`` or a ``ttl`` that is not positive.
        """
        if now.tzinfo is None:
            raise ValueError(f"an approval needs a timezone-aware time (UTC), got {now.isoformat()}")
        if ttl <= timedelta(0):
            raise ValueError(f"an approval must stay open for a positive time, got {ttl}")
        at = now.astimezone(UTC)
        return cls(uuid.uuid4().hex, bot_id, owner, request, summary, ApprovalStatus.PENDING, at, at + ttl)

    def is_expired(self, now: datetime) -> bool:
        """Pending and ``now`` (UTC) at or past ``expires_at``."""
        return self.status is ApprovalStatus.PENDING and now >= self.expires_at


__all__ = [
    "BOT_TRANSITIONS",
    "FOLLOW",
    "Approval",
    "ApprovalStatus",
    "BotConfig",
    "BotMode",
    "BotStatus",
    "approval_summary",
    "check_transition",
    "request_from_json",
    "request_to_json",
    "risk_from_json",
    "risk_to_json",
]
