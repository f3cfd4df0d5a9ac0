"""A stateful local server shaped like Binance's spot REST API, for trading through ccxt.

It keeps balances, orders and trades in memory and answers with Binance's own shapes and error codes:
``/api/v3/exchangeInfo`` (PRICE_FILTER, LOT_SIZE, NOTIONAL filters), ``/api/v3/time``, ``/api/v3/ping``,
``POST/GET/DELETE /api/v3/order``, ``/api/v3/openOrders``, ``/api/v3/account`` and ``/api/v3/myTrades``.
Signed endpoints accept any signature but need the ``X-MBX-APIKEY`` header (and, when ``api_key`` is given, that
key). A MARKET order fills at once at the symbol's price (:meth:`FakeBinance.set_price`) with a 0.1 % commission
(buys pay it in the base asset, sells in the quote asset, as Binance does without BNB); a LIMIT order fills at
once when marketable, else rests as NEW until :meth:`FakeBinance.fill`.

Faults: ``fail(path, nth, Fault.RATE_LIMIT | SERVER_ERROR | STALL)`` for the ``nth`` request to ``path`` (all
methods counted together). ``hold_next_order()`` makes the next ``POST /api/v3/order`` record the order, set
``order_received`` and wait for the returned event before answering. ``requests`` logs
``(method, path, params)``. Run ``python -m tests.support.fake_binance --port N`` to serve from another process.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import ROUND_DOWN, Decimal
from typing import Any

from aiohttp import web

from tests.support.exchange_servers import Fault, binance_exchange_info
from tests.support.fake_venue import FakeVenue

API = "/api/v3"
FEE_RATE = Decimal("0.001")
#: The filters every market lists (exchange_servers.binance_symbol_info), enforced on orders here.
TICK = Decimal("0.01")
STEP = Decimal("0.00001")
MIN_QTY = Decimal("0.00001")
MIN_NOTIONAL = Decimal("5")
_FINAL = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")


def _ms() -> int:
    return int(time.time() * 1000)


def _s(value: Decimal) -> str:
    return f"{value:.8f}"


class FakeBinance(FakeVenue):
    """Binance spot in memory, served on ``127.0.0.1`` from its own thread and event loop (use as a context
    manager). ``prices`` and ``balances`` are in Decimal, keyed by Binance symbol (``"BTCUSDT"``) and asset."""

    def __init__(self, *, port: int = 0, api_key: str | None = None, stall_s: float = 2.0) -> None:
        super().__init__(port=port, api_key=api_key, stall_s=stall_s)
        self.markets = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT")}
        self.prices = {"BTCUSDT": Decimal("60000"), "ETHUSDT": Decimal("3000")}
        self.balances: dict[str, list[Decimal]] = {
            "USDT": [Decimal("10000"), Decimal(0)],
            "BTC": [Decimal("0.5"), Decimal(0)],
            "ETH": [Decimal(0), Decimal(0)],
        }
        self.orders: dict[int, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self._next_id = 1000

    # -- controls -----------------------------------------------------------------------------------------
    @property
    def api_urls(self) -> dict[str, str]:
        """``urls["api"]`` entries that point ccxt's binance at this server."""
        return {"public": self.base_url + API, "private": self.base_url + API}

    def set_price(self, symbol: str, price: Decimal | str) -> None:
        """The price MARKET orders of ``symbol`` (``"BTC/USDT"`` or ``"BTCUSDT"``) fill at."""
        with self._lock:
            self.prices[symbol.replace("/", "")] = Decimal(str(price))

    def set_balance(self, asset: str, free: Decimal | str) -> None:
        with self._lock:
            self.balances[asset] = [Decimal(str(free)), self.balances.get(asset, [0, Decimal(0)])[1]]

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((o for o in self.orders.values() if o["clientOrderId"] == client_order_id), None)

    def fill(self, client_order_id: str, qty: Decimal | str) -> None:
        """Execute ``qty`` of a resting order at its limit price (partial or complete)."""
        with self._lock:
            order = self.order_by_client_id(client_order_id)
            if order is None or order["status"] in _FINAL:
                raise KeyError(f"no working order {client_order_id}")
            self._execute(order, Decimal(str(qty)), Decimal(order["price"]), locked=True)

    # -- lifecycle ------------------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(API + "/exchangeInfo", self._exchange_info)
        app.router.add_get(API + "/time", self._time)
        app.router.add_get(API + "/ping", self._ping)
        app.router.add_post(API + "/order", self._new_order)
        app.router.add_get(API + "/order", self._get_order)
        app.router.add_delete(API + "/order", self._cancel_order)
        app.router.add_get(API + "/openOrders", self._open_orders)
        app.router.add_get(API + "/account", self._account)
        app.router.add_get(API + "/myTrades", self._my_trades)
        return app

    # -- request handling -----------------------------------------------------------------------------------
    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        """Query and (for POST) form parameters: signed Binance calls send them either way."""
        params = dict(request.query)
        if request.method in ("POST", "PUT"):
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    @staticmethod
    def _error(status: int, code: int, msg: str) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        params = await self._params(request)
        with self._lock:
            self._counts[request.path] += 1
            self.requests.append((request.method, request.path, params))
            fault = self._faults.get((request.path, self._counts[request.path]))
        if fault is Fault.RATE_LIMIT:
            resp = self._error(
                429, -1003, "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute."
            )
            resp.headers["Retry-After"] = "1"
            return resp
        if fault is Fault.SERVER_ERROR:
            return self._error(
                500, -1001, "Internal error; unable to process your request. Please try again."
            )
        if fault is Fault.STALL:
            await asyncio.sleep(self.stall_s)
        if request.path not in (API + "/exchangeInfo", API + "/time", API + "/ping"):
            key = request.headers.get("X-MBX-APIKEY")
            if not key:
                return self._error(401, -2014, "API-key format invalid.")
            if self.api_key is not None and key != self.api_key:
                return self._error(401, -2015, "Invalid API-key, IP, or permissions for action.")
            if "signature" not in params or "timestamp" not in params:
                return self._error(
                    400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
                )
        return await handler(request)

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response(binance_exchange_info({m: f"{b}/{q}" for m, (b, q) in self.markets.items()}))

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": _ms()})

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    # -- order book keeping (call with the lock held) --------------------------------------------------------
    def _execute(
        self, order: dict[str, Any], qty: Decimal, price: Decimal, *, locked: bool
    ) -> dict[str, Any]:
        base, quote = self.markets[order["symbol"]]
        buy = order["side"] == "BUY"
        notional = qty * price
        fee = ((qty if buy else notional) * FEE_RATE).quantize(Decimal("0.00000001"), ROUND_DOWN)
        if buy:
            spent_from = 1 if locked else 0
            self.balances[quote][spent_from] -= qty * Decimal(order["price"]) if locked else notional
            if locked:  # a limit buy filled below its price gives the difference back
                self.balances[quote][0] += qty * (Decimal(order["price"]) - price)
            self.balances.setdefault(base, [Decimal(0), Decimal(0)])[0] += qty - fee
        else:
            self.balances[base][1 if locked else 0] -= qty
            self.balances.setdefault(quote, [Decimal(0), Decimal(0)])[0] += notional - fee
        self._next_id += 1
        now = _ms()
        trade = {
            "symbol": order["symbol"],
            "id": self._next_id,
            "orderId": order["orderId"],
            "orderListId": -1,
            "price": _s(price),
            "qty": _s(qty),
            "quoteQty": _s(notional),
            "commission": _s(fee),
            "commissionAsset": base if buy else quote,
            "time": now,
            "isBuyer": buy,
            "isMaker": locked,
            "isBestMatch": True,
        }
        self.trades.append(trade)
        executed = Decimal(order["executedQty"]) + qty
        order["executedQty"] = _s(executed)
        order["cummulativeQuoteQty"] = _s(Decimal(order["cummulativeQuoteQty"]) + notional)
        order["status"] = "FILLED" if executed >= Decimal(order["origQty"]) else "PARTIALLY_FILLED"
        order["updateTime"] = now
        return trade

    def _reject(self, params: dict[str, str], symbol: str) -> web.Response | None:
        if symbol not in self.markets:
            return self._error(400, -1121, "Invalid symbol.")
        client_id = params.get("newClientOrderId")
        if client_id and any(o["clientOrderId"] == client_id for o in self.orders.values()):
            return self._error(400, -2010, "Duplicate order sent.")
        qty = self._quantity(params, symbol)
        if qty < MIN_QTY or qty % STEP != 0:
            return self._error(400, -1013, "Filter failure: LOT_SIZE")
        price = Decimal(params["price"]) if params.get("price") else self.prices[symbol]
        if price % TICK != 0:
            return self._error(400, -1013, "Filter failure: PRICE_FILTER")
        if qty * price < MIN_NOTIONAL:
            return self._error(400, -1013, "Filter failure: NOTIONAL")
        base, quote = self.markets[symbol]
        need, asset = (qty * price, quote) if params.get("side") == "BUY" else (qty, base)
        if self.balances.get(asset, [Decimal(0)])[0] < need:
            return self._error(400, -2010, "Account has insufficient balance for requested action.")
        return None

    def _quantity(self, params: dict[str, str], symbol: str) -> Decimal:
        """The order's base quantity: ``quantity``, or for a market buy by ``quoteOrderQty`` the quote amount over
        the price, rounded down to the lot step."""
        if "quoteOrderQty" in params and symbol in self.prices:
            return (Decimal(params["quoteOrderQty"]) / self.prices[symbol] // STEP) * STEP
        return Decimal(params.get("quantity", "0"))

    def _view(self, order: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in order.items() if not k.startswith("_")}

    async def _new_order(self, request: web.Request) -> web.Response:
        params: dict[str, str] = await self._params(request)
        symbol = params.get("symbol", "")
        kind = params.get("type", "")
        with self._lock:
            refused = self._reject(params, symbol)
            if refused is not None:
                return refused
            self._next_id += 1
            now = _ms()
            order: dict[str, Any] = {
                "symbol": symbol,
                "orderId": self._next_id,
                "orderListId": -1,
                "clientOrderId": params.get("newClientOrderId") or f"web_{self._next_id}",
                "price": _s(Decimal(params.get("price", "0"))),
                "origQty": _s(self._quantity(params, symbol)),
                "executedQty": "0.00000000",
                "cummulativeQuoteQty": "0.00000000",
                "status": "NEW",
                "timeInForce": params.get("timeInForce", "GTC"),
                "type": kind,
                "side": params.get("side", ""),
                "stopPrice": _s(Decimal(params.get("stopPrice", "0"))),
                "icebergQty": "0.00000000",
                "time": now,
                "updateTime": now,
                "isWorking": True,
                "workingTime": now,
                "origQuoteOrderQty": _s(Decimal(params.get("quoteOrderQty", "0"))),
                "selfTradePreventionMode": "EXPIRE_MAKER",
            }
            self.orders[order["orderId"]] = order
            market = self.prices[symbol]
            qty = self._quantity(params, symbol)
            fills = []
            buy = order["side"] == "BUY"
            marketable = kind == "MARKET" or (
                kind == "LIMIT"
                and (Decimal(order["price"]) >= market if buy else Decimal(order["price"]) <= market)
            )
            if marketable:
                trade = self._execute(order, qty, market, locked=False)
                fills.append(
                    {
                        "price": trade["price"],
                        "qty": trade["qty"],
                        "commission": trade["commission"],
                        "commissionAsset": trade["commissionAsset"],
                        "tradeId": trade["id"],
                    }
                )
            else:  # resting: hold the funds
                base, quote = self.markets[symbol]
                asset, amount = (
                    (quote, qty * Decimal(order["price"] if kind != "STOP_LOSS" else market))
                    if buy
                    else (base, qty)
                )
                self.balances[asset][0] -= amount
                self.balances[asset][1] += amount
            body = {**self._view(order), "transactTime": now, "fills": fills}
            for key in ("time", "updateTime", "isWorking", "stopPrice", "icebergQty"):
                body.pop(key)
        await self._order_recorded()
        resp_type = params.get("newOrderRespType", "FULL")
        if resp_type == "ACK":
            body = {k: body[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")}
        elif resp_type == "RESULT":
            body.pop("fills")
        return web.json_response(body)

    def _find(self, params: dict[str, str]) -> dict[str, Any] | None:
        symbol = params.get("symbol")
        for order in self.orders.values():
            if order["symbol"] != symbol:
                continue
            if "origClientOrderId" in params and order["clientOrderId"] == params["origClientOrderId"]:
                return order
            if "orderId" in params and str(order["orderId"]) == params["orderId"]:
                return order
        return None

    async def _get_order(self, request: web.Request) -> web.Response:
        with self._lock:
            order = self._find(await self._params(request))
            if order is None:
                return self._error(400, -2013, "Order does not exist.")
            return web.json_response(self._view(order))

    async def _cancel_order(self, request: web.Request) -> web.Response:
        with self._lock:
            order = self._find(await self._params(request))
            if order is None or order["status"] in _FINAL:
                return self._error(400, -2011, "Unknown order sent.")
            base, quote = self.markets[order["symbol"]]
            left = Decimal(order["origQty"]) - Decimal(order["executedQty"])
            asset, amount = (
                (quote, left * Decimal(order["price"])) if order["side"] == "BUY" else (base, left)
            )
            self.balances[asset][1] -= amount
            self.balances[asset][0] += amount
            order["status"] = "CANCELED"
            order["updateTime"] = _ms()
            body = {
                k: v for k, v in self._view(order).items() if k not in ("time", "updateTime", "isWorking")
            }
            body.update(origClientOrderId=order["clientOrderId"], clientOrderId=f"cancel_{order['orderId']}")
            body["transactTime"] = order["updateTime"]
            return web.json_response(body)

    async def _open_orders(self, request: web.Request) -> web.Response:
        symbol = (await self._params(request)).get("symbol")
        with self._lock:
            rows = [
                self._view(o)
                for o in self.orders.values()
                if o["status"] in ("NEW", "PARTIALLY_FILLED") and (symbol is None or o["symbol"] == symbol)
            ]
        return web.json_response(rows)

    async def _account(self, request: web.Request) -> web.Response:
        with self._lock:
            balances = [{"asset": a, "free": _s(f), "locked": _s(lk)} for a, (f, lk) in self.balances.items()]
        rates = {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000"}
        return web.json_response(
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": rates,
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": _ms(),
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
                "uid": 354937868,
            }
        )

    async def _my_trades(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        with self._lock:
            rows = [
                t
                for t in self.trades
                if t["symbol"] == params.get("symbol")
                and ("orderId" not in params or str(t["orderId"]) == params["orderId"])
            ]
        return web.json_response(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Binance spot API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    server = FakeBinance(port=args.port, api_key=args.api_key).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
