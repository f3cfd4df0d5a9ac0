"""Bot settings as a person manages them: every bad input of BotConfig.new refused with its reason, the status
lifecycle (allowed and refused moves), exact JSON round trips of risk limits and order requests, and the sentence
a person reads for an approval."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from tsbot.core.errors import ConfigError, DataError
from tsbot.trading.bots import (
    BOT_TRANSITIONS,
    FOLLOW,
    Approval,
    ApprovalStatus,
    BotConfig,
    BotMode,
    BotStatus,
    approval_summary,
    check_transition,
    request_from_json,
    request_to_json,
    risk_from_json,
    risk_to_json,
)
from tsbot.trading.models import InvalidTransitionError, OrderRequest, OrderSide, OrderType
from tsbot.trading.risk import RiskLimits

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def new(**kw: Any) -> BotConfig:
    args: dict[str, Any] = {
        "owner": "alice",
        "name": "Swing BTC",
        "strategy": "swing",
        "pairs": ["btc/usdt", " eth/usdt "],
        "capital": D("1000.50"),
        "account": "paper:p1",
        "now": NOW,
    }
    args.update(kw)
    return BotConfig.new(**args)


def test_new_bot_with_good_input_is_normalised_and_running() -> None:
    bot = new(
        params={"stop_atr": 3, "max_hold_bars": 100},
        timeframe="4h",
        risk=RiskLimits(max_open_positions=3),
        approval=True,
    )
    assert len(bot.id) == 32 and bot.id != new().id
    assert (bot.owner, bot.name, bot.strategy, bot.provider) == ("alice", "Swing BTC", "swing", None)
    assert bot.pairs == ("BTC/USDT", "ETH/USDT")
    assert (bot.account, bot.mode, bot.timeframe, bot.capital) == (
        "paper:p1",
        BotMode.PAPER,
        "4h",
        D("1000.50"),
    )
    assert (
        bot.params == {"stop_atr": 3.0, "max_hold_bars": 100.0}
        and bot.risk.max_open_positions == 3
        and bot.approval
    )
    assert (bot.status, bot.status_reason, bot.created_at, bot.updated_at) == (
        BotStatus.RUNNING,
        "created",
        NOW,
        NOW,
    )
    assert new(pairs="sol/usdt,BTC/USDT").pairs == ("SOL/USDT", "BTC/USDT")  # one comma-separated string
    assert new(risk=None).risk == RiskLimits()


def test_follow_and_live_bots() -> None:
    follow = new(strategy="Follow", provider=" cryptoguru ", params={"anything": 1})
    assert (follow.strategy, follow.provider, follow.params) == (FOLLOW, "cryptoguru", {"anything": 1.0})
    live = new(mode="live", account="binance:k1")
    assert (live.mode, live.account) == (BotMode.LIVE, "binance:k1")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"pairs": []}, "at least one pair"),  # bad input: no pairs at all
        ({"pairs": ""}, "at least one pair"),  # bad input: an empty comma-separated string
        ({"pairs": ["BTCUSDT"]}, "pair 'BTCUSDT' must be BASE/QUOTE"),  # bad input: a pair without a slash
        ({"pairs": ["BTC/"]}, "must be BASE/QUOTE"),  # bad input: a pair without a quote currency
        ({"pairs": ["BTC/USDT", "btc/usdt"]}, "BTC/USDT is listed twice"),  # bad input: a repeated pair
        ({"capital": D(0)}, "capital must be a positive amount"),  # bad input: zero capital
        ({"capital": "-5"}, "capital must be a positive amount"),  # bad input: negative capital
        ({"capital": "lots"}, "capital 'lots' is not a number"),  # bad input: capital that is not a number
        ({"strategy": "moonshot"}, "unknown strategy 'moonshot'"),  # bad input: unknown strategy
        ({"strategy": "follow"}, "strategy follow needs a provider"),  # bad input: follow without a provider
        ({"provider": "guru"}, "only for strategy follow"),  # bad input: a provider with a built-in strategy
        ({"mode": "live"}, "live mode needs an exchange account"),  # bad input: live mode on a paper account
        (
            {"account": "binance:k1"},
            "paper mode trades a paper account",
        ),  # bad input: paper mode, real account
        ({"mode": "yolo"}, "mode 'yolo' is not one of paper, live"),  # bad input: unknown mode
        ({"account": "paper"}, "must be 'paper:<portfolio id>'"),  # bad input: an account without its id
        ({"timeframe": "2h"}, "timeframe '2h' is not supported"),  # bad input: unknown timeframe
        ({"params": {"nonsense": 1}}, "has no parameter 'nonsense'"),  # bad input: unknown strategy parameter
        ({"params": {"stop_atr": 10}}, "outside its range"),  # bad input: a parameter out of its range
        (
            {"params": {"target1_r": 3, "target2_r": 2}},
            "must be beyond target1_r",
        ),  # bad input: targets crossed
        ({"params": {"stop_atr": "wide"}}, "must be numbers"),  # bad input: a parameter that is not a number
        ({"name": "  "}, "name must be 1-64 characters"),  # bad input: an empty name
        ({"owner": ""}, "owner must be 1-128 characters"),  # bad input: no owner
    ],
)
def test_new_bot_refuses_bad_input_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(reason)):
        new(**changes)


def test_every_problem_is_reported_at_once() -> None:
    # bad input: a pair without a slash, zero capital and an unknown strategy together
    with pytest.raises(ConfigError) as caught:
        new(pairs=["BTCUSDT"], capital=0, strategy="moonshot")
    text = str(caught.value)
    assert text.count("; ") >= 2
    assert "BTCUSDT" in text and "capital" in text and "moonshot" in text


def test_naive_creation_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        new(now=datetime(2026, 3, 2, 10, 30))  # bad input: a naive time


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c, targets in BOT_TRANSITIONS.items() for t in sorted(targets)],
)
def test_allowed_transitions_pass(current: BotStatus, target: BotStatus) -> None:
    check_transition(current, target, bot="b1")


def test_the_lifecycle_table() -> None:
    assert BOT_TRANSITIONS[BotStatus.RUNNING] == {BotStatus.PAUSED, BotStatus.STOPPED, BotStatus.KILLED}
    assert BOT_TRANSITIONS[BotStatus.PAUSED] == {BotStatus.RUNNING, BotStatus.STOPPED, BotStatus.KILLED}
    assert BOT_TRANSITIONS[BotStatus.KILLED] == {BotStatus.RUNNING, BotStatus.STOPPED}
    assert BOT_TRANSITIONS[BotStatus.STOPPED] == frozenset()


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        # bad input: resuming a stopped bot
        (
            BotStatus.STOPPED,
            BotStatus.RUNNING,
            "bot b1 is stopped: a stopped bot cannot be resumed; start a new one",
        ),
        # bad input: pausing a stopped bot
        (
            BotStatus.STOPPED,
            BotStatus.PAUSED,
            "bot b1 is stopped: a stopped bot cannot be paused; start a new one",
        ),
        # bad input: stopping a stopped bot again
        (
            BotStatus.STOPPED,
            BotStatus.STOPPED,
            "bot b1 is stopped: a stopped bot cannot be stopped; start a new one",
        ),
        # bad input: starting a running bot
        (BotStatus.RUNNING, BotStatus.RUNNING, "bot b1 is already running"),
        # bad input: pausing a paused bot
        (BotStatus.PAUSED, BotStatus.PAUSED, "bot b1 is already paused"),
        # bad input: pausing a killed bot instead of resuming or stopping it
        (BotStatus.KILLED, BotStatus.PAUSED, "bot b1 was stopped by the kill switch: resume it or stop it"),
        # bad input: tripping the kill switch twice
        (BotStatus.KILLED, BotStatus.KILLED, "bot b1 is already killed"),
    ],
)
def test_refused_transitions_say_why(current: BotStatus, target: BotStatus, message: str) -> None:
    with pytest.raises(InvalidTransitionError) as caught:
        check_transition(current, target, bot="b1")
    assert str(caught.value).startswith(message)


def test_risk_limits_round_trip_exactly_with_none_and_durations() -> None:
    limits = RiskLimits(
        risk_per_trade_ratio=D("0.0125"),
        max_position_ratio=None,
        max_position_qty=D("0.000001"),
        max_open_positions=None,
        max_leverage=D("2.5"),
        max_daily_loss_ratio=D("0.05"),
        cooldown_after_stop=timedelta(minutes=90, microseconds=250),
        max_drawdown_ratio=D(1),
        drawdown_pause=None,
        stock_market_hours_only=False,
        allow_short=True,
    )
    data = risk_to_json(limits)
    assert data["risk_per_trade_ratio"] == "0.0125" and data["max_position_qty"] == "0.000001"
    assert data["max_position_ratio"] is None and data["drawdown_pause"] is None
    assert data["cooldown_after_stop"] == 5400.00025 and data["max_open_positions"] is None
    assert risk_from_json(data) == limits
    defaults = risk_to_json(RiskLimits())
    assert defaults["cooldown_after_stop"] == 3600 and isinstance(defaults["cooldown_after_stop"], int)
    assert defaults["max_open_positions"] == 10 and defaults["allow_short"] is False
    assert risk_from_json(defaults) == RiskLimits()
    assert risk_from_json({}) == RiskLimits()  # a key left out takes its default


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"max_lots": "3"}, "unknown risk limit"),  # bad input: an unknown key
        ({"risk_per_trade_ratio": "2"}, r"in \(0, 1\]"),  # bad input: a ratio over 1
        ({"max_open_positions": "ten"}, "not a valid int"),  # bad input: a count as text
        ({"allow_short": 1}, "not a valid bool"),  # bad input: a switch that is not a boolean
        ({"cooldown_after_stop": "soon"}, "not a valid seconds"),  # bad input: a duration that is not seconds
        ({"max_leverage": True}, "not a valid decimal"),  # bad input: a boolean for a number
    ],
)
def test_risk_from_json_refuses_bad_data(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        risk_from_json(data)


def test_order_requests_round_trip_exactly() -> None:
    full = OrderRequest(
        client_order_id="tsb-0123456789abcdef0123456789abcdef",
        account="binance:k1",
        symbol="BTC/USDT",
        side=OrderSide.SELL,
        order_type=OrderType.STOP_LIMIT,
        qty=D("0.00012000"),
        price=D("64999.99"),
        stop_price=D("65000.5"),
        reduce_only=True,
        parent_id="tsb-parent",
        oco_group="oco-1",
        leverage=D("3"),
        reason="stop-loss of the entry",
        quote_qty=None,
    )
    data = request_to_json(full)
    assert data["side"] == "sell" and data["order_type"] == "stop_limit" and data["qty"] == "0.00012000"
    assert data["quote_qty"] is None and data["reduce_only"] is True
    back = request_from_json(data)
    assert back == full and str(back.qty) == "0.00012000"
    bare = OrderRequest(
        "tsb-1", "paper:p1", "ETH/USDT", OrderSide.BUY, OrderType.MARKET, D(1), quote_qty=D("250")
    )
    data = request_to_json(bare)
    assert (data["price"], data["stop_price"], data["parent_id"], data["oco_group"]) == (
        None,
        None,
        None,
        None,
    )
    assert request_from_json(data) == bare


def test_request_from_json_refuses_bad_data() -> None:
    good = request_to_json(
        OrderRequest("tsb-1", "paper:p1", "ETH/USDT", OrderSide.BUY, OrderType.MARKET, D(1))
    )
    with pytest.raises(DataError, match="unknown order request field"):
        request_from_json({**good, "venue": "x"})  # bad input: an unknown key
    with pytest.raises(DataError, match="malformed"):
        request_from_json({**good, "side": "hold"})  # bad input: a side that does not exist
    with pytest.raises(DataError, match="malformed"):
        request_from_json({k: v for k, v in good.items() if k != "qty"})  # bad input: no quantity


def test_approval_summary_and_expiry() -> None:
    buy = OrderRequest(
        "tsb-1",
        "paper:p1",
        "BTC/USDT",
        OrderSide.BUY,
        OrderType.MARKET,
        D("0.0100"),
        reason="signal at 10:00",
    )
    assert approval_summary("swing", buy) == "swing wants to BUY 0.01 BTC/USDT at market: signal at 10:00"
    by_amount = buy.with_(quote_qty=D("250.00"), reason="")
    assert approval_summary("swing", by_amount) == "swing wants to BUY 250 USDT of BTC/USDT at market"
    limit = buy.with_(side=OrderSide.SELL, order_type=OrderType.LIMIT, price=D("70000.0"), reason="")
    assert approval_summary("b", limit) == "b wants to SELL 0.01 BTC/USDT at 70000 USDT or better (limit)"
    approval = Approval.new("alice", buy, "s", now=NOW, ttl=timedelta(minutes=5), bot_id="b1")
    assert (approval.status, approval.expires_at, approval.decided_at) == (
        ApprovalStatus.PENDING,
        NOW + timedelta(minutes=5),
        None,
    )
    assert not approval.is_expired(NOW + timedelta(minutes=4)) and approval.is_expired(
        NOW + timedelta(minutes=5)
    )
    with pytest.raises(ValueError, match="positive"):
        Approval.new("alice", buy, "s", now=NOW, ttl=timedelta(0))  # bad input: an approval that never opens
