"""``tsbot order place|cancel|sync``, ``tsbot portfolio deposit|withdraw``: the paper account of a portfolio.

A portfolio's paper account (``paper:<portfolio id>``) is rebuilt from the database on every command
(:class:`~tsbot.trading.paper_account.PaperDesk`): money from its ledger (``tsbot portfolio deposit``), positions
from its stored fills, and its resting orders worked first against the candles stored since they were placed
(``tsbot data download`` brings new ones). A market order then fills at once at the last stored close, with the
paper fees; limit and stop orders rest until a later candle reaches them. Market rules come from the last price
(:func:`~tsbot.trading.replay.paper_rules`). As on the API, the dashboard and the Telegram bot, a stock order is
refused outside the NYSE's regular session (:class:`~tsbot.trading.market_hours.StockHoursCheck` at the services'
clock): the command exits with code 1 and the reason, the refused order is stored as rejected, and nothing is
queued for the open. The order commands are registered on ``order_app`` by
:mod:`tsbot.apps.cli.order`, the money commands on ``portfolio_app`` by :mod:`tsbot.apps.cli.portfolio`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from tsbot.apps.cli.common import console, run, settings_or_exit
from tsbot.apps.cli.portfolio_data import find_portfolio
from tsbot.core.errors import NotFoundError
from tsbot.trading.market_hours import StockHoursCheck
from tsbot.trading.models import Fill, Order, OrderRejectedError, OrderRequest, OrderSide, OrderType
from tsbot.trading.orders import client_order_id
from tsbot.trading.paper_account import PaperDesk
from tsbot.trading.paper_books import open_paper_desk, paper_account
from tsbot.wiring import Services, open_services

Owner = Annotated[str, typer.Option("--owner", help="Owner of the portfolio (the command line's operator).")]
Portfolio = Annotated[str, typer.Option("--portfolio", "-p", help="Portfolio whose paper account trades.")]


def decimal_option(text: str | None, name: str) -> Decimal | None:
    """``text`` as a Decimal (None stays None).

    Raises:
        typer.BadParameter: not a finite number (naming the option).
    """
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number", param_hint=name) from None
    if not value.is_finite():
        raise typer.BadParameter(f"{text!r} is not a finite number", param_hint=name)
    return value


async def open_desk(
    services: Services, owner: str, portfolio: str, symbols: Iterable[str] = ()
) -> tuple[PaperDesk, list[Fill]]:
    """The paper account of ``owner``'s ``portfolio``, caught up: its resting orders worked against the candles
    stored since the oldest of them was placed. Returns the desk and the fills that catching up made. The desk
    refuses a stock order outside US market hours at ``services.clock``, as the desk of the API does
    (:func:`tsbot.apps.desk.valuer`).

    Raises:
        NotFoundError: no such portfolio, or no candles for a symbol it trades.
    """
    info = await find_portfolio(services, owner, portfolio)
    return await open_paper_desk(
        paper_account(info.id),
        orders=services.orders,
        ledger=services.paper_ledger(),
        candles=services.candles,
        symbols=symbols,
        checks=[StockHoursCheck(services.stock_hours, services.clock)],
    )


def _print_fills(fills: list[Fill], what: str) -> None:
    for f in fills:
        console.print(
            f"{what}: {f.side.value} {f.qty.normalize():f} {f.symbol} at {f.price.normalize():f} "
            f"(fee {f.fee.normalize():f} {f.fee_currency}) on the bar of {f.filled_at:%Y-%m-%d %H:%M} UTC",
            highlight=False,
        )


def _print_order(order: Order) -> None:
    r = order.request
    line = f"order {r.client_order_id}: {r.side.value} {r.qty.normalize():f} {r.symbol} {r.order_type.value}"
    line += f" -> {order.status.value}"
    if order.filled_qty > 0 and order.avg_fill_price is not None:
        line += f", filled {order.filled_qty.normalize():f} at {order.avg_fill_price.normalize():f}"
        line += f", fees {order.fees.normalize():f}"
    console.print(line, highlight=False)
    console.print(f"  {order.history[-1].reason}", highlight=False)


async def _print_balances(desk: PaperDesk) -> None:
    found = await desk.balances()
    text = ", ".join(
        f"{b.asset} {b.total.normalize():f}"
        + (f" ({b.locked.normalize():f} held by orders)" if b.locked else "")
        for b in found
    )
    console.print(f"balances: {text or 'none (deposit with `tsbot portfolio deposit`)'}", highlight=False)


def place_command(
    side: Annotated[str, typer.Argument(help="buy or sell")],
    symbol: Annotated[str, typer.Argument(help="BASE/QUOTE, e.g. BTC/USDT")],
    qty: Annotated[str | None, typer.Argument(help="quantity in the base asset (omit with --amount)")] = None,
    portfolio: Portfolio = "main",
    order_type: Annotated[str, typer.Option("--type", help="market, limit, stop or stop_limit")] = "market",
    price: Annotated[str | None, typer.Option(help="limit price (limit, stop_limit)")] = None,
    stop: Annotated[str | None, typer.Option(help="stop trigger (stop, stop_limit)")] = None,
    amount: Annotated[
        str | None, typer.Option(help="market buy: quote currency to spend, fees included")
    ] = None,
    order_id: Annotated[
        str | None, typer.Option("--id", help="your id for this order: the same id never places it twice")
    ] = None,
    owner: Owner = "local",
) -> None:
    """Place an order on the portfolio's paper account; a market order fills at the last stored close."""
    settings = settings_or_exit()
    try:
        order_side = OrderSide(side.strip().lower())
    except ValueError:
        raise typer.BadParameter(f"{side!r} is not buy or sell", param_hint="SIDE") from None
    try:
        kind = OrderType(order_type.strip().lower().replace("-", "_"))
    except ValueError:
        allowed = ", ".join(t.value for t in OrderType)
        raise typer.BadParameter(f"{order_type!r} is not one of {allowed}", param_hint="--type") from None
    quantity, quote = decimal_option(qty, "QTY"), decimal_option(amount, "--amount")
    if (quantity is None) == (quote is None):
        raise typer.BadParameter("give a quantity or --amount (one of them)", param_hint="QTY")
    sym = symbol.strip().upper()

    async def _place() -> tuple[list[Fill], Order, PaperDesk]:
        async with open_services(settings) as services:
            desk, caught = await open_desk(services, owner, portfolio, [sym])
            estimate = quantity
            if quote is not None:
                last = desk.broker.last_close(sym)
                if last is None:
                    raise NotFoundError(f"no price for {sym}: download its candles first")
                estimate = quote / last  # the fill sets the quantity that the amount pays for
            assert estimate is not None
            request = OrderRequest(
                client_order_id(desk.account, f"cli-{order_id or uuid.uuid4().hex}", "entry"),
                desk.account,
                sym,
                order_side,
                kind,
                estimate,
                price=decimal_option(price, "--price"),
                stop_price=decimal_option(stop, "--stop"),
                quote_qty=quote,
                reason="placed on the command line",
            )
            order = await desk.place(request)
            return caught, order, desk

    caught, order, desk = run(_place())
    _print_fills(caught, "resting order filled")
    _print_order(order)
    run(_print_balances(desk))


