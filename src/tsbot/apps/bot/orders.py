"""Paper orders from Telegram: ``/buy``, ``/sell`` and orders written as free text, placed only after the user presses
Confirm.

1. The order is read by the intake command parser (:func:`tsbot.intake.commands.parse_command`: "/buy 0.1 BTC",
   "/buy BTC 0.1 limit 42000", "sell half my ETH", "buy 500 USDT of SOL"). A command the parser is unsure of
   carries its question, which is the answer; leverage and attached stop-loss / take-profit are refused (the
   paper account trades spot, entries only).
2. The bot resolves the symbol to one with stored candles, sizes fractions from the paper balances, and answers
   with a summary and Confirm / Cancel buttons (:class:`Proposal`, carried in the Confirm button's data, so a
   restart loses nothing). The order goes to the user's first portfolio (the oldest).
3. Confirm places it on that portfolio's paper account through the same desk as the API
   (:func:`tsbot.apps.desk.open_desk`, every domain check: lot, tick, minimum notional, funds). Its client order
   id is derived from the chat and the summary message, so pressing Confirm twice, or a retried update, finds the
   stored order instead of placing a second one. A Confirm older than ``telegram.confirm_seconds`` places nothing.
   Cancel places nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from tsbot.accounts.models import Permission, User
from tsbot.adapters.storage.portfolios import PortfolioInfo
from tsbot.apps.bot import symbols
from tsbot.apps.bot.context import BotContext, Context, edit, for_linked, say
from tsbot.apps.bot.formatting import cash, num, order_text, price, when, zone_of
from tsbot.apps.bot.portfolio import NO_PORTFOLIO
from tsbot.apps.desk import open_desk
from tsbot.core.errors import DataError, NotFoundError
from tsbot.intake.commands import AmountKind, Command, CommandIntent, parse_command
from tsbot.intake.commands import OrderType as CommandOrderType
from tsbot.trading.models import OrderRejectedError, OrderRequest, OrderSide, OrderType
from tsbot.trading.orders import client_order_id
from tsbot.trading.paper_books import last_prices, paper_account
from tsbot.trading.portfolio import DOLLARS

#: Callback data of the Confirm button starts with this; Cancel is exactly :data:`CANCEL`.
PREFIX: Final = "o|"
CANCEL: Final = "o|x"
#: Telegram's limit on a button's callback data (bytes).
MAX_CALLBACK_BYTES: Final = 64
#: Characters of the portfolio id kept in the button (ids are 32 hex digits).
_KEY_CHARS: Final = 12
#: Decimals of a quantity computed from an amount or a fraction (rounded down; the lot size rounds further).
_QTY_PLACES: Final = Decimal("1e-8")
_SIDES: Final = {"b": OrderSide.BUY, "s": OrderSide.SELL}
_TYPES: Final = {"m": OrderType.MARKET, "l": OrderType.LIMIT, "s": OrderType.STOP}
_FROM_COMMAND: Final = {
    CommandOrderType.MARKET: OrderType.MARKET,
    CommandOrderType.LIMIT: OrderType.LIMIT,
    CommandOrderType.STOP: OrderType.STOP,
}
#: Intents that become an order proposal.
ORDER_INTENTS: Final = frozenset({CommandIntent.BUY, CommandIntent.SELL, CommandIntent.CLOSE_POSITION})


def _code(table: dict[str, object], value: object) -> str:
    return next(k for k, v in table.items() if v == value)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A paper order offered for confirmation.

    Attributes:
        side, order_type: buy or sell; market, limit or stop.
        symbol: ``BASE/QUOTE``.
        qty: base units (None when ``quote`` is set).
        quote: quote currency a market buy spends, fees included (None when ``qty`` is set).
        price: the limit price (limit) or the trigger (stop), quote currency; None at market.
        portfolio_key: the first 12 characters of the portfolio's id.
    """

    side: OrderSide
    order_type: OrderType
    symbol: str
    qty: Decimal | None
    quote: Decimal | None
    price: Decimal | None
    portfolio_key: str

    def encode(self) -> str:
        """The Confirm button's data: ``o|<side>|<type>|<q: qty, v: quote>|<amount>|<symbol>|<price>|<key>``.

        Raises:
            DataError: it does not fit Telegram's 64 bytes (a very long symbol or number).
        """
        kind, amount = ("q", self.qty) if self.qty is not None else ("v", self.quote)
        fields = [
            _code(_SIDES, self.side),
            _code(_TYPES, self.order_type),
            kind,
            format(amount, "f") if amount is not None else "",
            self.symbol,
            "" if self.price is None else format(self.price, "f"),
            self.portfolio_key,
        ]
        data = PREFIX + "|".join(fields)
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise DataError("this order does not fit a Telegram button: place it in tsbot → Orders instead")
        return data

    @classmethod
    def decode(cls, data: str) -> Proposal:
        """The proposal :meth:`encode` wrote.

        Raises:
            DataError: anything else.
        """
        refused = DataError("this button does not hold an order: send the order again")
        try:
            side, kind_type, kind, amount, symbol, limit, key = data.removeprefix(PREFIX).split("|")
            value = Decimal(amount)
            level = Decimal(limit) if limit else None
            numbers_ok = (
                value.is_finite() and value > 0 and (level is None or (level.is_finite() and level > 0))
            )
            if not (data.startswith(PREFIX) and "/" in symbol and kind in ("q", "v") and numbers_ok and key):
                raise refused
            return cls(
                _SIDES[side],
                _TYPES[kind_type],
                symbol,
                value if kind == "q" else None,
                value if kind == "v" else None,
                level,
                key,
            )
        except (ValueError, KeyError, InvalidOperation):
            raise refused from None

    def describe(self) -> str:
        """``BUY 0.1 BTC/USDT at market``, ``BUY 500 USDT of ETH/USDT at market``, ``SELL 1 BTC/USDT limit 42,000
        USDT``."""
        unit = self.symbol.split("/", 1)[1]
        side = self.side.value.upper()
        what = (
            f"{side} {num(self.qty)} {self.symbol}"
            if self.qty is not None
            else f"{side} {num(self.quote or 0)} {unit} of {self.symbol}"
        )
        if self.order_type is OrderType.LIMIT and self.price is not None:
            return f"{what} limit {price(self.price, unit)}"
        if self.order_type is OrderType.STOP and self.price is not None:
            return f"{what}, stop: at market once {price(self.price, unit)} trades"
        return f"{what} at market"


