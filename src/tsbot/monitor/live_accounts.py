"""Live exchange accounts in the monitoring cycle: reconciliation with the venue, then the accounts' bots.

Each cycle on the wall clock (:meth:`LiveAccounts.run`, called by :class:`~tsbot.monitor.bot_runner.BotRunner`),
for every stored exchange key whose account (``"<exchange>:<key id>"``) has bots to run or orders tsbot holds as
working:

1. the account's broker is opened, the key's credentials decrypted for it alone. A key that cannot be decrypted
   (the encryption key changed), or a venue that does not answer, is one line of the summary naming the account and
   the key's label, never a credential; the cycle goes on with the other accounts;
2. at the process's first cycle and then every ``monitor.reconcile_interval_s`` (0: every cycle),
   :meth:`OrderService.reconcile <tsbot.trading.service.OrderService.reconcile>` compares the account's working
   orders in tsbot with the venue and the venue's open orders with tsbot. What it fixed (a status or fills taken
   from the venue, an order sent that never arrived) is logged (``monitor.reconcile``); what it can only report
   (an order at the venue tsbot does not know, an order the venue no longer knows) is a line of the summary and a
   ``system`` notification to the key's owner, sent once per finding. A venue that does not answer (timeout,
   429 or 5xx after the broker's retries) leaves the account to the next cycle, its bots included: they do not
   decide on a view of the account that may be stale;
3. the account's bots run (:class:`~tsbot.monitor.live_bots.LiveBotSession`).

A bot whose key is not stored, or belongs to another user, is not run and says so. On a replay clock nothing here
runs: a replay never reaches a venue (its live bots are counted as ``live_skipped``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from tsbot.config import MonitorConfig
from tsbot.core.errors import TemporaryError
from tsbot.core.time import utc_now
from tsbot.monitor.live_bots import LiveBotSession
from tsbot.monitor.ports import LiveAccount, LiveBrokers, NotificationQueue
from tsbot.notify.models import NotificationRequest, NotificationType
from tsbot.trading.bots import BotConfig
from tsbot.trading.market_hours import MarketHours, TradingHours
from tsbot.trading.ports import Broker, OrderStore
from tsbot.trading.service import OrderService, ReconcileReport

if TYPE_CHECKING:
    from tsbot.monitor.bot_runner import BotCycleSummary, BotRunner

_log = structlog.get_logger("tsbot.monitor")
#: Exchange calendar of the US stocks live bots trade (Alpaca).
STOCK_CALENDAR = "XNYS"


class LiveAccounts:
    """Reconciles the live exchange accounts and runs their bots each cycle (see the module docstring).

    Args:
        brokers: the stored keys' accounts and their brokers.
        orders: the order store.
        monitor: the monitoring settings in force (read each cycle: ``reconcile_interval_s``, ``interval_s``).
        notifications: the outbox for the ``system`` notices of reconciliation findings (None: none sent).
        clock: the wall clock (UTC).
    """

    def __init__(
        self,
        brokers: LiveBrokers,
        orders: OrderStore,
        monitor: Callable[[], MonitorConfig],
        *,
        notifications: NotificationQueue | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._brokers = brokers
        self._orders = orders
        self._monitor = monitor
        self._notifications = notifications
        self._clock = clock
        self._reconciled_at: dict[str, datetime] = {}
        self._stock_hours: TradingHours | None = None

    async def run(
        self,
        host: BotRunner,
        bots: Mapping[str, Sequence[BotConfig]],
        memories: Mapping[str, dict[str, Any]],
        summary: BotCycleSummary,
    ) -> None:
        """One cycle over the live accounts: ``bots`` are the live bots to run, by account. Never raises: every
        failure is a line of ``summary.errors``."""
        try:
            accounts = {a.account: a for a in await self._brokers.accounts()}
        except Exception as exc:  # noqa: BLE001 - the live accounts failing must not stop the paper bots
            summary.errors.append(f"live accounts: {exc or type(exc).__name__}")
            return
        for account in sorted(set(bots) - set(accounts)):
            names = ", ".join(b.name for b in bots[account])
            summary.errors.append(f"live {account}: no exchange key is stored for it; bots {names} not run")
        for account in sorted(accounts):
            live = accounts[account]
            group = [b for b in bots.get(account, ()) if b.owner == live.owner]
            strangers = [b.name for b in bots.get(account, ()) if b.owner != live.owner]
            if strangers:
                summary.errors.append(
                    f"live {account}: bots {', '.join(strangers)} belong to another user than the key; not run"
                )
            try:
                await self._run_account(host, live, group, memories, summary)
            except Exception as exc:  # noqa: BLE001 - one account failing must not stop the others
                summary.errors.append(f"live {_named(live)}: {exc or type(exc).__name__}")
                _log.warning("monitor.live_failed", account=account, error=str(exc), kind=type(exc).__name__)

    async def _run_account(
        self,
        host: BotRunner,
        live: LiveAccount,
        group: list[BotConfig],
        memories: Mapping[str, dict[str, Any]],
        summary: BotCycleSummary,
    ) -> None:
        now = self._clock()
        monitor = self._monitor()
        last = self._reconciled_at.get(live.account)
        due = last is None or now - last >= timedelta(seconds=monitor.reconcile_interval_s)
        if not group and (not due or not await self._orders.working(live.account)):
            return  # nothing of tsbot's on this account (a key stored and unused): the venue is not asked
        broker = await self._brokers.open(live)
        try:
            if due:
                service = OrderService(self._orders, broker, live.account)
                try:
                    report = await service.reconcile()
                except TemporaryError as exc:
                    waiting = f"; bots {', '.join(b.name for b in group)} wait" if group else ""
                    summary.errors.append(
                        f"live {_named(live)}: the venue did not answer ({exc}); reconciled at the next "
                        f"cycle{waiting}"
                    )
                    return
                self._reconciled_at[live.account] = now
                await self._report(live, report, summary)
            if group:
                session = LiveBotSession(
                    host,
                    live,
                    broker,
                    self._orders,
                    hours=self._hours,
                    grace=timedelta(seconds=monitor.interval_s),
                )
                await session.run(group, memories, now, summary)
        finally:
            await _close(broker, live)

    async def _report(self, live: LiveAccount, report: ReconcileReport, summary: BotCycleSummary) -> None:
        """Log what reconciliation fixed; put what it found into the summary and tell the key's owner."""
        summary.reconciled += 1
        summary.reconcile_fixed += len(report.fixed)
        summary.reconcile.extend(f"{_named(live)}: {line}" for line in report.problems)
        if report.fixed or report.problems:
            _log.info(
                "monitor.reconcile",
                account=live.account,
                checked=report.checked,
                fixed=list(report.fixed),
                problems=list(report.problems),
            )
        if report.problems and self._notifications is not None:
            await self._notify(live, report.problems)

    async def _notify(self, live: LiveAccount, problems: Sequence[str]) -> None:
        """One ``system`` notification per finding, deduplicated by its text: a finding that persists from cycle to
        cycle is told once."""
        assert self._notifications is not None
        exchange = live.account.partition(":")[0]
        requests = [
            NotificationRequest(
                user_id=live.owner,
                type=NotificationType.SYSTEM,
                dedup_key=f"reconcile:{live.account}:{hashlib.sha256(line.encode()).hexdigest()[:32]}",
                context={
                    "severity": "warning",
                    "title": f"Your {exchange} account '{live.label}' differs from tsbot",
                    "message": f"Reconciliation with the venue found: {line}",
                    "account": live.account,
                },
            )
            for line in problems
        ]
        try:
            await self._notifications.enqueue(requests, now=utc_now())
        except Exception as exc:  # noqa: BLE001 - a notice failing must not lose the findings (they are logged)
            _log.warning("monitor.reconcile_notice_failed", account=live.account, error=str(exc))

    def _hours(self) -> TradingHours:
        """The regular hours of US stocks, built once (about 0.1 s)."""
        if self._stock_hours is None:
            self._stock_hours = MarketHours(STOCK_CALENDAR)
        return self._stock_hours


def _named(live: LiveAccount) -> str:
    """``binance:<key id> (main)``: the account and the key's label."""
    return f"{live.account} ({live.label})"


async def _close(broker: Broker, live: LiveAccount) -> None:
    try:
        await broker.close()
    except Exception as exc:  # noqa: BLE001 - closing a connection must not turn a good cycle into a failure
        _log.warning("monitor.live_close_failed", account=live.account, error=str(exc))
