"""``tsbot portfolio create|list|show|targets|rebalance``: portfolios of an owner, their holdings valued at the
last stored closes, performance from the daily snapshots, target weights and a rebalancing plan (never sent).

There are no user accounts yet: every command takes ``--owner`` (default ``local``, the machine's operator).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from tsbot.adapters.storage.portfolios import PortfolioInfo
from tsbot.apps.cli.common import console, err_console, run, settings_or_exit
from tsbot.apps.cli.portfolio_data import (
    PortfolioState,
    find_portfolio,
    holdings_rows,
    jsonable,
    load_state,
    performance_dict,
    portfolio_dict,
    prices_note,
    totals_dict,
)
from tsbot.core.errors import ConfigError, NotFoundError
from tsbot.trading.performance import Period, parse_period
from tsbot.trading.portfolio import RebalancePlan, Valuation, rebalance, validate_weights
from tsbot.wiring import open_services

portfolio_app = typer.Typer(
    help="Portfolios: holdings across accounts, performance, target weights and rebalancing plans.",
    no_args_is_help=True,
)

Owner = Annotated[str, typer.Option("--owner", help="Owner of the portfolios (no user accounts yet).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
PAPER_VENUE = "paper"


def _bad_argument(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _num(value: Decimal | None) -> str:
    """A quantity or price: at most 8 decimals, no trailing zeros; ``-`` for None."""
    if value is None:
        return "-"
    return format(value.quantize(Decimal("1e-8")).normalize(), "f")


def _money(value: Decimal | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _targets_text(weights: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{s} {_num(w)}" for s, w in sorted(weights.items())) or "-"


@portfolio_app.command("create")
def create_command(
    name: Annotated[str, typer.Argument(help="Name of the portfolio (unique per owner).")],
    currency: Annotated[str, typer.Option("--currency", help="Base currency of its figures.")] = "USD",
    owner: Owner = "local",
) -> None:
    """Create a portfolio with its paper account ``paper:<portfolio id>`` (venue paper, crypto)."""
    settings = settings_or_exit()

    async def _create() -> tuple[str, str]:
        async with open_services(settings) as services:
            info = await services.portfolios.create(owner, name, currency)
            account = f"{PAPER_VENUE}:{info.id}"
            await services.portfolios.attach_account(info.id, account, PAPER_VENUE, "crypto")
            return info.id, account

    pid, account = run(_create())
    console.print(f"created portfolio {name.strip()} for {owner}", highlight=False)
    console.print(f"id: {pid}\naccount: {account}", highlight=False)


@portfolio_app.command("list")
def list_command(owner: Owner = "local", as_json: AsJson = False) -> None:
    """The owner's portfolios, oldest first: name, id, base currency, accounts, target weights."""
    settings = settings_or_exit()

    async def _list() -> list[PortfolioInfo]:
        async with open_services(settings) as services:
            return await services.portfolios.list(owner)

    found = run(_list())
    if as_json:
        typer.echo(json.dumps([portfolio_dict(p) for p in found], indent=2))
        return
    if not found:
        console.print(
            f"No portfolios of {owner}; create one with `tsbot portfolio create NAME`.", highlight=False
        )
        return
    table = Table(title=f"Portfolios of {owner}", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("name", "id", "base", "accounts", "targets"):
        table.add_column(column, no_wrap=column != "targets")
    for p in found:
        accounts = ", ".join(a.account for a in p.accounts) or "-"
        table.add_row(p.name, p.id, p.base_currency, accounts, _targets_text(p.target_weights))
    console.print(table)


def _perf_cell(perf: dict[str, Any], key: str, figure: str, text: str) -> str:
    if perf.get(key) is not None:
        return text
    need, have = perf["needs"][figure], perf["snapshots"]
    if have < need:
        return f"- (needs {need} daily snapshots, has {have})"
    return "- (not defined for these snapshots: a start equity not above 0, or no variation)"


def _print_performance(perf: dict[str, Any]) -> None:
    period = perf["period"]
    if perf["snapshots"] == 0:
        console.print(f"performance ({period}): no daily snapshot yet", highlight=False)
        return
    console.print(
        f"performance ({period}, {perf['start_day']} to {perf['end_day']}, {perf['snapshots']} daily snapshots):",
        highlight=False,
    )
    ret, sharpe, dd, var = (perf[k] for k in ("return_ratio", "sharpe", "max_drawdown_ratio", "var_95_ratio"))
    lines = {
        "return": _perf_cell(perf, "return_ratio", "return", f"{(ret or 0) * 100:+.2f} %"),
        "Sharpe": _perf_cell(perf, "sharpe", "sharpe", f"{sharpe or 0:.2f}"),
        "max drawdown": _perf_cell(
            perf,
            "max_drawdown_ratio",
            "max_drawdown",
            f"{(dd or 0) * 100:.2f} % over {perf['max_drawdown_days']} days",
        ),
        "VaR 95 % (1 day)": _perf_cell(perf, "var_95_ratio", "var_95", f"{(var or 0) * 100:.2f} %"),
    }
    for label, text in lines.items():
        console.print(f"  {label}: {text}", highlight=False)


def _print_show(state: PortfolioState, rows: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    info, base = state.info, state.info.base_currency
    console.print(f"portfolio {info.name} ({info.id}), owner {info.owner}, base {base}", highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    heads = ("account", "symbol", "qty", "avg entry", "last", "value", "unrealised", "realised", "fees")
    for head in heads:
        table.add_column(head, justify="left" if head in ("account", "symbol") else "right", no_wrap=True)
    for r in rows:
        table.add_row(
            r["account"],
            r["symbol"],
            _num(r["qty"]),
            _num(r["avg_entry"]),
            _num(r["last_price"]),
            _money(r["value"]),
            _money(r["unrealised_pnl"], signed=True),
            _money(r["realised_pnl"], signed=True),
            _money(r["fees"]),
        )
    if rows:
        table.add_section()
        table.add_row(
            "total",
            "",
            "",
            "",
            "",
            _money(totals["positions_value"]),
            _money(totals["unrealised_pnl"], signed=True),
            _money(totals["realised_pnl"], signed=True),
            _money(totals["fees"]),
            style="bold",
        )
        console.print(table)
        console.print(
            f"avg entry, last, realised and fees per row in the symbol's quote currency; value, unrealised and "
            f"totals in {base}",
            highlight=False,
        )
        if state.prices:
            console.print(f"last prices: {prices_note(state.prices)}", highlight=False)
    else:
        console.print("no holdings: no fill on its accounts yet", highlight=False)
    if totals["cash"] is None:
        console.print("cash: unknown, no snapshot yet (equity counts cash as 0)", highlight=False)
    else:
        console.print(
            f"cash: {_money(totals['cash'])} {base} (snapshot of {totals['cash_day']})", highlight=False
        )
    console.print(
        f"equity: {_money(totals['equity'])} {base}; net P&L: {_money(totals['net_pnl'], signed=True)} {base} "
        "(realised + unrealised - fees)",
        highlight=False,
    )


def _period_or_exit(period: str) -> Period:
    try:
        return parse_period(period)
    except ConfigError as exc:
        raise _bad_argument(str(exc)) from None


@portfolio_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Name of the portfolio.")],
    owner: Owner = "local",
    period: Annotated[str, typer.Option("--period", help="1d, 7d, 30d, 90d, 1y or all.")] = "30d",
    as_json: AsJson = False,
) -> None:
    """Holdings of all the portfolio's accounts at the last stored closes, cash from the newest daily snapshot,
    totals, and performance over ``--period`` from the snapshots (return, Sharpe, max drawdown, 95 % VaR)."""
    chosen = _period_or_exit(period)
    settings = settings_or_exit()

    async def _show() -> tuple[PortfolioState, Valuation, dict[str, Any]]:
        state = await load_state(settings, owner, name)
        return state, state.value(), performance_dict(state.snapshots, chosen)

    state, valuation, perf = run(_show())
    rows, totals = holdings_rows(state, valuation), totals_dict(state, valuation)
    if as_json:
        out = {
            "portfolio": portfolio_dict(state.info),
            "holdings": rows,
            "totals": totals,
            "performance": perf,
        }
        typer.echo(json.dumps(jsonable(out), indent=2))
        return
    _print_show(state, rows, totals)
    _print_performance(perf)


def parse_targets(pairs: list[str]) -> dict[str, Decimal]:
    """``["BTC/USDT=0.5", ...]`` -> validated weights (symbols upper-cased).

    Raises:
        ConfigError: a pair without ``=``, a symbol given twice, or weights :func:`validate_weights` refuses.
    """
    raw: dict[str, str] = {}
    for pair in pairs:
        symbol, sep, weight = pair.partition("=")
        symbol = symbol.strip().upper()
        if not sep or not symbol or not weight.strip():
            raise ConfigError(f"target {pair!r} must be SYMBOL=WEIGHT (BTC/USDT=0.5)")
        if symbol in raw:
            raise ConfigError(f"target {symbol} is given twice")
        raw[symbol] = weight.strip()
    return validate_weights(raw)


@portfolio_app.command("targets")
def targets_command(
    name: Annotated[str, typer.Argument(help="Name of the portfolio.")],
    pairs: Annotated[
        list[str] | None, typer.Argument(help="SYMBOL=WEIGHT pairs (BTC/USDT=0.5 ETH/USDT=0.3).")
    ] = None,
    owner: Owner = "local",
    clear: Annotated[bool, typer.Option("--clear", help="Remove every target weight.")] = False,
) -> None:
    """Replace the portfolio's target weights (shares of equity, each 0-1, summing to at most 1: the rest is
    cash). Bad weights exit with code 2 and the reason."""
    if clear and pairs:
        raise _bad_argument("give SYMBOL=WEIGHT pairs or --clear, not both")
    if not clear and not pairs:
        raise _bad_argument("give SYMBOL=WEIGHT pairs (BTC/USDT=0.5), or --clear to remove the targets")
    try:
        weights = {} if clear else parse_targets(pairs or [])
    except ConfigError as exc:
        raise _bad_argument(str(exc)) from None
    settings = settings_or_exit()

    async def _set() -> PortfolioInfo:
        async with open_services(settings) as services:
            info = await find_portfolio(services, owner, name)
            return await services.portfolios.set_targets(info.id, weights, owner=owner)

    info = run(_set())
    if not info.target_weights:
        console.print(f"portfolio {info.name}: no target weights", highlight=False)
        return
    cash = Decimal(1) - sum(info.target_weights.values(), Decimal(0))
    console.print(
        f"portfolio {info.name} targets: {_targets_text(info.target_weights)}; cash {_num(cash)}",
        highlight=False,
    )


def _print_plan(plan: RebalancePlan, equity: Decimal, source: str, state: PortfolioState) -> None:
    base = state.info.base_currency
    console.print(
        f"Rebalancing plan for {state.info.name} at equity {_money(equity)} {base} ({source})",
        highlight=False,
    )
    console.print(f"last prices: {prices_note(state.prices)}", highlight=False)
    if plan.orders:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for head in ("side", "symbol", "qty", "notional", "reason"):
            table.add_column(head, justify="right" if head in ("qty", "notional") else "left", no_wrap=True)
        for o in plan.orders:
            table.add_row(o.side.value, o.symbol, _num(o.qty), _money(o.notional), o.reason)
        console.print(table)
    else:
        console.print("no orders: every symbol is within 1 % of the equity of its target", highlight=False)
    for o in plan.skipped:
        console.print(f"skipped {o.side.value} {_num(o.qty)} {o.symbol}: {o.reason}", highlight=False)
    console.print(
        "This is a plan only: nothing was sent. Sizes use tick 0.01 and lot 1e-8 (crypto) or 1 share (stock).",
        highlight=False,
    )


@portfolio_app.command("rebalance")
def rebalance_command(
    name: Annotated[str, typer.Argument(help="Name of the portfolio.")],
    owner: Owner = "local",
    equity: Annotated[
        str | None,
        typer.Option("--equity", help="Equity to rebalance, base currency (default: newest snapshot)."),
    ] = None,
) -> None:
    """Print the orders that would move the holdings to the target weights at the last stored closes (sells
    first), and the orders skipped with the reason. Nothing is sent."""
    given: Decimal | None = None
    if equity is not None:
        try:
            given = Decimal(equity.strip())
        except InvalidOperation:
            raise _bad_argument(f"--equity must be a number, got {equity!r}") from None
        if not (given.is_finite() and given > 0):
            raise _bad_argument(f"--equity must be above 0, got {equity}")
    settings = settings_or_exit()

    async def _rebalance() -> tuple[RebalancePlan, Decimal, str, PortfolioState]:
        state = await load_state(settings, owner, name, with_targets=True)
        info = state.info
        if not info.target_weights:
            raise NotFoundError(
                f"portfolio {info.name} has no target weights; set them with "
                f"`tsbot portfolio targets {info.name} SYMBOL=WEIGHT ...`"
            )
        if given is not None:
            value, source = given, "given with --equity"
        elif state.latest is not None:
            value, source = state.latest.equity, f"snapshot of {state.latest.day.isoformat()}"
        else:
            raise NotFoundError(
                f"portfolio {info.name} has no snapshot yet to take its equity from; pass --equity"
            )
        held = state.book.quantities()
        rules = {s: state.market_rules(s) for s in set(info.target_weights) | set(held)}
        prices = {s: p.price for s, p in state.prices.items()}
        plan = rebalance(info.target_weights, held, prices, value, rules)
        return plan, value, source, state

    _print_plan(*run(_rebalance()))


from tsbot.apps.cli.paper_trade import deposit_command, withdraw_command  # noqa: E402

portfolio_app.command("deposit")(deposit_command)
portfolio_app.command("withdraw")(withdraw_command)