def keyboard(proposal: Proposal) -> InlineKeyboardMarkup:
    """Confirm / Cancel buttons for ``proposal``."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Confirm", callback_data=proposal.encode()),
                InlineKeyboardButton("Cancel", callback_data=CANCEL),
            ]
        ]
    )


def _same_currency(a: str, b: str) -> bool:
    return a == b or (a in DOLLARS and b in DOLLARS)


def _qty(value: Decimal) -> Decimal:
    return value.quantize(_QTY_PLACES, rounding=ROUND_DOWN).normalize()


async def first_portfolio(bot: BotContext, user: User) -> PortfolioInfo:
    """The user's oldest portfolio (where Telegram orders go).

    Raises:
        NotFoundError: the user has none.
    """
    found = await bot.services.portfolios.list(user.id)
    if not found:
        raise NotFoundError(NO_PORTFOLIO)
    return found[0]


async def propose(bot: BotContext, user: User, command: Command) -> tuple[Proposal, str]:
    """The proposal of a buy, sell or close ``command`` and the summary to confirm.

    Raises:
        DataError: the command asks a question, uses leverage or brackets, or sizes an amount the account cannot
            (no position to sell, a currency that is not the pair's quote).
        NotFoundError: an unknown symbol, no portfolio, no stored price.
    """
    if command.intent not in ORDER_INTENTS:
        raise DataError(f"{command.summary()} is not an order")
    if command.clarification:
        raise DataError(command.clarification)
    if command.leverage is not None and command.leverage != 1:
        raise DataError("paper accounts trade spot without leverage: send the order without it")
    if command.stop_loss is not None or command.take_profit is not None:
        raise DataError(
            "stop-loss and take-profit orders are not placed from Telegram: send the entry alone and add them "
            "in tsbot → Orders"
        )
    services = bot.services
    known = await symbols.known(services)
    symbol = known.tradable(known.resolve(command.symbol or ""))
    base, quote = symbol.split("/", 1)
    info = await first_portfolio(bot, user)
    side = OrderSide.BUY if command.intent is CommandIntent.BUY else OrderSide.SELL
    order_type = _FROM_COMMAND[command.order_type or CommandOrderType.MARKET]
    last = (await last_prices(services.candles, [symbol]))[symbol].price
    reference = command.price or last
    amount, kind = command.amount or Decimal(1), command.amount_kind or AmountKind.FRACTION
    qty: Decimal | None = None
    spend: Decimal | None = None
    if kind is AmountKind.QUANTITY:
        qty = amount
    elif kind is AmountKind.QUOTE:
        currency = command.amount_currency or quote
        if not _same_currency(currency, quote):
            raise DataError(f"{symbol} is priced in {quote}, not {currency}: give the amount in {quote}")
        if side is OrderSide.BUY and order_type is OrderType.MARKET:
            spend = amount
        else:
            qty = _qty(amount / reference)
    else:
        free = {b.asset: b.free for b in await (await open_desk(services, info, [symbol])).balances()}
        if side is OrderSide.SELL:
            held = free.get(base, Decimal(0))
            if held <= 0:
                raise DataError(f"you hold no {base} in portfolio {info.name}")
            qty = _qty(held * amount)
        else:
            currency = command.amount_currency or quote
            available = free.get(currency, Decimal(0)) if _same_currency(currency, quote) else Decimal(0)
            if available <= 0:
                raise DataError(f"portfolio {info.name} has no {currency} to buy {symbol} with")
            spend = (available * amount).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
            if order_type is not OrderType.MARKET:
                qty, spend = _qty(spend / reference), None
    if (qty is not None and qty <= 0) or (spend is not None and spend <= 0):
        raise DataError(f"that amount of {base} rounds to nothing: give a larger one")
    proposal = Proposal(side, order_type, symbol, qty, spend, command.price, info.id[:_KEY_CHARS])
    value = spend if spend is not None else (qty or Decimal(0)) * reference
    minutes = max(1, round(bot.confirm_ttl.total_seconds() / 60))
    summary = "\n".join(
        [
            "Confirm this paper order?",
            proposal.describe(),
            f"≈ {cash(value, quote)} (last close {price(last, quote)})",
            f"portfolio {info.name}",
            f"The buttons work for {minutes} min.",
        ]
    )
    return proposal, summary


async def offer(bot: BotContext, update: Update, context: Context, user: User, command: Command) -> None:
    """Answer ``command`` (a buy, sell or close) with its summary and Confirm / Cancel buttons, or with what is
    wrong with it."""
    proposal, summary = await propose(bot, user, command)
    await say(update, context, summary, keyboard(proposal))


async def parse_order(bot: BotContext, verb: str, words: Sequence[str]) -> Command:
    """``verb`` (``buy`` or ``sell``) and the command's words read by the command parser, knowing the stored
    symbols.

    Raises:
        DataError: no words, or words that say another thing than ``verb``.
    """
    text = " ".join(words).strip()
    if not text:
        raise DataError(f"What should I {verb}? For example: /{verb} 0.1 BTC or /{verb} BTC 0.1 limit 42000")
    bases = (await symbols.known(bot.services)).bases
    command = parse_command(f"{verb} {text}", bases or None)
    if command.intent.value != verb and command.clarification is None:
        raise DataError(f"/{verb} {text} reads as {command.summary()}: write it as /{verb} AMOUNT SYMBOL")
    return command


async def _place(bot: BotContext, user: User, proposal: Proposal, message: Message) -> str:
    """Place ``proposal`` once per summary ``message``; what to show in its place."""
    found = [
        p for p in await bot.services.portfolios.list(user.id) if p.id.startswith(proposal.portfolio_key)
    ]
    if len(found) != 1:
        return "Not placed: the portfolio of this order is gone. Send the order again."
    info = found[0]
    account = paper_account(info.id)
    cid = client_order_id(account, f"telegram-{message.chat.id}-{message.message_id}", "entry")
    stored = await bot.services.orders.get(cid)
    if stored is not None:
        return f"Already done, nothing more placed: {order_text(stored)}"
    try:
        desk = await open_desk(bot.services, info, [proposal.symbol])
    except NotFoundError as exc:
        return f"Refused: {exc}"
    estimate = proposal.qty
    if estimate is None:
        last = desk.broker.last_close(proposal.symbol)
        if last is None:
            return f"Refused: no price for {proposal.symbol} yet."
        estimate = (proposal.quote or Decimal(0)) / last
    request = OrderRequest(
        cid,
        account,
        proposal.symbol,
        proposal.side,
        proposal.order_type,
        estimate,
        price=proposal.price if proposal.order_type is OrderType.LIMIT else None,
        stop_price=proposal.price if proposal.order_type is OrderType.STOP else None,
        quote_qty=proposal.quote,
        reason=f"placed through Telegram by {user.email}",
    )
    try:
        order = await desk.place(request)
    except OrderRejectedError as exc:
        return f"Refused: {exc.reason}\n{proposal.describe()}"
    return f"Placed in {info.name}: {order_text(order)}"


def register(application: Application, bot: BotContext) -> None:  # type: ignore[type-arg]
    """Add ``/buy``, ``/sell`` and their Confirm / Cancel buttons to ``application``."""

    async def buy(update: Update, context: Context, user: User) -> None:
        await offer(bot, update, context, user, await parse_order(bot, "buy", context.args or ()))

    async def sell(update: Update, context: Context, user: User) -> None:
        await offer(bot, update, context, user, await parse_order(bot, "sell", context.args or ()))

    async def pressed(update: Update, context: Context, user: User) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        message = query.message
        if not isinstance(message, Message):
            await say(update, context, "This confirmation is too old: send the order again.")
            return
        if query.data == CANCEL:
            await edit(update, "Cancelled, nothing placed.")
            return
        proposal = Proposal.decode(query.data)
        if bot.clock() - message.date > bot.confirm_ttl:
            stamp = when(message.date, zone_of(user))
            await edit(update, f"Expired ({stamp}), nothing placed: send the order again.")
            return
        await edit(update, await _place(bot, user, proposal, message))

    write = Permission.WRITE_ORDERS
    application.add_handler(CommandHandler("buy", for_linked(bot, write, buy)))
    application.add_handler(CommandHandler("sell", for_linked(bot, write, sell)))
    application.add_handler(CallbackQueryHandler(for_linked(bot, write, pressed), pattern=r"^o\|"))
