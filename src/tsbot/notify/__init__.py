"""Notifications: signal changes, executed trades, price alerts, approvals and system notices, sent to users on
Telegram, email, Slack and in the app, through an outbox in the database.

* :mod:`tsbot.notify.models`: types, channels, delivery states, requests and stored records;
* :mod:`tsbot.notify.preferences`: the preference keys, defaults and which channels a notification goes to;
* :mod:`tsbot.notify.templates`: plain-text title and body per type;
* :mod:`tsbot.notify.policy`: request checks, backoff, error classification;
* :mod:`tsbot.notify.service`: :class:`~tsbot.notify.service.NotificationService` (enqueue, dispatch);
* :mod:`tsbot.notify.inbox`: :class:`~tsbot.notify.inbox.NotificationInbox` (a user's in-app list, read marks,
  delivery history);
* :mod:`tsbot.notify.ports`: the store, directory and notifier ports.

Build a service with :meth:`tsbot.wiring.Services.notifications`.
"""