def cancel_command(
    order_ref: Annotated[str, typer.Argument(help="client order id (or its start, as `order list` shows)")],
    portfolio: Portfolio = "main",
    owner: Owner = "local",
) -> None:
    """Cancel a resting order of the portfolio's paper account (after working the candles stored since)."""
    settings = settings_or_exit()

    async def _cancel() -> tuple[list[Fill], Order]:
        from tsbot.apps.cli.order import find_order

        async with open_services(settings) as services:
            found = await find_order(services, order_ref)
            desk, caught = await open_desk(services, owner, portfolio)
            if found.request.account != desk.account:
                raise OrderRejectedError(
                    f"order {found.client_order_id} is on {found.request.account}, not on portfolio {portfolio}"
                )
            return caught, await desk.cancel(found.client_order_id)

    caught, order = run(_cancel())
    _print_fills(caught, "resting order filled")
    _print_order(order)


def sync_command(portfolio: Portfolio = "main", owner: Owner = "local") -> None:
    """Work the portfolio's resting paper orders against the candles stored since they were placed."""
    settings = settings_or_exit()

    async def _sync() -> tuple[PaperDesk, list[Fill]]:
        async with open_services(settings) as services:
            return await open_desk(services, owner, portfolio)

    desk, caught = run(_sync())
    _print_fills(caught, "filled")
    console.print(f"{len(desk.working)} order(s) still resting", highlight=False)
    run(_print_balances(desk))


def _move_money(owner: str, portfolio: str, amount: str, asset: str, withdraw: bool) -> None:
    settings = settings_or_exit()
    value = decimal_option(amount, "AMOUNT")
    assert value is not None

    async def _move() -> PaperDesk:
        async with open_services(settings) as services:
            desk, _ = await open_desk(services, owner, portfolio)
            if withdraw:
                await desk.withdraw(asset, value)
            else:
                await desk.deposit(asset, value)
            return desk

    desk = run(_move())
    verb = "withdrew" if withdraw else "deposited"
    console.print(f"{verb} {value.normalize():f} {asset.upper()} ({desk.account})", highlight=False)
    run(_print_balances(desk))


def deposit_command(
    name: Annotated[str, typer.Argument(help="portfolio name")],
    amount: Annotated[str, typer.Argument(help="how much to put in")],
    asset: Annotated[str, typer.Option(help="the asset (a quote currency such as USDT or USD)")] = "USDT",
    owner: Owner = "local",
) -> None:
    """Put money into the portfolio's paper account (kept in its ledger)."""
    _move_money(owner, name, amount, asset, withdraw=False)


def withdraw_command(
    name: Annotated[str, typer.Argument(help="portfolio name")],
    amount: Annotated[str, typer.Argument(help="how much to take out")],
    asset: Annotated[str, typer.Option(help="the asset")] = "USDT",
    owner: Owner = "local",
) -> None:
    """Take money out of the portfolio's paper account (no more than is free)."""
    _move_money(owner, name, amount, asset, withdraw=True)
