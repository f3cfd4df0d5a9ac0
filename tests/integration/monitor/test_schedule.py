"""The schedule table on the real database: cycles on a replay clock with metrics, notifications dispatched at
once, and the configuration re-read while running (an invalid edit refused, the last valid settings kept)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from monitor_data import import_crypto, replay_times, watcher
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from tsbot.adapters.storage.tables_notify import notification_deliveries
from tsbot.apps.worker.metrics import CycleMetrics
from tsbot.apps.worker.runtime import LiveSettings
from tsbot.apps.worker.schedule import Schedule
from tsbot.monitor.clock import ReplayClock
from tsbot.wiring import Services


async def test_the_schedule_runs_cycles_on_a_replay_clock_and_sends_notifications_at_once(
    services: Services,
) -> None:
    symbols = await import_crypto(services, count=2)
    await watcher(services, symbols[0])
    [start] = await replay_times(services, 1)
    clock = ReplayClock(start, start + timedelta(hours=5), speed=3_600)  # an hour a second
    registry = CollectorRegistry()
    seen = []
    schedule = Schedule(
        services, clock=clock, interval_s=0.5, metrics=CycleMetrics(registry), on_summary=seen.append
    )
    schedule.start()
    try:
        for _ in range(200):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        schedule.stop()
    await schedule.settle()
    assert len(seen) >= 2 and all(s.errors == 0 and s.monitored == 2 for s in seen)
    assert seen[0].as_of is not None and seen[1].as_of > seen[0].as_of  # the replay clock moved
    assert registry.get_sample_value("tsbot_cycle_runs_total") >= 2
    assert registry.get_sample_value("tsbot_cycle_series", {"outcome": "monitored"}) == 2
    async with services.db.connect() as conn:
        sent = (
            await conn.execute(
                select(func.count())
                .select_from(notification_deliveries)
                .where(notification_deliveries.c.state == "sent")
            )
        ).scalar_one()
    assert sent >= 1  # the watcher's first signal went out in-app right after the cycle


async def test_a_config_file_edited_to_an_invalid_value_is_refused_and_the_last_valid_settings_stay(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad input: ``monitor.interval_s`` edited to -5 while running."""
    config = tmp_path / "app.yaml"
    config.write_text("monitor:\n  interval_s: 30\n")
    monkeypatch.setenv("TSBOT_APP_CONFIG", str(config))
    live = LiveSettings(services, database_url=services.settings.database_url, data_dir=tmp_path)
    assert await live.reload() is True
    assert live.settings.monitor.interval_s == 30
    config.write_text("monitor:\n  interval_s: -5\n")
    assert await live.reload() is False
    assert live.last_error is not None and "monitor.interval_s" in live.last_error
    assert live.settings.monitor.interval_s == 30  # kept
    config.write_text("monitor:\n  interval_s: 45\n")
    assert await live.reload() is True
    assert live.settings.monitor.interval_s == 45 and live.last_error is None
