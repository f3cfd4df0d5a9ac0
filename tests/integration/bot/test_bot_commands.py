"""The Telegram bot's account and reading commands against a local Bot API server, on SQLite and PostgreSQL:
``/start CODE`` links a chat, ``/help``, ``/signal BTC``, ``/signals``, ``/alerts``, ``/portfolio``.

Bad input tried: a wrong link code, a code used twice, updates from an unlinked chat (every command, free text and a
button press), a command in a group chat, an unknown symbol, an unknown command, a deactivated account.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tests.integration.bot.conftest import Harness, funded_portfolio, new_user, store_closes
from tests.support.fake_telegram import TOKEN

from tsbot.accounts.models import OPERATOR, Identity, Role
from tsbot.adapters.storage.signal_queries import SignalFilter, SqlSignalQueries
from tsbot.adapters.storage.watch import SqlPriceAlertStore, SqlWatchlistStore
from tsbot.apps.bot.account import COMMANDS
from tsbot.apps.bot.context import INACTIVE, NOT_LINKED
from tsbot.core.enums import Action
from tsbot.market.models import SeriesKey, Timeframe
from tsbot.signals.alerts import AlertCondition, PriceAlert
from tsbot.signals.models import Components, Signal


async def test_start_code_links_the_chat_and_a_wrong_code_is_refused(bot: Harness) -> None:
    """Bad input: a wrong code, the same code again from another chat."""
    user = await new_user(bot.services)
    issued = await bot.services_linking().connect(Identity(user, user.permissions))
    chat_id, other = 5551001, 5551002

    wrong = await bot.ask(chat_id, "/start notTheRightCode_123")
    assert wrong.text.startswith("Not linked: this link code is not valid")
    assert await bot.links().by_chat(chat_id) is None

    linked = await bot.ask(chat_id, f"/start {issued.code}")
    assert linked.text == f"Linked: this chat now belongs to {user.email}. Send /help to see what I can do."
    link = await bot.links().by_chat(chat_id)
    assert link is not None and link.user_id == user.id and link.username == "ann_t"

    again = await bot.ask(other, f"/start {issued.code}")
    assert "used already" in again.text and await bot.links().by_chat(other) is None
    status = await bot.ask(chat_id, "/start")
    assert status.text == f"This chat is linked to {user.email}. Send /help for commands."


async def test_an_unlinked_chat_only_gets_the_link_hint(bot: Harness) -> None:
    """Bad input: every command, free text and a Confirm press from a chat no account linked; a group chat."""
    await store_closes(bot.services, "BTC/USDT", [100.0] * 3)
    chat_id = 5552001
    texts = [f"/{name}" for name, _ in COMMANDS] + ["/signal BTC", "/buy 0.1 BTC", "buy 0.1 btc", "/start"]
    for text in texts:
        answers = await bot.send(chat_id, text)
        assert [a.text for a in answers] == [NOT_LINKED], text
        assert answers[0].buttons == []
    since = bot.tg.mark()
    bot.tg.press(chat_id, 1, "o|b|m|q|0.1|BTC/USDT||abcdef123456")
    answers = await bot.tg.replies(chat_id, since)
    assert [a.text for a in answers] == [NOT_LINKED]
    assert [c.method for c in bot.tg.calls[since:]].count("answerCallbackQuery") == 1

    since = bot.tg.mark()
    bot.tg.push(bot.tg.message(-100777, "/portfolio", chat_type="group"))
    await bot.settle()
    assert bot.tg.answers(-100777, since) == []
    assert bot.tg.answers(chat_id, since) == []


async def test_help_lists_every_command_and_unknown_commands_point_to_it(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input: an unknown command, a button of no handler. The token never shows in httpx's log lines."""
    caplog.set_level(logging.INFO, logger="httpx")
    user, chat_id = await bot.linked(Role.VIEWER)
    text = (await bot.ask(chat_id, "/help")).text
    assert f"signed in as {user.email} (viewer)" in text
    for name, _ in COMMANDS:
        assert f"/{name}: " in text
    unknown = await bot.ask(chat_id, "/frobnicate now")
    assert unknown.text == "I do not know /frobnicate. /help lists the commands."
    stray = await bot.press(chat_id, 1, "zz|old-button")
    assert stray.text == "That button does nothing any more. /help lists the commands."
    commands = [c for c in bot.tg.calls if c.method == "setMyCommands"]
    assert [c["command"] for c in commands[0].params["commands"]] == [name for name, _ in COMMANDS]
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/bot***/sendMessage" in line for line in requests)
    assert not any(TOKEN in line for line in requests)


