"""The channel adapters against the local servers, one call at a time.

Bad input tried: a Slack webhook that was removed (404 no_service), one that rate-limits (429 with Retry-After), one
that fails (500), one nobody listens on, a delivery with no webhook at all; an SMTP server that refuses for now (451);
a Telegram delivery whose target is not a chat id.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.integration.notify.conftest import SENDER, Answer, HttpStandIn, SmtpInbox, free_port

from tsbot.accounts.telegram_link import TelegramRefusedError
from tsbot.adapters.email.smtp import EmailUnavailableError, SmtpMailer
from tsbot.adapters.notifiers.email import FOOTER, EmailNotifier
from tsbot.adapters.notifiers.slack import SlackNotifier, SlackRefusedError, SlackUnavailableError, slack_text
from tsbot.adapters.notifiers.telegram import TelegramNotifier
from tsbot.adapters.telegram_api import TelegramBotApi
from tsbot.config import EmailConfig
from tsbot.notify.models import Channel, NotificationType, OutgoingMessage

SECRET_PATH = "/services/T000/B000/very-secret-part"


def _message(channel: Channel, target: str | None, **kw: object) -> OutgoingMessage:
    base: dict[str, object] = {
        "delivery_key": f"3f6c2a4e-0000-4000-8000-000000000001.{channel.value}",
        "channel": channel,
        "target": target,
        "user_id": "u1",
        "notification_id": "3f6c2a4e-0000-4000-8000-000000000001",
        "type": NotificationType.SYSTEM,
        "title": "Exchange *down* <!channel>",
        "body": "binance answers 503 & more",
        "data": {},
        "created_at": datetime(2024, 1, 1, tzinfo=UTC),
    }
    return OutgoingMessage(**(base | kw))  # type: ignore[arg-type]


async def test_slack_gets_escaped_text_and_errors_are_sorted(slack: HttpStandIn) -> None:
    notifier = SlackNotifier(timeout_s=3)
    url = f"{slack.url}{SECRET_PATH}"
    await notifier.send(_message(Channel.SLACK, url))
    assert slack.seen[-1].path == SECRET_PATH
    assert slack.seen[-1].body == {"text": "*Exchange down &lt;!channel&gt;*\nbinance answers 503 &amp; more"}

    slack.script.append(Answer(404, "no_service"))  # bad input: the webhook was removed
    with pytest.raises(SlackRefusedError, match="HTTP 404.*no_service") as refused:
        await notifier.send(_message(Channel.SLACK, url))
    assert refused.value.status == 404 and "very-secret-part" not in str(refused.value)
    slack.script.append(Answer(429, "rate_limited", {"Retry-After": "7"}))
    with pytest.raises(SlackUnavailableError) as limited:
        await notifier.send(_message(Channel.SLACK, url))
    assert limited.value.retry_after_s == 7
    slack.script.append(Answer(500, "rollup_error"))
    with pytest.raises(SlackUnavailableError, match="HTTP 500"):
        await notifier.send(_message(Channel.SLACK, url))
    with pytest.raises(SlackUnavailableError, match="could not be reached") as down:
        await notifier.send(_message(Channel.SLACK, f"http://127.0.0.1:{free_port()}{SECRET_PATH}"))
    assert "very-secret-part" not in str(down.value)
    with pytest.raises(SlackRefusedError, match="no Slack webhook"):
        await notifier.send(_message(Channel.SLACK, None))
    operator = SlackNotifier(f"{slack.url}/operator", timeout_s=3)
    await operator.send(_message(Channel.SLACK, None))
    assert slack.seen[-1].path == "/operator" and "operator" not in repr(operator)


def test_slack_text_is_cut_to_slacks_limit() -> None:
    text = slack_text("t", "x" * 50_000)
    assert len(text) == 39_000 and text.endswith("…")


async def test_email_carries_a_stable_message_id_and_says_auto_generated(smtp: SmtpInbox) -> None:
    mailer = SmtpMailer(EmailConfig(host="127.0.0.1", port=smtp.port, sender=SENDER, timeout_s=3))
    notifier = EmailNotifier(mailer)
    message = _message(Channel.EMAIL, "ann@example.com")
    smtp.refuse_address["ann@example.com"] = "451 4.3.0 try again later"  # bad input: refused for now
    with pytest.raises(EmailUnavailableError, match="451"):
        await notifier.send(message)
    smtp.refuse_address.clear()
    await notifier.send(message)
    await notifier.send(message)  # a retry after a lost result: the same message again
    first, second = smtp.messages
    assert first["Message-ID"] == second["Message-ID"] == f"<{message.delivery_key}@tsbot.test>"
    assert first["Auto-Submitted"] == "auto-generated" and first["Subject"] == message.title
    body = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert body.replace("\r\n", "\n") == f"binance answers 503 & more\n\n{FOOTER}\n"


async def test_telegram_needs_a_chat_id(bot_api: HttpStandIn) -> None:
    notifier = TelegramNotifier(TelegramBotApi("123:abc", base_url=bot_api.url, timeout_s=3))
    with pytest.raises(
        TelegramRefusedError, match="no Telegram chat id"
    ):  # bad input: a target that is no id
        await notifier.send(_message(Channel.TELEGRAM, "@ann"))
    await notifier.send(_message(Channel.TELEGRAM, "-1001234"))
    assert bot_api.seen[-1].body["chat_id"] == -1001234
    assert bot_api.seen[-1].body["text"] == "Exchange *down* <!channel>\n\nbinance answers 503 & more"
