"""Provider channel posts and the webhook route, against a local Bot API server, on SQLite and PostgreSQL.

Bad input tried: a post of a channel nobody follows, a post that is no signal, the same post delivered twice, a
forged webhook (no secret header, a wrong secret, a body that is not JSON, JSON that is not an update), an update
to a stopped bot, a webhook router without a secret, the bot built without a token.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import httpx
import pytest
from tests.integration.bot.conftest import CHANNEL, PROVIDER, Harness, bot_settings, new_user
from tests.support.fake_telegram import FakeTelegram

from tsbot.accounts.models import Identity
from tsbot.accounts.telegram_link import TelegramLinkService
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.telegram_links import SqlTelegramLinkStore
from tsbot.apps.api.app import create_app
from tsbot.apps.bot.runner import SECRET_HEADER, WEBHOOK_PATH, build_application, running_bot, webhook_router
from tsbot.config import load_settings
from tsbot.core.errors import ConfigError, TemporaryError
from tsbot.intake.tracking import SignalStatus
from tsbot.wiring import Services

SIGNAL_POST = "#BTC/USDT LONG\nEntry: 60000 - 61000\nTargets: 62000, 63000, 64000\nStop: 58000\nLeverage: 10x"


async def test_a_followed_channel_post_is_tracked_and_other_channels_are_ignored(bot: Harness) -> None:
    """Bad input: a post of a channel not followed, a chatty post, the same post twice."""
    store = bot.services.tracked_signals
    bot.tg.channel_post(-1001234, CHANNEL.lstrip("@"), SIGNAL_POST, message_id=7)
    bot.tg.channel_post(-1009999, "someone_else", SIGNAL_POST, message_id=7)
    bot.tg.channel_post(
        -1001234, CHANNEL.lstrip("@"), "Good morning everyone, markets are calm.", message_id=8
    )
    bot.tg.channel_post(-1001234, CHANNEL.lstrip("@"), SIGNAL_POST, message_id=7)
    await bot.settle()

    tracked = await store.find(PROVIDER, "-1001234:7")
    assert tracked is not None and tracked.status is SignalStatus.PENDING
    assert tracked.symbol == "BTC/USDT" and tracked.intent.entry == (Decimal("60000"), Decimal("61000"))
    assert tracked.stop == Decimal("58000") and len(tracked.intent.targets) == 3
    every = [s for status in SignalStatus for s in await store.by_status(status)]
    assert [(s.provider, s.post_id) for s in every] == [(PROVIDER, "-1001234:7")]
    assert all(c.method not in ("sendMessage", "editMessageText") or c.chat_id > 0 for c in bot.tg.calls)


async def test_a_follow_up_post_moves_the_providers_signal(bot: Harness) -> None:
    bot.tg.channel_post(-1001234, CHANNEL.lstrip("@"), SIGNAL_POST, message_id=1)
    bot.tg.channel_post(-1001234, CHANNEL.lstrip("@"), "BTC/USDT Take-Profit target 1 ✅", message_id=2)
    await bot.settle()
    tracked = await bot.services.tracked_signals.find(PROVIDER, "-1001234:1")
    assert tracked is not None and tracked.status is SignalStatus.ENTERED and tracked.targets_hit == 1


def _update(update_id: int, chat_id: int, text: str) -> dict[str, object]:
    entities = (
        [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
    )
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_800_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Mallory"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Mallory", "username": "mallory"},
            "text": text,
            "entities": entities,
        },
    }


async def test_a_forged_webhook_is_refused_and_changes_nothing(
    services: Services, telegram: FakeTelegram
) -> None:
    """Bad input: no secret header, a wrong secret, a body that is not JSON, JSON that is not an update."""
    secret = "s3cret-for_the-webhook"
    configured = bot_settings(services, telegram.url, mode="webhook", webhook_secret=secret)
    application = build_application(configured)
    assert application.updater is None
    user = await new_user(configured)
    issued = await TelegramLinkService(
        SqlTelegramLinkStore(configured.db), SqlUserStore(configured.db)
    ).connect(Identity(user, user.permissions))
    app = create_app(configured, routers=[webhook_router(application, secret)])
    transport = httpx.ASGITransport(app=app)
    chat_id = 5553001
    links = SqlTelegramLinkStore(configured.db)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        async with running_bot(configured, application=application):
            forged = _update(1, chat_id, f"/start {issued.code}")
            bad_headers: list[dict[str, str]] = [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: secret + "x"}]
            for headers in bad_headers:
                answer = await client.post(WEBHOOK_PATH, json=forged, headers=headers)
                assert answer.status_code == 403, answer.text
            good = {SECRET_HEADER: secret}
            not_json = await client.post(WEBHOOK_PATH, content=b"{not json", headers=good)
            assert not_json.status_code == 422
            bodies = (
                [1, 2],
                {"message": {"text": "/start x"}},
                {"update_id": "7"},
                {"update_id": True},
                {"update_id": 9, "message": "x"},
            )
            for body in bodies:
                assert (await client.post(WEBHOOK_PATH, json=body, headers=good)).status_code == 422, body
            assert await links.by_chat(chat_id) is None
            assert telegram.answers(chat_id) == []

            since = telegram.mark()
            accepted = await client.post(WEBHOOK_PATH, json=forged, headers=good)
            assert accepted.status_code == 200
            (linked,) = await telegram.replies(chat_id, since)
            assert linked.text.startswith(f"Linked: this chat now belongs to {user.email}")
            assert (await links.by_chat(chat_id)) is not None
            assert not [c for c in telegram.calls if c.method in ("getUpdates", "deleteWebhook")]
            schema = (await client.get("/api/v1/openapi.json")).json()
            assert WEBHOOK_PATH not in schema["paths"]
        late = await client.post(WEBHOOK_PATH, json=_update(2, chat_id, "/help"), headers=good)
        assert late.status_code == 503


async def test_a_webhook_needs_a_secret_and_the_bot_needs_a_token(
    services: Services, telegram: FakeTelegram
) -> None:
    """Bad input: a webhook router without a secret; no bot token; polling asked of a webhook-mode bot."""
    application = build_application(bot_settings(services, telegram.url, mode="webhook"))
    for secret in (None, ""):
        with pytest.raises(ConfigError, match="webhook_secret"):
            webhook_router(application, secret)
    settings = load_settings(database_url=services.settings.database_url, data_dir=services.settings.data_dir)
    with pytest.raises(ConfigError, match="TSBOT_TELEGRAM__BOT_TOKEN"):
        build_application(dataclasses.replace(services, settings=settings))
    with pytest.raises(ConfigError, match="cannot poll"):
        async with running_bot(services, application=application, polling=True):
            pass
    assert telegram.calls == []


async def test_a_refused_token_or_an_unreachable_bot_api_is_a_clear_error(
    services: Services, telegram: FakeTelegram
) -> None:
    """Bad input: a token the Bot API refuses (401), a Bot API address nobody listens on."""
    refused = bot_settings(services, telegram.url, bot_token="999:not-the-token")
    with pytest.raises(ConfigError, match="Telegram refused the bot token") as caught:
        async with running_bot(refused):
            pass
    assert "not-the-token" not in str(caught.value)
    nobody = FakeTelegram()
    nobody.close()
    with pytest.raises(TemporaryError, match="cannot be reached"):
        async with running_bot(bot_settings(services, nobody.url)):
            pass
