"""The notification outbox: :meth:`NotificationService.enqueue` writes notifications and their deliveries to the
database, :meth:`NotificationService.dispatch` (run by workers) sends what is due, with retries and backoff.

Flow::

    enqueue(requests) -> per request: recipient + preferences -> channels -> render title/body
                         (times in the recipient's time zone; the stored context keeps ISO UTC)
                         -> one notification row and one delivery row per channel (unique key
                         ``<notification id>.<channel>``), all requests' in one transaction; the same
                         (user, dedup_key) again creates nothing
    dispatch()        -> claim due deliveries under a lease -> send through the channel's Notifier
                         -> record the attempt -> sent | retry after a backoff (temporary error)
                         | failed (refused, or out of attempts)

Guarantees. Nothing is lost when a worker dies: the outbox is in the database, and a delivery whose worker died
mid-send is due again once its lease (``notify.lease_s``) runs out (recorded as an ``abandoned`` attempt). Delivery is
at least once at the wire level: a delivery claimed by a live worker is never claimed by another until its lease runs
out, so concurrent workers do not send it twice; but a worker that dies after the channel accepted the message and
before recording it leaves the message to be sent again (email carries a stable ``Message-ID`` derived from the
delivery key, so mail clients can recognise the repeat). Each call to a channel is cut off at 80 % of the lease, so a
live worker's result is recorded while it still holds the lease.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

import structlog

from tsbot.config import NotifyConfig
from tsbot.core.errors import DataError, TemporaryError
from tsbot.core.time import utc_now
from tsbot.notify.models import (
    AttemptOutcome,
    AttemptResult,
    Channel,
    ClaimedDelivery,
    DispatchSummary,
    NewDelivery,
    NewNotification,
    NotificationRequest,
)
from tsbot.notify.policy import Failure, check_now, check_request, classify, retry_delay_s
from tsbot.notify.ports import Notifier, OutboxStore, RecipientDirectory
from tsbot.notify.preferences import SlackRules, plan_channels
from tsbot.notify.templates import Templates

_log = structlog.get_logger("tsbot.notify")

#: Share of the lease one channel call may take before it is cut off (its result recorded as a temporary failure).
SEND_SHARE_OF_LEASE: Final = 0.8


class ChannelNotConfiguredError(TemporaryError):
    """A delivery's channel has no notifier on this server (its configuration was removed after the delivery was
    written): retried, so that restoring the configuration delivers it."""


def delivery_key(notification_id: str, channel: Channel) -> str:
    """The unique key of one channel's delivery of a notification: ``<notification id>.<channel>``."""
    return f"{notification_id}.{Channel(channel).value}"


def slack_rules(config: NotifyConfig) -> SlackRules:
    """Where Slack notifications may go under ``config``: the operator's webhook when set, users' own webhooks
    starting with ``config.slack_user_url_prefixes``."""
    return SlackRules(
        operator_webhook=config.slack_webhook_url is not None,
        user_prefixes=tuple(p for p in config.slack_user_url_prefixes if p),
    )


