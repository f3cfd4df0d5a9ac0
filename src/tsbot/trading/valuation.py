"""A portfolio valued from the stores, the one way every front end (API, Telegram bot) and the monitoring cycle's
daily equity snapshots value it.

A user owns portfolios (:class:`PortfolioInfo`); a portfolio holds accounts: its paper account
``paper:<portfolio id>`` and any exchange accounts. :meth:`PortfolioValuer.view` values one:

1. the paper account is opened and caught up: its resting orders worked against the candles stored since they were
   placed (:func:`~tsbot.trading.paper_books.open_paper_desk`; the fills this makes are stored);
2. positions come from the stored fills of every account (:func:`~tsbot.trading.paper_books.book_of`), a paper
   account's symbols labelled crypto or stock by their candle series;
3. prices are the last stored closes (as of a time when one is given: a replay clock);
4. cash is the paper account's balances in the base currency (or a dollar when the base is one); other balance
   assets not held as positions are listed in :attr:`PortfolioView.unvalued` and left out of the equity.

Nothing here asks a venue: exchange accounts count by their stored fills, priced at the stored closes, and their
cash at the venue is not known (not counted). Money is :class:`~decimal.Decimal`; times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tsbot.core.enums import AssetClass
from tsbot.market.models import CandleFrame, SeriesKey
from tsbot.market.ports import CandleStore, SeriesInfo, UpsertResult
from tsbot.trading.models import Balance
from tsbot.trading.paper_account import AccountOrderStore, PaperDesk, PaperLedger
from tsbot.trading.paper_books import (
    PAPER_VENUE,
    LastPrice,
    book_of,
    last_prices,
    open_paper_desk,
    paper_account,
    symbol_classes,
)
from tsbot.trading.portfolio import DOLLARS, Book, Valuation, split_symbol
from tsbot.trading.service import OrderCheck


@dataclass(frozen=True, slots=True)
class PortfolioAccount:
    """A trading account (the ``account`` of orders) in a portfolio, on ``venue`` (``paper``, ``binance``,
    ``alpaca``), trading ``asset_class``; ``created_at`` UTC."""

    account: str
    venue: str
    asset_class: AssetClass
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PortfolioInfo:
    """A stored portfolio. ``target_weights``: symbol -> share of equity (empty: no rebalancing targets);
    ``created_at`` UTC; ``accounts`` sorted by account."""

    id: str
    owner: str
    name: str
    base_currency: str
    target_weights: Mapping[str, Decimal]
    created_at: datetime
    accounts: tuple[PortfolioAccount, ...]


class PortfolioReader(Protocol):
    """The portfolios store as the valuer uses it (:class:`tsbot.adapters.storage.portfolios.SqlPortfolioStore`)."""

    async def get(self, portfolio_id: str, owner: str | None = None) -> PortfolioInfo:
        """The portfolio (of ``owner`` when given); NotFoundError when absent."""
        ...

    async def attach_account(
        self, portfolio_id: str, account: str, venue: str, asset_class: str | AssetClass
    ) -> PortfolioInfo:
        """Put ``account`` into the portfolio; the portfolio after."""
        ...


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """A portfolio now: its paper account's balances, the book of all its accounts, the last prices of what it
    holds, and the valuation in its base currency. ``unvalued`` lists balance assets that are neither the base
    currency (nor a dollar when the base is one) nor held as a position: shown, not counted in the equity."""

    info: PortfolioInfo
    desk: PaperDesk
    balances: list[Balance]
    book: Book
    prices: dict[str, LastPrice]
    valuation: Valuation
    unvalued: list[str]


def has_rate(currency: str, base: str) -> bool:
    """Whether cash in ``currency`` counts in a ``base`` valuation: the base itself, or dollars at par."""
    return currency == base or (currency in DOLLARS and base in DOLLARS)


class SeriesOnce:
    """A candle store whose list of series (:meth:`series`, an aggregate over every stored bar) is read once and
    then kept: for one valuation, or one pass over many portfolios (new bars stored meanwhile are not listed)."""

    def __init__(self, candles: CandleStore) -> None:
        self._candles = candles
        self._series: list[SeriesInfo] | None = None

    async def series(self) -> list[SeriesInfo]:
        if self._series is None:
            self._series = await self._candles.series()
        return list(self._series)

    async def upsert(self, key: SeriesKey, asset_class: str, frame: CandleFrame) -> UpsertResult:
        self._series = None
        return await self._candles.upsert(key, asset_class, frame)

    async def load(
        self, key: SeriesKey, *, end_ms: int | None = None, limit: int | None = None
    ) -> CandleFrame:
        return await self._candles.load(key, end_ms=end_ms, limit=limit)

    async def load_many(
        self, keys: Sequence[SeriesKey], *, end_ms: Mapping[SeriesKey, int] | None = None, limit: int
    ) -> dict[SeriesKey, CandleFrame]:
        return await self._candles.load_many(keys, end_ms=end_ms, limit=limit)

    async def last_open_ms(self, key: SeriesKey) -> int | None:
        return await self._candles.last_open_ms(key)


class PortfolioValuer:
    """Opens and values portfolios over the stores (see the module docstring). Each :meth:`view` lists the stored
    series once; :meth:`for_one_pass` gives a valuer that lists them once for all the portfolios it values.

    Args:
        checks: the front end's own rules on orders placed on the desks it opens (the stock market hours of orders
            placed by hand, :class:`~tsbot.trading.market_hours.StockHoursCheck`).
    """

    def __init__(
        self,
        portfolios: PortfolioReader,
        orders: AccountOrderStore,
        ledger: PaperLedger,
        candles: CandleStore,
        *,
        checks: Sequence[OrderCheck] = (),
    ) -> None:
        self._portfolios = portfolios
        self._orders = orders
        self._ledger = ledger
        self._candles = candles
        self._checks = tuple(checks)

    def for_one_pass(self) -> PortfolioValuer:
        """This valuer over the same stores, reading the list of stored series once for every portfolio it values
        (the monitoring cycle's snapshots: one read per cycle instead of a few per portfolio)."""
        once = SeriesOnce(self._candles)
        return PortfolioValuer(self._portfolios, self._orders, self._ledger, once, checks=self._checks)

    def _once(self) -> SeriesOnce:
        return self._candles if isinstance(self._candles, SeriesOnce) else SeriesOnce(self._candles)

    async def with_paper_account(self, info: PortfolioInfo) -> PortfolioInfo:
        """``info`` with its paper account attached (attached now when it had none, as a portfolio made elsewhere
        may). The account is stored as crypto; its stock symbols are told apart by their series when valued."""
        account = paper_account(info.id)
        if any(a.account == account for a in info.accounts):
            return info
        return await self._portfolios.attach_account(info.id, account, PAPER_VENUE, AssetClass.CRYPTO.value)

    async def open_desk(
        self, info: PortfolioInfo, symbols: Iterable[str] = (), *, as_of: datetime | None = None
    ) -> PaperDesk:
        """The portfolio's paper account, rebuilt from the stores and caught up with the candles stored since its
        resting orders were placed (up to ``as_of`` when given); ``symbols`` are priced too.

        Raises:
            NotFoundError: no candles for a symbol it trades or is asked to price.
        """
        return await self._open_desk(info, symbols, as_of, self._candles)

    async def _open_desk(
        self, info: PortfolioInfo, symbols: Iterable[str], as_of: datetime | None, candles: CandleStore
    ) -> PaperDesk:
        info = await self.with_paper_account(info)
        desk, _ = await open_paper_desk(
            paper_account(info.id),
            orders=self._orders,
            ledger=self._ledger,
            candles=candles,
            symbols=symbols,
            as_of=as_of,
            checks=self._checks,
        )
        return desk

    async def view(
        self, info: PortfolioInfo, symbols: Iterable[str] = (), *, as_of: datetime | None = None
    ) -> PortfolioView:
        """Value ``info`` at the last stored closes (the bars closed by ``as_of`` when given: a replay clock): its
        paper account caught up first; positions from the stored fills of every account; cash from the paper
        account's balances (see :class:`PortfolioView`). ``symbols`` are priced too, and the paper account can
        trade them (targets of a rebalance).

        Raises:
            NotFoundError: a held or asked symbol without stored candles (naming it and its account).
            DataError: a quote currency without a rate to the base currency, or a stored fill the book refuses.
        """
        wanted = set(symbols)
        candles = self._once()
        desk = await self._open_desk(info, wanted, as_of, candles)
        info = await self._portfolios.get(info.id)
        balances = await desk.balances()
        kinds = {a.account: a.asset_class for a in info.accounts}
        fills = await self._orders.account_fills(sorted(kinds))
        paper = paper_account(info.id)
        traded = {f.symbol for account, f in fills if account == paper}
        classes = symbol_classes(traded, await candles.series()) if traded else {}
        book = book_of(fills, kinds, classes)
        holdings = book.open_holdings()
        held = {h.symbol: h.account for h in holdings}
        prices = await last_prices(candles, set(held) | wanted, held, as_of=as_of)
        bases = {split_symbol(h.symbol)[0] for h in holdings if h.account == paper}
        base = info.base_currency
        cash = {b.asset: b.total for b in balances if b.asset not in bases and has_rate(b.asset, base)}
        unvalued = sorted(b.asset for b in balances if b.asset not in bases and not has_rate(b.asset, base))
        valuation = book.value({s: p.price for s, p in prices.items()}, cash, base_currency=base)
        return PortfolioView(info, desk, balances, book, prices, valuation, unvalued)
