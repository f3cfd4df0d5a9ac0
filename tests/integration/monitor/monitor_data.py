"""Shared set-up of the monitoring-cycle tests: bundled crypto series in the store and a user watching one."""

from __future__ import annotations

from datetime import datetime, timedelta

from tsbot.accounts.models import OPERATOR, Role
from tsbot.adapters.bundled import bundled_series, read_bundled_rows
from tsbot.adapters.storage.watch import SqlWatchlistStore
from tsbot.core.time import from_ms
from tsbot.market.service import import_candles
from tsbot.wiring import Services

PASSWORD = "correct horse battery staple 9"


async def import_crypto(services: Services, count: int = 3) -> list[str]:
    """Import the first ``count`` bundled 1h crypto series; their symbols."""
    chosen = [s for s in bundled_series() if s.asset_class.value == "crypto"][:count]
    for item in chosen:
        await import_candles(services.candles, item.key, item.asset_class.value, read_bundled_rows(item))
    return [s.key.symbol for s in chosen]


async def watcher(services: Services, symbol: str) -> str:
    """A trader who watches ``symbol``; their id."""
    user = await services.accounts().create_user(
        OPERATOR, f"watcher-{symbol[:3].lower()}@example.com", PASSWORD, Role.TRADER
    )
    await SqlWatchlistStore(services.db).add(user.id, symbol)
    return user.id


async def replay_times(services: Services, hours: int) -> list[datetime]:
    """``hours`` consecutive hourly times near the end of the stored hourly history."""
    infos = [i for i in await services.candles.series() if i.key.timeframe.ms == 3_600_000]
    last = min(i.last_open_ms for i in infos)
    end = from_ms(last) - timedelta(hours=hours + 1)
    return [end + timedelta(hours=h) for h in range(hours)]
