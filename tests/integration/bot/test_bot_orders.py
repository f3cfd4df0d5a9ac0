"""Orders, approvals and bots from Telegram against a local Bot API server, on SQLite and PostgreSQL: ``/buy`` and
``/sell`` offer Confirm / Cancel and place a paper order only on Confirm, once; free text goes through the command
parser to the same confirmation; ``/approve`` decides a bot's proposed order; ``/stop`` pauses running bots.

Bad input tried: Confirm pressed twice, Cancel, a Confirm older than ``telegram.confirm_seconds``, a button whose
data holds no order, a viewer placing an order, a buy the cash cannot pay for, /buy without an amount, text the
parser cannot read, an order with leverage, a sell of an asset not held, an approval decided twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from tests.integration.bot.conftest import Harness, funded_portfolio, store_closes

from tsbot.accounts.models import Role
from tsbot.adapters.storage.order_queries import SqlOrderPages
from tsbot.apps.bot.orders import CANCEL
from tsbot.trading.bots import Approval as BotApproval
from tsbot.trading.bots import ApprovalStatus, BotConfig, BotStatus, approval_summary
from tsbot.trading.models import OrderRequest, OrderSide, OrderStatus, OrderType
from tsbot.trading.orders import client_order_id
from tsbot.trading.paper_books import paper_account


async def _orders(bot: Harness, portfolio_id: str) -> list[tuple[str, str, OrderStatus]]:
    found, _ = await SqlOrderPages(bot.services.db).page([paper_account(portfolio_id)])
    return [(o.request.side.value, format(o.request.qty.normalize(), "f"), o.status) for o in reversed(found)]


async def test_buy_is_placed_once_on_confirm_and_never_on_cancel_or_late(bot: Harness) -> None:
    """Bad input: Confirm pressed twice, Cancel, a stale Confirm, a forged button, a viewer, too little cash."""
    await store_closes(bot.services, "BTC/USDT", [100.0] * 3)
    user, chat_id = await bot.linked(Role.TRADER)
    pid = await funded_portfolio(bot.services, user)

    offer = await bot.ask(chat_id, "/buy 0.1 BTC")
    assert offer.text.splitlines()[:4] == [
        "Confirm this paper order?",
        "BUY 0.1 BTC/USDT at market",
        "≈ 10.00 USDT (last close 100 USDT)",
        "portfolio main",
    ]
    (confirm_label, confirm), (cancel_label, cancel) = offer.buttons
    assert (confirm_label, cancel_label, cancel) == ("Confirm", "Cancel", CANCEL)
    assert await _orders(bot, pid) == []  # nothing before Confirm

    summary_id = _message_id(bot, offer.text, chat_id)
    placed = await bot.press(chat_id, summary_id, confirm)
    assert placed.method == "editMessageText" and placed.buttons == []
    assert placed.text.startswith("Placed in main: BUY 0.1 BTC/USDT at market: filled, 0.1 at 100 USDT")
    again = await bot.press(chat_id, summary_id, confirm)
    assert again.text.startswith("Already done, nothing more placed: BUY 0.1 BTC/USDT at market: filled")
    assert await _orders(bot, pid) == [("buy", "0.1", OrderStatus.FILLED)]
    cid = client_order_id(paper_account(pid), f"telegram-{chat_id}-{summary_id}", "entry")
    stored = await bot.services.orders.get(cid)
    assert stored is not None and stored.request.reason == f"placed through Telegram by {user.email}"

    sell = await bot.ask(chat_id, "/sell 0.05 BTC")
    cancelled = await bot.press(chat_id, _message_id(bot, sell.text, chat_id), CANCEL)
    assert cancelled.text == "Cancelled, nothing placed."
    late_offer = await bot.ask(chat_id, "/buy BTC 0.1 limit 95")
    assert "BUY 0.1 BTC/USDT limit 95 USDT" in late_offer.text
    late_id = _message_id(bot, late_offer.text, chat_id)
    late = await bot.press(chat_id, late_id, late_offer.buttons[0][1], date=int(time.time()) - 3600)
    assert late.text.startswith("Expired (") and late.text.endswith("nothing placed: send the order again.")
    forged = await bot.press(chat_id, late_id, "o|b|m|q|abc|BTC/USDT||x")
    assert forged.text == "Not done: this button does not hold an order: send the order again"
    assert await _orders(bot, pid) == [("buy", "0.1", OrderStatus.FILLED)]

    limit = await bot.ask(chat_id, "/buy BTC 0.1 limit 95")
    rested = await bot.press(chat_id, _message_id(bot, limit.text, chat_id), limit.buttons[0][1])
    assert rested.text.startswith("Placed in main: BUY 0.1 BTC/USDT limit 95 USDT: open")
    too_big = await bot.ask(chat_id, "/buy 100 BTC")
    refused = await bot.press(chat_id, _message_id(bot, too_big.text, chat_id), too_big.buttons[0][1])
    assert refused.text.startswith("Refused: ") and "BUY 100 BTC/USDT at market" in refused.text
    statuses = [s for _, _, s in await _orders(bot, pid)]
    assert statuses == [OrderStatus.FILLED, OrderStatus.OPEN, OrderStatus.REJECTED]
    assert "BUY 0.1 BTC/USDT at market: filled" in (await bot.ask(chat_id, "/orders")).text
    positions = (await bot.ask(chat_id, "/positions")).text
    assert positions == "BTC/USDT 0.1 @ 100 USDT, last 100 USDT, P&L 0.00 USDT (main)"

    _, viewer_chat = await bot.linked(Role.VIEWER)
    denied = await bot.ask(viewer_chat, "/buy 0.1 BTC")
    assert denied.text == "Your role viewer cannot place orders." and denied.buttons == []


def _message_id(bot: Harness, text: str, chat_id: int) -> int:
    """The id the local server gave the bot's last message to ``chat_id`` with ``text``."""
    sent = [c for c in bot.tg.calls if c.method == "sendMessage" and c.chat_id == chat_id and c.text == text]
    assert sent, text
    return sent[-1].message_id


