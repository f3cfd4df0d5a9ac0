"""What ``tsbot portfolio`` reads and prints: a portfolio found by name, its book built from the stored fills of
its accounts, last prices from the candle store, its snapshots; and the figures as plain, JSON-ready data.

Money in JSON is a Decimal written as a plain-notation string; ratios are floats; days are ISO dates (UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from tsbot.adapters.storage.portfolios import PortfolioInfo
from tsbot.config import Settings
from tsbot.core.enums import AssetClass
from tsbot.core.errors import NotFoundError
from tsbot.core.time import from_ms
from tsbot.trading.models import MarketRules
from tsbot.trading.paper_books import SNAPSHOTS_NEEDED, LastPrice, book_of, paper_account, symbol_classes
from tsbot.trading.paper_books import last_prices as stored_last_prices
from tsbot.trading.performance import DailySnapshot, Period, performance_stats
from tsbot.trading.portfolio import Book, Valuation
from tsbot.wiring import Services, open_services

#: Price step of the default market rules (quote currency).
DEFAULT_TICK = Decimal("0.01")
#: Quantity step of the default market rules: 1e-8 of a coin, one share.
DEFAULT_LOT = {AssetClass.CRYPTO: Decimal("0.00000001"), AssetClass.STOCK: Decimal(1)}


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """A portfolio as stored now: its book, last prices (open holdings, and targets when asked), snapshots
    (oldest first)."""

    info: PortfolioInfo
    book: Book
    prices: Mapping[str, LastPrice]
    snapshots: Sequence[DailySnapshot]

    @property
    def latest(self) -> DailySnapshot | None:
        """The newest daily snapshot, or None when none is stored yet."""
        return self.snapshots[-1] if self.snapshots else None

    def value(self) -> Valuation:
        """The book at the last prices, with the newest snapshot's cash (0 when there is none), in the base
        currency.

        Raises:
            DataError: a quote currency without a rate to the base currency.
        """
        cash = {} if self.latest is None else {self.info.base_currency: self.latest.cash}
        prices = {s: p.price for s, p in self.prices.items()}
        return self.book.value(prices, cash, base_currency=self.info.base_currency)

    def asset_class(self, symbol: str) -> AssetClass:
        """The asset class of ``symbol``: as held on an account, else that of its candle series, else crypto."""
        for h in self.book.holdings():
            if h.symbol == symbol:
                return h.asset_class
        price = self.prices.get(symbol)
        return price.asset_class if price is not None else AssetClass.CRYPTO

    def market_rules(self, symbol: str) -> MarketRules:
        """Default rules of ``symbol``: tick 0.01, lot 1e-8 (crypto) or 1 (stock), no minimum (no venue asked)."""
        kind = self.asset_class(symbol)
        return MarketRules(symbol, DEFAULT_TICK, DEFAULT_LOT[kind], asset_class=kind)


async def find_portfolio(services: Services, owner: str, name: str) -> PortfolioInfo:
    """The portfolio of ``owner`` named ``name`` (surrounding spaces ignored).

    Raises:
        NotFoundError: ``no portfolio named <name>``.
    """
    wanted = name.strip()
    for info in await services.portfolios.list(owner):
        if info.name == wanted:
            return info
    raise NotFoundError(f"no portfolio named {wanted} (owner {owner}); `tsbot portfolio list` shows them")


async def last_prices(
    services: Services, symbols: Iterable[str], held: Mapping[str, str]
) -> dict[str, LastPrice]:
    """The last close of each symbol from the candle store (see :func:`tsbot.trading.paper_books.last_prices`).

    Raises:
        NotFoundError: a symbol with no stored candles, naming it (and ``held[symbol]``, the account holding it).
        DataError: a stored close that is not a positive number.
    """
    return await stored_last_prices(services.candles, symbols, held)


async def load_state(
    settings: Settings, owner: str, name: str, *, with_targets: bool = False
) -> PortfolioState:
    """Read the portfolio ``name`` of ``owner``: fills of all its accounts applied to a :class:`Book` (each with
    its account's asset class; the paper account's fills with the class of their symbol's stored series, so a
    held ``AAPL/USD`` is a stock, as the API and the dashboard label it), last prices of its open holdings (and of
    its target symbols when ``with_targets``), its snapshots.

    Raises:
        NotFoundError: no such portfolio; a symbol to price without candles.
        DataError: a stored fill the book refuses, or a bad stored close.
    """
    async with open_services(settings) as services:
        info = await find_portfolio(services, owner, name)
        kinds = {a.account: a.asset_class for a in info.accounts}
        fills = await services.orders.account_fills(sorted(kinds)) if kinds else []
        paper = paper_account(info.id)
        traded = {f.symbol for account, f in fills if account == paper}
        classes = symbol_classes(traded, await services.candles.series()) if traded else {}
        book = book_of(fills, kinds, classes)
        open_holdings = book.open_holdings()
        held = {h.symbol: h.account for h in open_holdings}
        symbols = set(held) | (set(info.target_weights) if with_targets else set())
        prices = await last_prices(services, symbols, held)
        snapshots = await services.portfolios.snapshots(info.id)
    return PortfolioState(info, book, prices, snapshots)


def dec(value: Decimal | None) -> str | None:
    """A Decimal as a plain-notation string without trailing zeros (None stays None): the JSON form of money and
    quantities (``41000`` for ``41000.000``)."""
    return None if value is None else format(value.normalize(), "f")


def prices_note(prices: Mapping[str, LastPrice]) -> str:
    """``BTC/USDT 44000 (binance 1h, bar of 2026-03-02 12:00 UTC), ...``: where each last price came from."""
    return ", ".join(
        f"{p.symbol} {format(p.price.normalize(), 'f')} ({p.series.key.exchange} {p.series.key.timeframe.value}, "
        f"bar of {from_ms(p.open_ms):%Y-%m-%d %H:%M} UTC)"
        for p in sorted(prices.values(), key=lambda p: p.symbol)
    )


def portfolio_dict(info: PortfolioInfo) -> dict[str, Any]:
    """The JSON form of a portfolio: id, name, owner, base currency, accounts, target weights, created_at."""
    return {
        "id": info.id,
        "name": info.name,
        "owner": info.owner,
        "base_currency": info.base_currency,
        "accounts": [
            {"account": a.account, "venue": a.venue, "asset_class": a.asset_class.value}
            for a in info.accounts
        ],
        "target_weights": {s: dec(w) for s, w in sorted(info.target_weights.items())},
        "created_at": info.created_at.isoformat(),
    }


def holdings_rows(state: PortfolioState, valuation: Valuation) -> list[dict[str, Any]]:
    """Every holding (open or closed) with its figures as Decimals (None where it has none): avg entry, last
    price, realised P&L and fees in its quote currency; value and unrealised P&L in the base currency."""
    valued = {(v.holding.account, v.holding.symbol): v for v in valuation.holdings}
    rows = []
    for h in state.book.holdings():
        v = valued.get((h.account, h.symbol))
        price = state.prices.get(h.symbol)
        rows.append(
            {
                "account": h.account,
                "symbol": h.symbol,
                "asset_class": h.asset_class.value,
                "qty": h.qty,
                "avg_entry": h.avg_entry,
                "last_price": None if v is None else v.price,
                "value": Decimal(0) if v is None else v.value,
                "unrealised_pnl": Decimal(0) if v is None else v.unrealised_pnl,
                "realised_pnl": h.realised_pnl,
                "fees": h.fees,
                "other_fees": dict(h.other_fees),
                "price_source": None
                if price is None or v is None
                else {
                    "exchange": price.series.key.exchange,
                    "symbol": price.series.key.symbol,
                    "timeframe": price.series.key.timeframe.value,
                    "bar_open": from_ms(price.open_ms).isoformat(),
                },
            }
        )
    return rows


def totals_dict(state: PortfolioState, valuation: Valuation) -> dict[str, Any]:
    """Totals in the base currency as Decimals; ``cash`` is None (and counted as 0 in equity) without snapshot."""
    latest = state.latest
    return {
        "base_currency": valuation.base_currency,
        "positions_value": valuation.positions_value,
        "unrealised_pnl": valuation.unrealised_pnl,
        "realised_pnl": valuation.realised_pnl,
        "fees": valuation.fees,
        "net_pnl": valuation.realised_pnl + valuation.unrealised_pnl - valuation.fees,
        "cash": None if latest is None else valuation.cash,
        "cash_day": None if latest is None else latest.day.isoformat(),
        "equity": valuation.equity,
    }


def performance_dict(
    snapshots: Sequence[DailySnapshot], period: Period, as_of: date | None = None
) -> dict[str, Any]:
    """Performance over ``period`` ending on the newest snapshot (or ``as_of``): the figures of
    :func:`performance_stats` (None where too few snapshots) and ``needs``: figure -> snapshots it needs.
    Without any snapshot: ``{"period", "snapshots": 0, "needs"}``."""
    base: dict[str, Any] = {"period": period.value, "snapshots": 0, "needs": dict(SNAPSHOTS_NEEDED)}
    if not snapshots:
        return base
    s = performance_stats(snapshots, period, as_of=as_of)
    return base | {
        "snapshots": s.snapshots,
        "start_day": s.start_day.isoformat(),
        "end_day": s.end_day.isoformat(),
        "days": s.days,
        "start_equity": s.start_equity,
        "end_equity": s.end_equity,
        "return_ratio": s.return_ratio,
        "sharpe": s.sharpe,
        "max_drawdown_ratio": s.max_drawdown_ratio,
        "max_drawdown_days": s.max_drawdown_days,
        "var_95_ratio": s.var_95_ratio,
    }


def jsonable(value: Any) -> Any:
    """``value`` with every Decimal turned into a plain-notation string, through dicts and lists."""
    if isinstance(value, Decimal):
        return dec(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
