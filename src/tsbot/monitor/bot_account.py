"""One paper account's bots driven over the candles that closed since the last cycle (:class:`AccountSession`).

The bar loop is the one of :func:`tsbot.trading.replay.replay`, so a bot run live trades as its replay and its
backtest do. For each new closed bar, in the order of their close times (and, at one time, of the pairs):

1. the account's paper broker works the bar's open and the bots take their fills (an entry's stop-loss and
   take-profits are placed here and work in the rest of the bar), then the rest of the bar, and the bots take those
   fills; every fill is stored with its order;
2. each bot that trades the pair at that timeframe decides at the bar's close from the candles up to it
   (:meth:`SignalBot.on_close`).

The broker works a symbol at the shortest timeframe the account's bots trade it at. A bar is worked once per
account and decided once per bot: ``worked`` (per symbol) and ``decided`` (per bot and pair) hold the open time
(ms, UTC) of the last one. The clock the orders carry is the bar's close time while a bar is worked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from tsbot.backtest.runner import SeriesData
from tsbot.market.models import CandleFrame
from tsbot.trading.bot import SignalBot
from tsbot.trading.models import Fill
from tsbot.trading.paper import Bar
from tsbot.trading.paper_account import PaperDesk

#: Most bars worked per symbol in one cycle; a longer gap (the process was down for long) is skipped over, said.
MAX_CATCH_UP_BARS = 5_000


class MutableClock:
    """The time orders and events carry (UTC): a bar's close while bars are worked, else the cycle's time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass(slots=True)
class RunningBot:
    """A bot of the session: its runtime, the series it decides on (``pair -> data``, at its timeframe), the open
    time (ms) of the last bar decided per pair, and the fills it took (order client id -> fill ids)."""

    bot_id: str
    bot: SignalBot
    series: dict[str, SeriesData]
    decided: dict[str, int]
    taken: dict[str, set[str]] = field(default_factory=dict)


def last_closed(frame: CandleFrame, cut_ms: int | None) -> int:
    """Index of the last bar of ``frame`` whose open time is at or before ``cut_ms`` (all: None); -1: none."""
    if cut_ms is None:
        return len(frame) - 1
    return int(np.searchsorted(frame.open_time_ms, cut_ms, side="right")) - 1


def after(frame: CandleFrame, open_ms: int) -> int:
    """Index of the first bar of ``frame`` that opens after ``open_ms``."""
    return int(np.searchsorted(frame.open_time_ms, open_ms, side="right"))


class AccountSession:
    """The bots of one paper account over one cycle (see the module docstring).

    Args:
        desk: the account rebuilt from the store, its symbols' last prices at ``worked``.
        bots: the account's bots, each restored.
        work: symbol -> the candles the broker works it on (the shortest timeframe of the bots trading it) and the
            timeframe in ms.
        worked: symbol -> open time (ms, UTC) of the last bar worked.
        cuts: timeframe ms -> open time (ms) of the last closed bar to take (None: every stored bar).
        on_fills: awaited with each bot and the fills of its orders it took (notifications).
    """

    def __init__(
        self,
        desk: PaperDesk,
        bots: Sequence[RunningBot],
        clock: MutableClock,
        *,
        work: Mapping[str, tuple[CandleFrame, int]],
        worked: dict[str, int],
        cuts: Mapping[int, int | None],
        on_fills: Callable[[RunningBot, list[Fill]], Awaitable[None]] | None = None,
    ) -> None:
        self.desk = desk
        self.bots = list(bots)
        self.clock = clock
        self._work = work
        self.worked = worked
        self._cuts = cuts
        self._on_fills = on_fills
        self.bars = 0
        self.skipped: list[str] = []

    async def run_bars(self) -> int:
        """Work and decide every new closed bar; returns the bars worked."""
        order = {symbol: k for k, symbol in enumerate(sorted(self._work))}
        steps: list[
            tuple[int, int, int, int, str, int]
        ] = []  # (close ms, pair order, phase, bot, symbol, index)
        for symbol, (frame, tf_ms) in self._work.items():
            last = last_closed(frame, self._cuts.get(tf_ms))
            first = after(frame, self.worked[symbol])
            if last - first + 1 > MAX_CATCH_UP_BARS:
                first = last - MAX_CATCH_UP_BARS + 1
                self.skipped.append(
                    f"{symbol}: more than {MAX_CATCH_UP_BARS} bars to catch up; older ones skipped"
                )
            for i in range(first, last + 1):
                steps.append((int(frame.open_time_ms[i]) + tf_ms, order[symbol], 0, -1, symbol, i))
        for k, rb in enumerate(self.bots):
            for pair, data in rb.series.items():
                tf_ms = data.key.timeframe.ms
                last = last_closed(data.candles, self._cuts.get(tf_ms))
                first = max(after(data.candles, rb.decided[pair]), last - MAX_CATCH_UP_BARS + 1)
                for i in range(first, last + 1):
                    close = int(data.candles.open_time_ms[i]) + tf_ms
                    steps.append((close, order.get(pair, len(order)), 1, k, pair, i))
        steps.sort()
        for close_ms, _, phase, k, symbol, i in steps:
            self.clock.now = datetime.fromtimestamp(close_ms / 1000, UTC)
            if phase == 0:
                frame, _ = self._work[symbol]
                bar = Bar.of(frame, i)
                await self.take(self.desk.broker.open_bar(symbol, bar))
                await self.take(self.desk.broker.close_bar(symbol, bar))
                self.worked[symbol] = int(frame.open_time_ms[i])
                self.bars += 1
            else:
                rb = self.bots[k]
                data = rb.series[symbol]
                context = data.context.cut(i + 1)
                await rb.bot.on_close(symbol, data.candles.window(0, i + 1), context)
                rb.decided[symbol] = int(data.candles.open_time_ms[i])
        return self.bars

    async def take(self, fills: Sequence[Fill]) -> None:
        """Hand fills to every bot; each takes those of its own orders (once: a fill id it took is not taken
        again)."""
        if not fills:
            return
        for rb in self.bots:
            mine = [
                f
                for f in fills
                if rb.bot.owns(f.client_order_id) and f.fill_id not in rb.taken.get(f.client_order_id, ())
            ]
            if not mine:
                continue
            await rb.bot.on_fills(mine)
            for f in mine:
                rb.taken.setdefault(f.client_order_id, set()).add(f.fill_id)
            if self._on_fills is not None:
                await self._on_fills(rb, mine)

    async def catch_up_stored(self, rb: RunningBot, stored: Mapping[str, Sequence[Fill]]) -> int:
        """Hand ``rb`` the stored fills of its orders (client id -> fills, oldest first) that it has not taken:
        fills booked elsewhere (the order worked by another process) or before a restart. Returns how many."""
        fresh = [
            f for cid, fills in stored.items() for f in fills if f.fill_id not in rb.taken.get(cid, set())
        ]
        fresh.sort(key=lambda f: f.filled_at)
        if fresh:
            await rb.bot.on_fills(fresh)
            for f in fresh:
                rb.taken.setdefault(f.client_order_id, set()).add(f.fill_id)
            if self._on_fills is not None:
                await self._on_fills(rb, fresh)
        return len(fresh)