async def test_free_text_orders_go_through_the_parser_and_the_same_confirmation(bot: Harness) -> None:
    """Bad input: text the parser cannot read, an order without an amount, leverage, a sell of what is not held."""
    await store_closes(bot.services, "BTC/USDT", [100.0] * 3)
    await store_closes(bot.services, "ETH/USDT", [10.0] * 3)
    user, chat_id = await bot.linked(Role.TRADER)
    pid = await funded_portfolio(bot.services, user)

    offer = await bot.ask(chat_id, "please buy 0.2 bitcoin at market")
    assert offer.text.splitlines()[1] == "BUY 0.2 BTC/USDT at market"
    placed = await bot.press(chat_id, _message_id(bot, offer.text, chat_id), offer.buttons[0][1])
    assert placed.text.startswith("Placed in main: BUY 0.2 BTC/USDT at market: filled")
    half = await bot.ask(chat_id, "sell half my BTC")
    assert half.text.splitlines()[1] == "SELL 0.1 BTC/USDT at market"
    assert (await bot.ask(chat_id, "sell all my eth")).text == "Not done: you hold no ETH in portfolio main"
    spend = await bot.ask(chat_id, "buy 50 usdt of eth")
    assert spend.text.splitlines()[1:3] == [
        "BUY 50 USDT of ETH/USDT at market",
        "≈ 50.00 USDT (last close 10 USDT)",
    ]
    bought = await bot.press(chat_id, _message_id(bot, spend.text, chat_id), spend.buttons[0][1])
    assert bought.text.startswith("Placed in main: BUY 50 USDT of ETH/USDT at market: filled")

    blurb = await bot.ask(chat_id, "blorp the frobnicator")
    assert blurb.text.startswith('I did not understand "blorp the frobnicator". Try "buy 0.1 BTC at market"')
    assert (await bot.ask(chat_id, "buy btc")).text == "How much BTC do you want to buy?"
    assert "without leverage" in (await bot.ask(chat_id, "long 0.5 eth 10x")).text
    assert (await bot.ask(chat_id, "sell all my doge")).buttons == []
    assert (await bot.ask(chat_id, "/sell")).text.startswith("Not done: What should I sell?")
    price = await bot.ask(chat_id, "price of btc")
    assert price.text.startswith("BTC/USDT: 100 USDT (close of the 1h bar of ")
    assert [s for _, _, s in await _orders(bot, pid)] == [OrderStatus.FILLED, OrderStatus.FILLED]


async def test_approve_decides_a_proposed_order_and_stop_pauses_running_bots(bot: Harness) -> None:
    """Bad input: an approval decided twice, /stop cancelled, a viewer asking to stop bots."""
    services = bot.services
    await store_closes(services, "BTC/USDT", [100.0] * 3)
    user, chat_id = await bot.linked(Role.TRADER)
    pid = await funded_portfolio(services, user)
    now = datetime.now(UTC)
    config = BotConfig.new(
        user.id, "swing", "sma_cross", "BTC/USDT", "500", account=paper_account(pid), approval=True, now=now
    )
    config = await services.bots.create(config)
    request = OrderRequest(
        "tsb-approval-1", paper_account(pid), "BTC/USDT", OrderSide.BUY, OrderType.MARKET, Decimal("0.1")
    )
    approval = await services.bots.propose(
        BotApproval.new(user.id, request, approval_summary("swing", request), now=now, bot_id=config.id)
    )

    header, item = await bot.send(chat_id, "/approve", count=2)
    assert header.text == "1 order(s) wait for your decision:"
    assert item.text.startswith("bot swing: swing wants to BUY 0.1 BTC/USDT at market")
    assert [label for label, _ in item.buttons] == ["Approve", "Reject"]
    item_id = _message_id(bot, item.text, chat_id)
    decided = await bot.press(chat_id, item_id, item.buttons[0][1])
    assert decided.text.startswith("Approved: swing wants to BUY 0.1 BTC/USDT") and decided.text.endswith(
        "the bot sends it."
    )
    stored = await services.bots.get_approval(approval.id, user.id)
    assert stored.status is ApprovalStatus.APPROVED and stored.decided_by == user.email
    twice = await bot.press(chat_id, item_id, item.buttons[1][1])
    assert twice.text.startswith(f"Not done: approval {approval.id} was already approved")
    assert (await services.bots.events(config.id, limit=1))[0].kind == "approval"
    assert (await bot.ask(chat_id, "/approve")).text == "No order waits for your approval."

    ask = await bot.ask(chat_id, "/stop")
    assert ask.text.startswith("Pause your running bots (swing)?")
    no = await bot.press(chat_id, _message_id(bot, ask.text, chat_id), ask.buttons[1][1])
    assert no.text == "Cancelled, no bot paused."
    assert (await services.bots.get(config.id)).status is BotStatus.RUNNING
    ask = await bot.ask(chat_id, "/stop")
    yes = await bot.press(chat_id, _message_id(bot, ask.text, chat_id), ask.buttons[0][1])
    assert yes.text == "Paused: swing. Resume them in tsbot → Bots."
    assert (await services.bots.get(config.id)).status is BotStatus.PAUSED
    assert (await bot.ask(chat_id, "/stop")).text == "No bot of yours is running."

    _, viewer_chat = await bot.linked(Role.VIEWER)
    assert (await bot.ask(viewer_chat, "/stop")).text == "Your role viewer cannot manage bots and approvals."
