"""Which channels a notification goes to: the user's preferences, the defaults, and what can be reached.

Preference keys (in ``Preferences.notifications`` of the user's account, set through ``/api/v1/me``):

====================================  ===========================================================================
key                                   meaning
====================================  ===========================================================================
``<type>.<channel>``                  on/off for one type on one channel, e.g. ``"price_alert.email": true``
``<channel>``                         on/off for every type on one channel, e.g. ``"email": false``
``slack_webhook_url``                 the user's own Slack incoming webhook (``https://hooks.slack.com/...``)
====================================  ===========================================================================

Types: ``signal_changed``, ``trade_executed``, ``price_alert``, ``approval_needed``, ``system``; channels:
``in_app``, ``telegram``, ``email``, ``slack``. A more specific key wins: ``<type>.<channel>`` over ``<channel>``
over the default. Switch values are true/false; numbers (0 is off) and the words ``on/off``, ``yes/no``,
``true/false``, ``1/0`` are read too; anything else is ignored (the default applies).

Defaults (:data:`DEFAULT_ON`): in-app on for everything; Telegram on for everything (when a chat is linked); email on
for ``price_alert``, ``approval_needed`` and ``system``; Slack on for everything when the user set their own webhook.
The operator's Slack webhook (``notify.slack_webhook_url``) is a shared channel: a user's notifications go there
only when they switch Slack on themselves (``"slack": true`` or ``"<type>.slack": true``).

A channel that cannot be reached is skipped (:class:`ChannelPlan` says why), never a failing delivery: no linked
Telegram chat or no bot configured, no confirmed email address or email off, no usable Slack webhook (the user's
own must start with one of the allowed prefixes, by default ``https://hooks.slack.com/``, so that a user cannot
point the server at an internal address).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from tsbot.notify.models import Channel, NotificationType, Recipient

#: The preference key of the user's own Slack incoming webhook URL.
SLACK_WEBHOOK_KEY: Final = "slack_webhook_url"
#: The prefixes a user's own Slack webhook URL may start with, unless configured otherwise.
DEFAULT_SLACK_PREFIXES: Final = ("https://hooks.slack.com/",)

_ALL: Final = frozenset(NotificationType)
#: Types each channel is on for by default (when the channel can be reached; Slack only with the user's webhook).
DEFAULT_ON: Final[Mapping[Channel, frozenset[NotificationType]]] = {
    Channel.IN_APP: _ALL,
    Channel.TELEGRAM: _ALL,
    Channel.EMAIL: frozenset(
        {NotificationType.PRICE_ALERT, NotificationType.APPROVAL_NEEDED, NotificationType.SYSTEM}
    ),
    Channel.SLACK: _ALL,
}
_TRUE: Final = frozenset({"true", "on", "yes", "1"})
_FALSE: Final = frozenset({"false", "off", "no", "0"})


def switch_key(type_: NotificationType, channel: Channel) -> str:
    """The preference key of one type on one channel: ``"<type>.<channel>"``."""
    return f"{NotificationType(type_).value}.{Channel(channel).value}"


def preference_keys() -> list[str]:
    """Every preference key notifications read: the per-type switches, the per-channel switches and
    :data:`SLACK_WEBHOOK_KEY`."""
    keys = [switch_key(t, c) for t in NotificationType for c in Channel]
    return [*keys, *(c.value for c in Channel), SLACK_WEBHOOK_KEY]


def parse_switch(value: object) -> bool | None:
    """A preference value as on/off: a bool as is, a number (0 is off), a word (``on``/``off``, ``yes``/``no``,
    ``true``/``false``, ``1``/``0``, any case); None for anything else (the default then applies)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


def wanted(
    preferences: Mapping[str, object], type_: NotificationType, channel: Channel, *, default: bool
) -> bool:
    """Whether the user wants ``type_`` on ``channel``: ``<type>.<channel>``, else ``<channel>``, else ``default``."""
    for key in (switch_key(type_, channel), Channel(channel).value):
        switch = parse_switch(preferences.get(key))
        if switch is not None:
            return switch
    return default


@dataclass(frozen=True, slots=True)
class SlackRules:
    """Where Slack notifications may go: whether the operator's webhook is configured, and the prefixes a user's
    own webhook URL must start with (empty: users' own webhooks are not used)."""

    operator_webhook: bool = False
    user_prefixes: tuple[str, ...] = DEFAULT_SLACK_PREFIXES

    def user_webhook(self, preferences: Mapping[str, object]) -> str | None:
        """The user's own webhook URL when set and allowed, else None."""
        url = preferences.get(SLACK_WEBHOOK_KEY)
        if not isinstance(url, str) or not url.strip():
            return None
        url = url.strip()
        if any(ch.isspace() for ch in url):
            return None
        return url if any(url.startswith(p) for p in self.user_prefixes if p) else None


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """One channel's decision for one notification.

    Attributes:
        channel: the channel.
        send: True when a delivery is written.
        target: the address to use when sent (see :class:`~tsbot.notify.models.NewDelivery`).
        reason: why it is not sent: ``"off"`` (the user's preference or the default), ``"unreachable: ..."``
            (no address, no link, not configured); None when sent.
    """

    channel: Channel
    send: bool
    target: str | None = None
    reason: str | None = None


def plan_channels(
    recipient: Recipient,
    type_: NotificationType,
    *,
    available: Collection[Channel],
    slack: SlackRules | None = None,
) -> list[ChannelPlan]:
    """The decision for each channel (in :class:`Channel` order) for a notification of ``type_`` to ``recipient``.

    Args:
        recipient: the user, their addresses and preferences.
        type_: the notification's type.
        available: the channels the server can send on (a notifier is configured for them).
        slack: where Slack may go (None: no operator webhook, the default user prefixes).
    """
    slack = slack or SlackRules()
    prefs = recipient.preferences
    plans = []
    for channel in Channel:
        target, unreachable, default = _address(recipient, channel, slack)
        if channel not in available:
            unreachable = f"unreachable: {channel.value} is not configured on this server"
        on = wanted(prefs, type_, channel, default=default and type_ in DEFAULT_ON[channel])
        if not on:
            plans.append(ChannelPlan(channel, False, None, "off"))
        elif unreachable is not None:
            plans.append(ChannelPlan(channel, False, None, unreachable))
        else:
            plans.append(ChannelPlan(channel, True, target, None))
    return plans


def _address(
    recipient: Recipient, channel: Channel, slack: SlackRules
) -> tuple[str | None, str | None, bool]:
    """(target, why unreachable or None, whether the channel's defaults apply) of one channel."""
    if channel is Channel.IN_APP:
        return None, None, True
    if channel is Channel.EMAIL:
        if recipient.email:
            return recipient.email, None, True
        return None, "unreachable: no confirmed email address", True
    if channel is Channel.TELEGRAM:
        if recipient.telegram_chat_id is not None:
            return str(recipient.telegram_chat_id), None, True
        return None, "unreachable: no Telegram chat linked", True
    own = slack.user_webhook(recipient.preferences)
    if own is not None:
        return own, None, True
    if slack.operator_webhook:
        return None, None, False  # the shared channel: only when the user switches Slack on
    if recipient.preferences.get(SLACK_WEBHOOK_KEY):
        return None, "unreachable: the Slack webhook URL is not an allowed Slack address", False
    return None, "unreachable: no Slack webhook URL set", False
