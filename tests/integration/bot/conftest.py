"""The Telegram bot against a local Bot API server (:mod:`tests.support.fake_telegram`), over the test's database
(SQLite and PostgreSQL): the real python-telegram-bot application, long polling, its base URL pointed at the
server. Helpers create linked users, stored candles, a funded paper portfolio and stored signals."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tests.support.fake_telegram import TOKEN, Call, FakeTelegram

from tsbot.accounts.messaging_ports import TelegramLink
from tsbot.accounts.models import OPERATOR, Role, User
from tsbot.accounts.telegram_link import TelegramLinkService
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.telegram_links import SqlTelegramLinkStore
from tsbot.apps.bot.runner import running_bot
from tsbot.apps.desk import open_desk
from tsbot.config import load_settings
from tsbot.market.models import CandleFrame, SeriesKey, Timeframe
from tsbot.wiring import Services

#: The followed provider channel of the tests and its provider name.
CHANNEL = "@alpha_signals"
PROVIDER = "Alpha Signals"


def bot_settings(services: Services, url: str, **telegram: Any) -> Services:
    """``services`` with the bot's settings: the test token, the local server, :data:`CHANNEL` followed."""
    base = services.settings
    section = {
        "bot_token": TOKEN,
        "bot_username": "tsbot_test_bot",
        "api_base_url": url,
        "followed_channels": {CHANNEL: PROVIDER},
        **telegram,
    }
    settings = load_settings(database_url=base.database_url, data_dir=base.data_dir, telegram=section)
    return dataclasses.replace(services, settings=settings)


async def store_closes(services: Services, symbol: str, closes: Sequence[float]) -> None:
    """Hourly ``symbol`` bars on binance closing at ``closes`` (high +1 %, low -1 %), the last one opening at the
    current hour."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t0 = int((hour - timedelta(hours=len(closes) - 1)).timestamp() * 1000)
    rows = [(t0 + i * Timeframe.H1.ms, c, c * 1.01, c * 0.99, c, 10.0) for i, c in enumerate(closes)]
    await services.candles.upsert(
        SeriesKey("binance", symbol, Timeframe.H1), "crypto", CandleFrame.from_rows(rows)
    )


async def new_user(services: Services, role: Role = Role.TRADER) -> User:
    """A new user with ``role``."""
    email = f"{role.value}-{secrets.token_hex(4)}@example.com"
    return await services.accounts().create_user(OPERATOR, email, "correct horse battery staple 42", role)


async def funded_portfolio(services: Services, user: User, usdt: str = "1000", name: str = "main") -> str:
    """A new portfolio of ``user`` (base USDT) whose paper account holds ``usdt`` USDT; its id."""
    info = await services.portfolios.create(user.id, name, "USDT")
    desk = await open_desk(services, info)
    await desk.deposit("USDT", Decimal(usdt))
    return info.id


@dataclass
class Harness:
    """The running bot, the local Bot API server and the services the bot uses."""

    tg: FakeTelegram
    services: Services
    chat_ids: Iterator[int]

    def links(self) -> SqlTelegramLinkStore:
        """The Telegram link store of the bot's database."""
        return SqlTelegramLinkStore(self.services.db)

    def services_linking(self) -> TelegramLinkService:
        """The link service (codes) over the bot's database."""
        return TelegramLinkService(self.links(), SqlUserStore(self.services.db))

    async def linked(self, role: Role = Role.TRADER) -> tuple[User, int]:
        """A new user with ``role`` whose private chat (a new chat id) is linked."""
        user = await new_user(self.services, role)
        chat_id = next(self.chat_ids)
        await self.links().save(TelegramLink(user.id, chat_id, "ann_t", datetime.now(UTC)))
        return user, chat_id

    async def send(self, chat_id: int, text: str, count: int = 1) -> list[Call]:
        """Send ``text`` from ``chat_id``; the bot's first ``count`` answers to it."""
        since = self.tg.mark()
        self.tg.text(chat_id, text)
        return await self.tg.replies(chat_id, since, count)

    async def ask(self, chat_id: int, text: str) -> Call:
        """Send ``text`` from ``chat_id``; the bot's answer."""
        return (await self.send(chat_id, text))[0]

    async def press(self, chat_id: int, message_id: int, data: str, *, date: int | None = None) -> Call:
        """Press the button with ``data`` on the bot's message ``message_id``; the bot's answer (an edit)."""
        since = self.tg.mark()
        self.tg.press(chat_id, message_id, data, date=date)
        return (await self.tg.replies(chat_id, since))[0]

    async def settle(self) -> None:
        """Wait until the bot handled every update queued so far (it handles them in order: an answered /help of
        a fresh linked chat comes after them)."""
        _, chat_id = await self.linked(Role.VIEWER)
        await self.ask(chat_id, "/help")


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    server = FakeTelegram()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def bot(services: Services, telegram: FakeTelegram) -> AsyncIterator[Harness]:
    """The bot polling the local server over the test's database."""
    configured = bot_settings(services, telegram.url)
    async with running_bot(configured):
        yield Harness(telegram, configured, iter(range(700_000_001, 800_000_000)))
