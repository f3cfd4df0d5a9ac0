"""Decisions on a bot's proposed orders, from the approvals store to the running bot.

In approval mode a bot proposes each entry (:class:`~tsbot.trading.bot_orders.BotOrders` stores it as a pending
:class:`~tsbot.trading.bots.Approval` and keeps it in ``awaiting``). A person decides elsewhere (the API, the
Telegram bot), which records the decision in the approvals store only. The process running the bot reads the
owner's approvals from that store and hands them to :func:`apply_decisions`, which sends what was approved and
drops what was rejected or expired. Deciding and sending are apart, so a decision survives a restart of either side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from tsbot.trading.bot_orders import BotOrders
from tsbot.trading.bots import Approval, ApprovalStatus


@dataclass(slots=True)
class AppliedDecisions:
    """What :func:`apply_decisions` did: client order ids sent, dropped (rejected or expired), and approved too
    late to send (the pair holds a position now, or it was decided already)."""

    sent: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    not_sent: list[str] = field(default_factory=list)


async def apply_decisions(bot: BotOrders, approvals: Iterable[Approval], now: datetime) -> AppliedDecisions:
    """Hand ``bot`` the decisions on the entries it awaits.

    Each approval of this bot (``approval.bot_id == bot.settings.bot_id``) whose order (matched by client order id)
    the bot still awaits is applied: APPROVED -> :meth:`BotOrders.on_approved` (sent now); REJECTED or EXPIRED,
    or still pending at or past its ``expires_at`` (``now``, UTC) -> :meth:`BotOrders.on_declined`. Pending ones
    keep waiting; approvals of other bots and of orders the bot no longer awaits are ignored.
    """
    done = AppliedDecisions()
    mine = bot.settings.bot_id
    for approval in approvals:
        cid = approval.request.client_order_id
        if approval.bot_id != mine or cid not in bot.awaiting:
            continue
        if approval.status is ApprovalStatus.APPROVED:
            sent = await bot.on_approved(cid)
            (done.sent if sent is not None else done.not_sent).append(cid)
        elif approval.status is ApprovalStatus.REJECTED:
            bot.on_declined(cid, f"rejected by {approval.decided_by or 'a person'}")
            done.dropped.append(cid)
        elif approval.status is ApprovalStatus.EXPIRED or approval.is_expired(now):
            bot.on_declined(cid, "nobody decided before it expired")
            done.dropped.append(cid)
    return done
