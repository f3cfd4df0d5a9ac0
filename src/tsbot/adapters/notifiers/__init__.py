"""The notification channels (:class:`~tsbot.notify.ports.Notifier`): email (SMTP), Telegram (Bot API), Slack
(incoming webhooks) and in-app (live events), built from settings by :func:`notifiers_from_settings`."""

from __future__ import annotations

from tsbot.adapters.email.smtp import SmtpMailer
from tsbot.adapters.events import EventPublisher
from tsbot.adapters.notifiers.email import EmailNotifier
from tsbot.adapters.notifiers.in_app import InAppNotifier
from tsbot.adapters.notifiers.slack import SlackNotifier
from tsbot.adapters.notifiers.telegram import TelegramNotifier
from tsbot.adapters.telegram_api import TelegramBotApi
from tsbot.config import Settings
from tsbot.notify.models import Channel
from tsbot.notify.ports import Notifier


def configured_channels(settings: Settings) -> frozenset[Channel]:
    """The channels ``settings`` can send on: in-app always, email when ``email.host`` is set, Telegram when
    ``telegram.bot_token`` is set, Slack always (a user's own webhook needs no configuration; without one and
    without ``notify.slack_webhook_url`` Slack is unreachable for that user)."""
    channels = {Channel.IN_APP, Channel.SLACK}
    if settings.email.host.strip():
        channels.add(Channel.EMAIL)
    if settings.telegram.bot_token is not None and settings.telegram.bot_token.get_secret_value():
        channels.add(Channel.TELEGRAM)
    return frozenset(channels)


def notifiers_from_settings(
    settings: Settings, events: EventPublisher | None = None
) -> dict[Channel, Notifier]:
    """One notifier per configured channel (see :func:`configured_channels`): email through ``settings.email``,
    Telegram through ``settings.telegram`` (``bot_token``, ``api_base_url``; ``settings.notify.timeout_s`` per
    call), Slack to ``settings.notify.slack_webhook_url`` or the user's own webhook (``notify.timeout_s``), in-app
    publishing on ``events`` when given.

    Raises:
        tsbot.core.errors.ConfigError: the Telegram bot token is malformed or the Bot API URL is not http(s).
    """
    channels = configured_channels(settings)
    notify = settings.notify
    default_slack = notify.slack_webhook_url.get_secret_value() if notify.slack_webhook_url else None
    notifiers: dict[Channel, Notifier] = {
        Channel.IN_APP: InAppNotifier(events),
        Channel.SLACK: SlackNotifier(default_slack, timeout_s=notify.timeout_s),
    }
    if Channel.EMAIL in channels:
        notifiers[Channel.EMAIL] = EmailNotifier(SmtpMailer(settings.email))
    token = settings.telegram.bot_token
    if Channel.TELEGRAM in channels and token is not None:
        api = TelegramBotApi(
            token.get_secret_value(), base_url=settings.telegram.api_base_url, timeout_s=notify.timeout_s
        )
        notifiers[Channel.TELEGRAM] = TelegramNotifier(api)
    return notifiers
