"""What the bots run by the cycle tell people: their event log, their closed trades, and notifications to the owner.

* every :class:`~tsbot.trading.bot_state.BotEvent` goes to the bot's log (``bot_events``), and each closed trade as a
  ``trade`` event with its figures in ``data``;
* each fill of a bot's order queues a ``trade_executed`` notification (deduplicated per order and fill, so a cycle
  repeated after a crash notifies once);
* in approval mode, each proposed entry is stored as a pending approval and queues ``approval_needed``. A person
  decides in real time, so an approval's time and expiry are the wall clock's, also on a replay clock.

Times are UTC; amounts are plain decimal strings in the quote currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from tsbot.core.time import utc_now
from tsbot.monitor.bot_account import RunningBot
from tsbot.monitor.ports import BotRegistry, NotificationQueue
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.trading.bot import SignalBot
from tsbot.trading.bot_codec import plain_decimal
from tsbot.trading.bot_orders import ProposeOrder
from tsbot.trading.bots import Approval, BotConfig, approval_summary
from tsbot.trading.models import Fill, OrderRequest

_log = structlog.get_logger("tsbot.monitor")


class BotNotices:
    """Logs and notifications of the bots of one cycle (see the module docstring)."""

    def __init__(self, bots: BotRegistry, notifications: NotificationQueue | None) -> None:
        self._bots = bots
        self._notifications = notifications
        self._configs: dict[str, BotConfig] = {}
        self.fills_seen = 0
        #: What the ``trade_executed`` notifications say the fills were: ``paper`` or ``live``.
        self.mode = "paper"

    def register(self, config: BotConfig) -> None:
        """A bot whose fills and proposals this object reports."""
        self._configs[config.id] = config

    def proposer(self, config: BotConfig) -> ProposeOrder:
        """The bot's approval-mode callback: store the proposal, notify the owner."""
        self.register(config)

        async def propose(request: OrderRequest) -> None:
            summary = approval_summary(config.name, request)
            approval = await self._bots.propose(
                Approval.new(config.owner, request, summary, now=utc_now(), bot_id=config.id)
            )
            context = {
                "summary": approval.summary,
                "symbol": request.symbol,
                "side": request.side.value,
                "quantity": plain_decimal(request.qty),
                "reason": request.reason,
                "approval_id": approval.id,
                "expires_at": approval.expires_at,
                "bot": config.name,
            }
            key = f"approval:{request.client_order_id}"
            await self._queue(config.owner, NotificationType.APPROVAL_NEEDED, key, context)

        return propose

    async def fills(self, rb: RunningBot, fills: Sequence[Fill]) -> None:
        """Notify the owner of each fill of the bot's orders."""
        self.fills_seen += len(fills)
        config = self._configs.get(rb.bot_id)
        if config is None:
            return
        for f in fills:
            context = {
                "symbol": f.symbol,
                "side": f.side.value,
                "quantity": plain_decimal(f.qty),
                "price": plain_decimal(f.price),
                "fee": plain_decimal(f.fee),
                "fee_asset": f.fee_currency,
                "mode": self.mode,
                "bot": config.name,
                "order_id": f.client_order_id,
                "executed_at": f.filled_at,
            }
            key = f"fill:{f.client_order_id}:{f.fill_id}"
            await self._queue(config.owner, NotificationType.TRADE_EXECUTED, key, context)

    async def flush(self, config: BotConfig, bot: SignalBot) -> tuple[int, int]:
        """Write the bot's new events and closed trades to its log and clear them; (events, trades) written."""
        events, trades = list(bot.events), list(bot.trades)
        bot.events.clear()
        bot.trades.clear()
        for e in events:
            await self._bots.add_event(config.id, e.at, e.kind, e.message, {"symbol": e.symbol})
        for t in trades:
            side = "long" if t.side > 0 else "short"
            data = {
                "symbol": t.symbol,
                "side": side,
                "entry_at": t.entry_at.isoformat(),
                "entry_price": plain_decimal(t.entry_price),
                "exit_at": t.exit_at.isoformat(),
                "exit_price": plain_decimal(t.exit_price),
                "qty": plain_decimal(t.qty),
                "pnl": plain_decimal(t.pnl),
                "fees": plain_decimal(t.fees),
                "exit_reason": t.exit_reason,
            }
            message = (
                f"closed {side} {t.symbol}: {plain_decimal(t.qty.normalize())} at "
                f"{plain_decimal(t.exit_price.normalize())} ({t.exit_reason.replace('_', ' ')}), "
                f"P&L {t.pnl:.2f} after fees"
            )
            await self._bots.add_event(config.id, t.exit_at, "trade", message, data)
        return len(events), len(trades)

    async def _queue(self, user_id: str, kind: NotificationType, key: str, context: dict[str, Any]) -> None:
        if self._notifications is None:
            return
        try:
            request = NotificationRequest(user_id=user_id, type=kind, dedup_key=key[:200], context=context)
            await self._notifications.enqueue([request], now=utc_now())
        except Exception as exc:  # noqa: BLE001 - a notification failing must not lose the bot's work
            _log.warning("monitor.bot_notice_failed", user=user_id, kind=str(kind), error=str(exc))
