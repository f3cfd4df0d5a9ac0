"""Building the monitoring cycle from :class:`~tsbot.wiring.Services`, and re-reading the configuration while
running.

:class:`LiveSettings` re-reads the configuration files (and the changes stored through the admin API) every
``monitor.reload_config_s`` seconds. A file edited to an invalid value is refused with a logged error naming the key,
and the process goes on with the last valid settings; the next valid edit is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from tsbot.adapters.brokers.key_brokers import StoredKeyBrokers
from tsbot.adapters.events import EventChangePublisher, EventPublisher
from tsbot.adapters.storage.bot_runs import SqlBotMemory
from tsbot.adapters.storage.config_overrides import SqlConfigOverrides, apply_overrides
from tsbot.adapters.storage.cycles import SqlCycleStore
from tsbot.adapters.storage.watch import SqlPriceAlertStore, SqlWatchlistStore
from tsbot.config import Settings, load_settings
from tsbot.core.errors import TsbotError
from tsbot.monitor.bot_runner import BotRunner
from tsbot.monitor.cycle import DEFAULT_BATCH_SIZE, MonitoringCycle
from tsbot.monitor.fanout import InProcessFanout
from tsbot.monitor.live_accounts import LiveAccounts
from tsbot.monitor.ports import CandleRefresher, Fanout, NewsRefresher
from tsbot.monitor.snapshots import SnapshotWriter
from tsbot.monitor.work import SeriesWork
from tsbot.notify.service import NotificationService
from tsbot.trading.valuation import PortfolioValuer
from tsbot.wiring import Services

_log = structlog.get_logger("tsbot.monitor")


def build_work(
    services: Services,
    publisher: EventPublisher | None = None,
    on_queued: Callable[[], None] | None = None,
    notifications: NotificationService | None = None,
) -> SeriesWork:
    """The per-series work over ``services``: signals stored, watchers notified through the outbox
    (``notifications``, default ``services.notifications(publisher)``; ``on_queued`` called when some were queued),
    changes pushed to live clients through ``publisher`` (None: not pushed)."""
    return SeriesWork(
        services.scan_service(),
        services.signals,
        SqlCycleStore(services.db),
        watchers=SqlWatchlistStore(services.db),
        notifications=notifications or services.notifications(publisher),
        publisher=EventChangePublisher(publisher) if publisher is not None else None,
        on_queued=on_queued,
    )


def build_cycle(
    services: Services,
    *,
    fanout: Fanout | None = None,
    publisher: EventPublisher | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_queued: Callable[[], None] | None = None,
    candle_refresher: CandleRefresher | None = None,
    news_refresher: NewsRefresher | None = None,
) -> MonitoringCycle:
    """A monitoring cycle over ``services`` running its per-series work through ``fanout`` (default: in this
    process, calling ``on_queued`` when it queued notifications), with price alerts, users' paper bots, their
    notifications, and the portfolios' daily equity snapshots; new candles and headlines fetched first by the
    refreshers given (none on a replay clock)."""
    outbox = services.notifications(publisher)
    return MonitoringCycle(
        services.scan_service(),
        services.candles,
        SqlCycleStore(services.db),
        fanout or InProcessFanout(build_work(services, publisher, on_queued, outbox)),
        alerts=SqlPriceAlertStore(services.db),
        notifications=outbox,
        batch_size=batch_size,
        bots=build_bot_runner(services, outbox),
        snapshots=build_snapshot_writer(services),
        candle_refresher=candle_refresher,
        news_refresher=news_refresher,
    )


def build_bot_runner(services: Services, notifications: NotificationService | None = None) -> BotRunner:
    """The runner of users' bots over ``services`` (trading settings read live each cycle): paper bots, and on the
    wall clock the bots of live exchange accounts, whose accounts are reconciled with their venues."""
    live = LiveAccounts(
        StoredKeyBrokers(services.db, lambda: services.settings),
        services.orders,
        lambda: services.settings.monitor,
        notifications=notifications,
    )
    return BotRunner(
        services.bots,
        SqlBotMemory(services.db),
        services.orders,
        services.paper_ledger(),
        services.candles,
        lambda: services.settings.trading,
        headlines=services.headlines,
        signals=services.tracked_signals,
        notifications=notifications,
        live=live,
    )


def build_snapshot_writer(services: Services) -> SnapshotWriter:
    """The writer of every portfolio's daily equity snapshot over ``services`` (valued as the API values them)."""
    valuer = PortfolioValuer(services.portfolios, services.orders, services.paper_ledger(), services.candles)
    return SnapshotWriter(services.portfolios, valuer)


class LiveSettings:
    """The settings of a long-running process, re-read from the configuration files and the stored admin changes.

    ``overrides`` are keyword arguments always applied on top (what the command line set).
    """

    def __init__(self, services: Services, **overrides: Any) -> None:
        self._services = services
        self._overrides = overrides
        self.last_error: str | None = None

    async def reload(self) -> bool:
        """Re-read the configuration; True when the settings changed (``services.settings`` is replaced). An
        invalid file or stored change is logged (``config.reload_failed``) and kept out: the settings stay as they
        were."""
        try:
            fresh = load_settings(**self._overrides)
            stored = await SqlConfigOverrides(self._services.db).load()
            fresh = apply_overrides(fresh, {name: s.values for name, s in stored.items()})
        except TsbotError as exc:
            if str(exc) != self.last_error:
                _log.error("config.reload_failed", error=type(exc).__name__, message=str(exc))
            self.last_error = str(exc)
            return False
        self.last_error = None
        if fresh == self._services.settings:
            return False
        self._services.settings = fresh
        _log.info("config.reloaded")
        return True

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        return self._services.settings
