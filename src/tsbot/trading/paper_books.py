"""A portfolio's accounts read back from the stores, for every front end (command line, API):

* :func:`last_prices`: the last stored close of each symbol (the price positions are valued at and market orders of a
  paper account fill at);
* :func:`book_of`: the :class:`~tsbot.trading.portfolio.Book` of positions from the stored fills of its accounts
  (a paper account's symbols labelled crypto or stock by their series, :func:`symbol_classes`);
* :func:`open_paper_desk`: the :class:`~tsbot.trading.paper_account.PaperDesk` of a paper account, caught up: its
  resting orders worked against the candles stored since the oldest of them was placed.

Prices are :class:`~decimal.Decimal` in the symbol's quote currency; times are UTC (bar open times in ms since the
epoch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tsbot.core.enums import AssetClass
from tsbot.core.errors import DataError, NotFoundError
from tsbot.core.time import to_ms
from tsbot.market.ports import CandleStore, SeriesInfo
from tsbot.trading.models import Fill
from tsbot.trading.paper import Bar
from tsbot.trading.paper_account import AccountOrderStore, PaperDesk, PaperLedger
from tsbot.trading.performance import MIN_RETURNS_SHARPE, MIN_RETURNS_VAR
from tsbot.trading.portfolio import Book, split_symbol
from tsbot.trading.replay import paper_rules
from tsbot.trading.service import OrderCheck

#: Venue name of paper accounts (``paper:<portfolio id>``).
PAPER_VENUE = "paper"
#: Most candles worked per symbol when catching up resting orders.
MAX_CATCH_UP_BARS = 50_000
#: Fewest daily snapshots for each performance figure (n snapshots give n - 1 daily returns).
SNAPSHOTS_NEEDED = {
    "return": 2,
    "sharpe": MIN_RETURNS_SHARPE + 1,
    "max_drawdown": 2,
    "var_95": MIN_RETURNS_VAR + 1,
}


def paper_account(portfolio_id: str) -> str:
    """The paper account of a portfolio: ``paper:<portfolio id>``."""
    return f"{PAPER_VENUE}:{portfolio_id}"


@dataclass(frozen=True, slots=True)
class LastPrice:
    """The close of the newest stored bar priced for ``symbol`` (a book symbol, ``BASE/QUOTE``).

    ``series`` is the candle series it came from (its symbol is the bare ticker for a stock: ``AAPL`` for
    ``AAPL/USD``); ``open_ms`` the bar's open time (ms, UTC).
    """

    symbol: str
    price: Decimal
    series: SeriesInfo
    open_ms: int

    @property
    def asset_class(self) -> AssetClass:
        return AssetClass(self.series.asset_class)


def price_series(symbol: str, series: Iterable[SeriesInfo]) -> list[SeriesInfo]:
    """Series that price ``symbol``: the same symbol, else for ``X/USD`` a stock series of ticker ``X``.

    Raises:
        DataError: a symbol that is not ``BASE/QUOTE``.
    """
    known = list(series)
    exact = [s for s in known if s.key.symbol == symbol]
    if exact:
        return exact
    base, quote = split_symbol(symbol)
    if quote == "USD":
        return [s for s in known if s.key.symbol == base and s.asset_class == AssetClass.STOCK]
    return []


async def last_prices(
    candles: CandleStore,
    symbols: Iterable[str],
    held: Mapping[str, str] | None = None,
    *,
    as_of: datetime | None = None,
) -> dict[str, LastPrice]:
    """The last close of each symbol, from the stored series (any exchange and timeframe) whose newest bar ends
    last (bar open time + timeframe; a tie goes to the shorter timeframe, then the exchange name).

    Args:
        held: symbol -> account holding it, to name in the error.
        as_of: price as of this time (UTC; a replay clock): only bars closed by then count (a bar opening at
            ``as_of - timeframe`` or before). None: every stored bar.

    Raises:
        NotFoundError: a symbol with no stored candles (before ``as_of``), naming it.
        DataError: a symbol that is not ``BASE/QUOTE``, or a stored close that is not a positive number.
    """
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    series = await candles.series()
    out: dict[str, LastPrice] = {}
    for symbol in wanted:
        found = price_series(symbol, series)
        cuts = {s.key: None if as_of is None else to_ms(as_of) - s.key.timeframe.ms for s in found}
        found = [s for s in found if cuts[s.key] is None or s.first_open_ms <= cuts[s.key]]
        if not found:
            where = f" (held on {held[symbol]})" if held and symbol in held else ""
            before = "" if as_of is None else f" before {as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            raise NotFoundError(
                f"no candles stored for {symbol}{before}{where}; cannot price it: "
                "download them with `tsbot data download`"
            )
        ends = {
            s.key: s.last_open_ms if cuts[s.key] is None else min(s.last_open_ms, cuts[s.key]) for s in found
        }
        best = max(
            found, key=lambda s: (ends[s.key] + s.key.timeframe.ms, -s.key.timeframe.ms, s.key.exchange)
        )
        frame = await candles.load(best.key, end_ms=cuts[best.key], limit=1)
        close = Decimal(str(float(frame.close[-1]))) if len(frame) else Decimal(0)
        if not (close.is_finite() and close > 0):
            raise DataError(f"the last close of {best.key} is {close}; cannot price {symbol}")
        out[symbol] = LastPrice(symbol, close, best, int(frame.open_time_ms[-1]))
    return out


def symbol_classes(symbols: Iterable[str], series: Iterable[SeriesInfo]) -> dict[str, AssetClass]:
    """The asset class of each symbol that has a stored series pricing it (:func:`price_series`): ``AAPL/USD``
    priced by the stock series ``AAPL`` is a stock. Symbols without one, or not ``BASE/QUOTE``, are left out."""
    known = list(series)
    out: dict[str, AssetClass] = {}
    for symbol in sorted(set(symbols)):
        try:
            found = price_series(symbol, known)
        except DataError:
            continue
        if found:
            out[symbol] = AssetClass(found[0].asset_class)
    return out


def book_of(
    fills: Iterable[tuple[str, Fill]],
    kinds: Mapping[str, AssetClass],
    classes: Mapping[str, AssetClass] | None = None,
) -> Book:
    """The book of ``fills`` (``(account, fill)``, oldest first, as
    :meth:`~tsbot.trading.paper_account.AccountOrderStore.account_fills` gives them), each counted with its
    account's asset class (``kinds``: account -> asset class; an account not in it counts as crypto). A paper
    account trades crypto and stocks alike: its fills take the class of their symbol from ``classes`` (symbol ->
    asset class, :func:`symbol_classes`) where it is known.

    Raises:
        DataError: a fill the book refuses (see :meth:`Book.apply`).
    """
    book = Book()
    known = classes or {}
    paper = f"{PAPER_VENUE}:"
    for account, fill in fills:
        kind = kinds.get(account, AssetClass.CRYPTO)
        if account.startswith(paper):
            kind = known.get(fill.symbol, kind)
        book.apply(account, fill, kind.value)
    return book


async def open_paper_desk(
    account: str,
    *,
    orders: AccountOrderStore,
    ledger: PaperLedger,
    candles: CandleStore,
    symbols: Iterable[str] = (),
    as_of: datetime | None = None,
    checks: Sequence[OrderCheck] = (),
) -> tuple[PaperDesk, list[Fill]]:
    """The paper account ``account`` rebuilt from the stores and caught up: its resting orders worked against the
    candles stored since the oldest of them was placed. Market rules of each symbol come from its last price
    (:func:`~tsbot.trading.replay.paper_rules`). Returns the desk and the fills that catching up made.

    Args:
        symbols: symbols about to be traded (priced too, so a market order can fill at their last close).
        as_of: the account as of this time (UTC; a replay clock): prices and catch-up bars are the bars closed by
            then. None: every stored bar.
        checks: the front end's own rules on the orders it places (:class:`~tsbot.trading.service.OrderService`).

    Raises:
        NotFoundError: no candles for a symbol it trades or is asked to price.
        DataError: a symbol that is not ``BASE/QUOTE``, or a bad stored close.
    """
    working = await orders.working(account)
    wanted = set(symbols) | {o.request.symbol for o in working}
    prices = await last_prices(candles, wanted, as_of=as_of)
    rules = {s: paper_rules(s, p.asset_class, float(p.price)) for s, p in prices.items()}
    oldest_ms = min((int(o.history[0].at.timestamp() * 1000) for o in working), default=None)
    last_bars: dict[str, Bar] = {}
    catch_up: dict[str, list[Bar]] = {}
    for symbol, price in prices.items():
        key = price.series.key
        count = 1
        if oldest_ms is not None and price.open_ms >= oldest_ms:
            count = min((price.open_ms - oldest_ms) // key.timeframe.ms + 2, MAX_CATCH_UP_BARS)
        frame = await candles.load(key, end_ms=price.open_ms, limit=count)
        bars = [Bar.of(frame, i) for i in range(len(frame))]
        last_bars[symbol] = bars[0]  # worked before the oldest resting order: only a price
        catch_up[symbol] = bars[1:]
    desk = await PaperDesk.open(
        account, ledger=ledger, store=orders, rules=rules, last_bars=last_bars, checks=checks
    )
    fills = await desk.work(catch_up) if working else []
    return desk, fills