class NotificationService:
    """Enqueues notifications and dispatches their deliveries.

    Args:
        outbox: where notifications and deliveries are stored and claimed.
        directory: the recipients' addresses and preferences.
        notifiers: the notifier of each channel the server can send on; a channel left out is not configured
            (its deliveries are not written). In-app needs none: without one, its delivery is marked sent at once.
        config: ``settings.notify`` (attempts, backoff, lease, batch size, concurrency, Slack rules).
        templates: the templates (None: :data:`~tsbot.notify.templates.TEMPLATES`).
    """

    def __init__(
        self,
        outbox: OutboxStore,
        directory: RecipientDirectory,
        notifiers: Mapping[Channel, Notifier],
        config: NotifyConfig,
        *,
        templates: Templates | None = None,
    ) -> None:
        self._outbox = outbox
        self._directory = directory
        self._notifiers = dict(notifiers)
        self._config = config
        self._templates = templates or Templates()
        self._slack = slack_rules(config)

    @property
    def channels(self) -> frozenset[Channel]:
        """The channels this service can send on (in-app always)."""
        return frozenset({*self._notifiers, Channel.IN_APP})

    async def enqueue(self, requests: Sequence[NotificationRequest], *, now: datetime) -> int:
        """Store each request as a notification with one pending delivery per channel the user wants and can be
        reached on (due at ``now``); how many notifications are new.

        Idempotent: a request whose (user, dedup_key) is stored already creates nothing, so a retried job or two
        processes enqueueing the same event make one notification. Channels that cannot be reached (no linked
        Telegram chat, no confirmed email address, no Slack webhook, a channel not configured on this server) are
        skipped, not written as failing deliveries; a user who is unknown, deactivated, or wants none of the
        reachable channels gets nothing (logged as ``notify.skipped``). All are written in one transaction.

        Raises:
            DataError: ``now`` is naive, or a request is malformed (see
                :func:`~tsbot.notify.policy.check_request`); nothing is written then.
        """
        now = check_now(now)
        checked = [(request, check_request(request)) for request in requests]
        if not checked:
            return 0
        recipients = await self._directory.recipients({r.user_id for r, _ in checked}, now)
        items: list[tuple[NewNotification, list[NewDelivery]]] = []
        for request, context in checked:
            recipient = recipients.get(request.user_id)
            if recipient is None or not recipient.active:
                why = "unknown user" if recipient is None else "inactive user"
                _log.info("notify.skipped", user_id=request.user_id, type=request.type, reason=why)
                continue
            plans = [
                p
                for p in plan_channels(recipient, request.type, available=self.channels, slack=self._slack)
                if p.send
            ]
            if not plans:
                _log.info("notify.skipped", user_id=request.user_id, type=request.type, reason="no channel")
                continue
            rendered = self._templates.render(request.type, context, time_zone_name=recipient.time_zone)
            notification = NewNotification(
                id=str(uuid.uuid4()),
                user_id=request.user_id,
                type=request.type,
                dedup_key=request.dedup_key,
                title=rendered.title,
                body=rendered.body,
                data=context,
                created_at=now,
            )
            deliveries = [
                NewDelivery(delivery_key(notification.id, p.channel), p.channel, p.target, now) for p in plans
            ]
            items.append((notification, deliveries))
        stored = await self._outbox.add_many(items) if items else []
        for (notification, deliveries), new in zip(items, stored, strict=True):
            if new:
                _log.info(
                    "notify.enqueued",
                    notification_id=notification.id,
                    user_id=notification.user_id,
                    type=notification.type,
                    channels=[d.channel.value for d in deliveries],
                )
        return sum(stored)

    async def dispatch(self, *, now: datetime, limit: int | None = None) -> DispatchSummary:
        """Send the deliveries due at ``now``: at most ``limit`` (None: ``notify.batch_size``), claimed
        ``notify.concurrency`` at a time under a lease of ``notify.lease_s`` seconds and sent concurrently. In-app
        deliveries wait on no remote server: each round's are published and then settled together in one store call.

        Each attempt is recorded (start time, outcome, duration, error). A :class:`~tsbot.core.errors.TemporaryError`
        (and any unexpected error) schedules a retry after :func:`~tsbot.notify.policy.retry_delay_s`; after the
        ``notify.max_attempts``-th attempt, or on a refusal for good (any other tsbot error), the delivery fails.
        Times move on from ``now`` as the call runs (``now`` plus the time elapsed), so leases stay true.

        Raises:
            DataError: ``now`` is naive or ``limit`` is below 1.
            Errors of the outbox store (the database): results not recorded are sent again after the lease.
        """
        start_at, started = check_now(now), time.monotonic()
        limit = self._config.batch_size if limit is None else limit
        if limit < 1:
            raise DataError("limit must be at least 1")

        def clock() -> datetime:
            return start_at + timedelta(seconds=time.monotonic() - started)

        counts: Counter[str] = Counter()
        taken = 0
        while taken < limit:
            batch = await self._outbox.claim(
                now=clock(),
                limit=min(self._config.concurrency, limit - taken),
                lease_s=self._config.lease_s,
                max_attempts=self._config.max_attempts,
                claim_token=str(uuid.uuid4()),
            )
            counts["abandoned"] += batch.abandoned
            counts["gave_up"] += batch.gave_up
            taken += len(batch.claimed) + batch.gave_up
            if not batch.claimed:
                if batch.gave_up:
                    continue
                break
            counts["claimed"] += len(batch.claimed)
            quiet = [c for c in batch.claimed if self._quiet(c.message.channel)]
            loud = [c for c in batch.claimed if not self._quiet(c.message.channel)]
            results = await asyncio.gather(
                *(self._attempt(claimed, clock) for claimed in loud), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            for result in results:
                if not isinstance(result, BaseException):
                    outcome, applied = result
                    counts[outcome.value] += 1
                    counts["lost"] += not applied
            if quiet:
                for outcome, applied in await self._settle_quiet(quiet, clock):
                    counts[outcome.value] += 1
                    counts["lost"] += not applied
            if errors:
                raise errors[0]
        return DispatchSummary(
            claimed=counts["claimed"],
            sent=counts[AttemptOutcome.SENT.value],
            retried=counts[AttemptOutcome.RETRY.value],
            failed=counts[AttemptOutcome.FAILED.value] + counts["gave_up"],
            abandoned=counts["abandoned"],
            lost=counts["lost"],
        )

    @staticmethod
    def _quiet(channel: Channel) -> bool:
        """Whether a delivery on ``channel`` waits on nothing but the database: in-app (stored, and published to
        live connections when a notifier is set, which never waits on a remote server)."""
        return channel is Channel.IN_APP

    async def _settle_quiet(
        self, claimed: Sequence[ClaimedDelivery], clock: Callable[[], datetime]
    ) -> list[bool]:
        """Publish in-app deliveries and settle the ones published as sent, together in one store call (they were
        claimed under one token); a publish that failed is recorded on its own as :meth:`_attempt` records it.
        Each one's outcome and whether it was applied."""
        notifier = self._notifiers.get(Channel.IN_APP)
        at = clock()
        failed: dict[int, Failure] = {}
        if notifier is not None:
            cutoff_s = self._config.lease_s * SEND_SHARE_OF_LEASE
            for c in claimed:
                try:
                    async with asyncio.timeout(cutoff_s):
                        await notifier.send(c.message)
                except Exception as exc:  # noqa: BLE001 (recorded with the delivery, as _attempt does)
                    failed[c.delivery_id] = classify(exc)
        sent = [c for c in claimed if c.delivery_id not in failed]
        applied = dict(
            zip(
                [c.delivery_id for c in sent],
                await self._outbox.finish_sent(
                    claimed[0].claim_token, [(c.delivery_id, c.message.attempt) for c in sent], at
                ),
                strict=True,
            )
        )
        out = []
        for c in claimed:
            if c.delivery_id in failed:
                result = self._result(c.message.attempt, failed[c.delivery_id], at, 0, clock)
                applied[c.delivery_id] = await self._outbox.finish(c.delivery_id, c.claim_token, result)
                outcome, error = result.outcome, result.error
            else:
                outcome, error = AttemptOutcome.SENT, None
            out.append((outcome, applied[c.delivery_id]))
            log = _log.info if outcome is AttemptOutcome.SENT else _log.warning
            log(
                "notify.attempt",
                delivery=c.message.delivery_key,
                channel=c.message.channel.value,
                attempt=c.message.attempt,
                outcome=outcome.value,
                error=error,
                applied=applied[c.delivery_id],
            )
        return out

    async def _attempt(
        self, claimed: ClaimedDelivery, clock: Callable[[], datetime]
    ) -> tuple[AttemptOutcome, bool]:
        """Send one claimed delivery and record the attempt; its outcome and whether it was applied."""
        message = claimed.message
        started_at, t0 = clock(), time.monotonic()
        failure: Failure | None = None
        cutoff_s = self._config.lease_s * SEND_SHARE_OF_LEASE
        deadline = asyncio.timeout(cutoff_s)
        try:
            async with deadline:
                notifier = self._notifiers.get(message.channel)
                if notifier is not None:
                    await notifier.send(message)
                elif message.channel is not Channel.IN_APP:
                    raise ChannelNotConfiguredError(
                        f"{message.channel.value} is not configured on this server"
                    )
        except Exception as exc:  # noqa: BLE001 (every failure is recorded; see classify)
            if isinstance(exc, TimeoutError) and deadline.expired():
                failure = Failure(True, f"no result within {cutoff_s:g} s (the message may have gone out)")
            else:
                failure = classify(exc)
        duration_ms = int((time.monotonic() - t0) * 1000)
        result = self._result(message.attempt, failure, started_at, duration_ms, clock)
        applied = await self._outbox.finish(claimed.delivery_id, claimed.claim_token, result)
        log = _log.info if result.outcome is AttemptOutcome.SENT else _log.warning
        log(
            "notify.attempt",
            delivery=message.delivery_key,
            channel=message.channel.value,
            attempt=message.attempt,
            outcome=result.outcome.value,
            error=result.error,
            next_due_at=None if result.next_due_at is None else result.next_due_at.isoformat(),
            applied=applied,
        )
        return result.outcome, applied

    def _result(
        self,
        attempt: int,
        failure: Failure | None,
        started_at: datetime,
        duration_ms: int,
        clock: Callable[[], datetime],
    ) -> AttemptResult:
        """The attempt's outcome: sent, a retry with its due time, or failed."""
        if failure is None:
            return AttemptResult(attempt, AttemptOutcome.SENT, started_at, duration_ms)
        if not failure.temporary:
            return AttemptResult(attempt, AttemptOutcome.FAILED, started_at, duration_ms, failure.error)
        c = self._config
        if attempt >= c.max_attempts:
            error = f"gave up after {attempt} attempts: {failure.error}"
            return AttemptResult(attempt, AttemptOutcome.FAILED, started_at, duration_ms, error)
        delay = retry_delay_s(
            attempt, backoff_s=c.backoff_s, max_backoff_s=c.max_backoff_s, retry_after_s=failure.retry_after_s
        )
        due_at = clock() + timedelta(seconds=delay)
        return AttemptResult(attempt, AttemptOutcome.RETRY, started_at, duration_ms, failure.error, due_at)

    async def drain(
        self, *, clock: Callable[[], datetime] = utc_now, max_rounds: int = 100
    ) -> DispatchSummary:
        """Dispatch batch after batch until one is not full (nothing more is due now), at most ``max_rounds``
        batches: what a process calls right after queueing many notifications. Returns the summed summary.

        Raises:
            Errors of :meth:`dispatch`.
        """
        names = ("claimed", "sent", "retried", "failed", "abandoned", "lost")
        total = dict.fromkeys(names, 0)
        for _ in range(max_rounds):
            summary = await self.dispatch(now=clock())
            for name in names:
                total[name] += getattr(summary, name)
            if summary.claimed + summary.failed < self._config.batch_size:
                break
        return DispatchSummary(**total)

    async def run(
        self, stop: asyncio.Event, *, interval_s: float = 5.0, clock: Callable[[], datetime] = utc_now
    ) -> None:
        """Dispatch until ``stop`` is set: again at once after a dispatch that used its whole batch, otherwise after
        ``interval_s`` seconds. A failing dispatch (the database unreachable) is logged and tried again after
        ``interval_s``; nothing is lost (see the module docstring)."""
        while not stop.is_set():
            full = False
            try:
                summary = await self.dispatch(now=clock())
                full = summary.claimed + summary.failed >= self._config.batch_size
            except Exception as exc:  # noqa: BLE001 (a worker loop outlives a failing round)
                _log.warning("notify.dispatch_failed", error=type(exc).__name__, message=str(exc)[:200])
            if not full:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
                except TimeoutError:
                    continue