def _signal(
    symbol: str, action: Action, price: float, hours_ago: int = 0, timeframe: Timeframe = Timeframe.H1
) -> Signal:
    as_of = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    return Signal(
        key=SeriesKey("binance", symbol, timeframe),
        as_of=as_of,
        action=action,
        score=0.62 if action is Action.BUY else -0.4,
        confidence=0.714,
        price=price,
        stop_loss=62000.0 if action is Action.BUY else None,
        take_profit=[66000.0, 68000.5] if action is Action.BUY else [],
        components=Components(0.7, 0.2, None),
        reasons=[
            "RSI(14) at 28: oversold",
            "close above the 50-bar SMA",
            "news mildly positive",
            "fourth reason",
        ],
    )


async def test_signal_of_a_symbol_explained_and_signals_of_the_watchlist(bot: Harness) -> None:
    """Bad input: an unknown symbol, /signal without a symbol."""
    services = bot.services
    await store_closes(services, "BTC/USDT", [64000.0] * 3)
    await store_closes(services, "ETH/USDT", [3000.0] * 3)
    await services.signals.save([_signal("BTC/USDT", Action.SELL, 63000.0, hours_ago=5)])
    await services.signals.save(
        [_signal("BTC/USDT", Action.SELL, 63000.0, hours_ago=8, timeframe=Timeframe.H4)]
    )
    await services.signals.save(
        [_signal("BTC/USDT", Action.BUY, 64123.5), _signal("ETH/USDT", Action.SELL, 3000.0)]
    )
    stored, _ = await SqlSignalQueries(services.db).newest_per_series(SignalFilter())
    assert len(stored) == 3  # BTC/USDT 1h and 4h, ETH/USDT 1h
    user, chat_id = await bot.linked(Role.VIEWER)

    text = (await bot.ask(chat_id, "/signal btc")).text
    lines = text.splitlines()
    assert lines[0] == "BTC/USDT: BUY"
    assert "score +0.62 (-1 to +1), confidence 71%" in lines
    assert "price 64,123.5 USDT" in lines and "stop 62,000 USDT" in lines
    assert "targets 66,000 USDT, 68,000.5 USDT" in lines
    assert lines[-3:] == [
        "• RSI(14) at 28: oversold",
        "• close above the 50-bar SMA",
        "• news mildly positive",
    ]
    assert (await bot.ask(chat_id, "signal for BTCUSDT")).text == text  # free text, the same answer

    unknown = await bot.ask(chat_id, "/signal DOGE")
    assert unknown.text == "Not done: I know no symbol DOGE. Known: BTC/USDT, ETH/USDT."
    assert (await bot.ask(chat_id, "/signal")).text == "Which symbol? For example: /signal BTC"

    every = (await bot.ask(chat_id, "/signals")).text.splitlines()
    assert every[0].startswith("Your watchlist is empty")  # every stored symbol instead, the latest of each:
    assert every[1].startswith("BTC/USDT 1h binance: BUY") and every[2].startswith(
        "ETH/USDT 1h binance: SELL"
    )
    assert every[3:] == ["Details: /signal SYMBOL"]
    await SqlWatchlistStore(services.db).add(user.id, "ETH/USDT")
    mine = (await bot.ask(chat_id, "/signals")).text
    assert mine.startswith("ETH/USDT 1h binance: SELL score -0.40, conf 71%, 3,000 USDT")
    assert "BTC/USDT" not in mine


async def test_alerts_portfolio_and_a_deactivated_account(bot: Harness) -> None:
    """Bad input: a command from a linked chat whose account was deactivated."""
    services = bot.services
    await store_closes(services, "BTC/USDT", [100.0] * 3)
    user, chat_id = await bot.linked(Role.TRADER)
    assert (await bot.ask(chat_id, "/alerts")).text.startswith("You have no price alerts.")
    assert (await bot.ask(chat_id, "/portfolio")).text.startswith("You have no portfolio yet")
    now = datetime.now(UTC)
    await SqlPriceAlertStore(services.db).create(
        PriceAlert(
            "a1", user.id, "BTC/USDT", AlertCondition.ABOVE, Decimal("70000"), "breakout", False, True, now
        )
    )
    assert (await bot.ask(chat_id, "/alerts")).text == "BTC/USDT above 70,000 (active): breakout"

    await funded_portfolio(services, user, usdt="1234.5")
    text = (await bot.ask(chat_id, "/portfolio")).text
    assert text.splitlines()[:2] == ["main (paper, USDT)", "equity 1,234.50 USDT"]
    assert (await bot.ask(chat_id, "/positions")).text == "No open positions."
    assert (await bot.ask(chat_id, "/orders")).text == "No orders yet."

    await services.accounts().set_active(OPERATOR, user.id, False)
    assert (await bot.ask(chat_id, "/portfolio")).text == INACTIVE
