"""Risk limits shared by the trading tests."""

from __future__ import annotations

from decimal import Decimal

from tsbot.trading.risk import RiskLimits

#: Limits that let every signal through, so a comparison is of the bar loop and the fills alone (risk has its own
#: tests): all-in sizing, no caps, no kill switch, no cool-down.
OPEN_LIMITS = RiskLimits(
    risk_per_trade_ratio=None,
    max_position_ratio=Decimal(1),
    max_open_positions=None,
    max_leverage=None,
    max_daily_loss_ratio=None,
    cooldown_after_stop=None,
    max_drawdown_ratio=None,
)
