"""Channel choice: defaults, per-type and per-channel switches, and channels that cannot be reached (bad input:
switch values of the wrong kind, a Slack webhook pointing at an internal address, no Telegram link, no address)."""

from __future__ import annotations

import pytest

from tsbot.notify.models import Channel, NotificationType, Recipient
from tsbot.notify.preferences import (
    SLACK_WEBHOOK_KEY,
    SlackRules,
    parse_switch,
    plan_channels,
    preference_keys,
    switch_key,
)

ALL = frozenset(Channel)
HOOK = "https://hooks.slack.com/services/T0/B0/secret"


def _sent(recipient: Recipient, type_: NotificationType, **kw: object) -> dict[Channel, str | None]:
    plans = plan_channels(recipient, type_, available=kw.pop("available", ALL), **kw)  # type: ignore[arg-type]
    return {p.channel: p.target for p in plans if p.send}


def _reasons(recipient: Recipient, type_: NotificationType, **kw: object) -> dict[Channel, str | None]:
    plans = plan_channels(recipient, type_, available=kw.pop("available", ALL), **kw)  # type: ignore[arg-type]
    return {p.channel: p.reason for p in plans}


FULL = Recipient("u1", True, email="ann@example.com", telegram_chat_id=42)


def test_defaults_in_app_and_telegram_always_email_for_the_important_types() -> None:
    assert _sent(FULL, NotificationType.SIGNAL_CHANGED) == {Channel.IN_APP: None, Channel.TELEGRAM: "42"}
    assert _sent(FULL, NotificationType.PRICE_ALERT) == {
        Channel.IN_APP: None,
        Channel.TELEGRAM: "42",
        Channel.EMAIL: "ann@example.com",
    }
    assert _reasons(FULL, NotificationType.TRADE_EXECUTED)[Channel.EMAIL] == "off"


def test_unreachable_channels_are_skipped_with_a_reason() -> None:
    bare = Recipient("u2", True, preferences={"email": True, "telegram": True, "slack": True})
    reasons = _reasons(bare, NotificationType.SYSTEM)
    assert reasons[Channel.IN_APP] is None
    assert reasons[Channel.EMAIL] == "unreachable: no confirmed email address"
    assert reasons[Channel.TELEGRAM] == "unreachable: no Telegram chat linked"
    assert reasons[Channel.SLACK] == "unreachable: no Slack webhook URL set"
    not_configured = _reasons(FULL, NotificationType.SYSTEM, available={Channel.IN_APP})
    assert not_configured[Channel.TELEGRAM] == "unreachable: telegram is not configured on this server"


def test_type_switch_beats_channel_switch_beats_default() -> None:
    prefs = {"telegram": False, "signal_changed.telegram": True, "price_alert.email": "off", "in_app": 0}
    user = Recipient("u3", True, email="a@example.com", telegram_chat_id=7, preferences=prefs)
    assert _sent(user, NotificationType.SIGNAL_CHANGED) == {Channel.TELEGRAM: "7"}
    assert _sent(user, NotificationType.PRICE_ALERT) == {}
    assert _sent(user, NotificationType.SYSTEM) == {Channel.EMAIL: "a@example.com"}


def test_own_slack_webhook_is_on_by_default_when_its_address_is_allowed() -> None:
    user = Recipient("u4", True, preferences={SLACK_WEBHOOK_KEY: HOOK})
    assert _sent(user, NotificationType.TRADE_EXECUTED)[Channel.SLACK] == HOOK
    internal = Recipient("u5", True, preferences={SLACK_WEBHOOK_KEY: "http://127.0.0.1:6379/", "slack": True})
    # bad input: a webhook pointing at an internal service is never used
    assert _reasons(internal, NotificationType.SYSTEM)[Channel.SLACK] == (
        "unreachable: the Slack webhook URL is not an allowed Slack address"
    )
    allowed = SlackRules(user_prefixes=("http://127.0.0.1:6379/",))
    assert _sent(internal, NotificationType.SYSTEM, slack=allowed)[Channel.SLACK] == "http://127.0.0.1:6379/"


def test_the_operators_shared_slack_channel_is_opt_in() -> None:
    rules = SlackRules(operator_webhook=True)
    assert Channel.SLACK not in _sent(FULL, NotificationType.SYSTEM, slack=rules)
    opted = Recipient("u6", True, preferences={"slack": True})
    assert _sent(opted, NotificationType.SYSTEM, slack=rules)[Channel.SLACK] is None  # None: the operator's


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (0.0, False),
        ("ON", True),
        (" no ", False),
        ("maybe", None),
        (None, None),
        ([], None),
    ],
)
def test_switch_values(value: object, expected: bool | None) -> None:
    assert parse_switch(value) is expected  # bad input: words and numbers of any kind


def test_preference_keys_fit_the_account_validation() -> None:
    from tsbot.accounts.errors import AccountInputError
    from tsbot.accounts.validation import MAX_NOTIFICATION_KEYS, check_notifications

    keys = preference_keys()
    assert switch_key(NotificationType.PRICE_ALERT, Channel.EMAIL) in keys and SLACK_WEBHOOK_KEY in keys
    assert len(keys) <= MAX_NOTIFICATION_KEYS
    prefs = {k: True for k in keys if k != SLACK_WEBHOOK_KEY} | {SLACK_WEBHOOK_KEY: HOOK}
    assert check_notifications(prefs) == prefs
    with pytest.raises(AccountInputError, match="slack_webhook_url"):  # bad input: not an http(s) address
        check_notifications({SLACK_WEBHOOK_KEY: "javascript:alert(1)"})
