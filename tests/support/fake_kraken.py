"""A stateful local server shaped like Kraken's spot REST API, for trading through ccxt's ``kraken`` class.

Public (GET): ``/0/public/Assets`` and ``/0/public/AssetPairs`` (what ccxt's ``load_markets`` asks for), ``Time``.
Private (POST, form-encoded, with ``API-Key`` and ``API-Sign`` headers and an increasing ``nonce``; the signature
itself is not checked): ``AddOrder``, ``QueryOrders``, ``QueryTrades``, ``OpenOrders``, ``ClosedOrders``,
``CancelOrder``, ``BalanceEx``. Every answer is ``{"error": [...], "result": ...}`` with Kraken's error strings.

A MARKET order fills at once at the pair's price (:meth:`FakeKraken.set_price`) with the 0.40 % taker fee in the
quote currency (``fciq``); a LIMIT order fills at once when marketable, else rests open until
:meth:`FakeKraken.fill` (0.25 % maker fee); a stop order rests open. A ``cl_ord_id`` must be a UUID, 32 hex digits
or at most 18 characters (else ``EGeneral:Invalid arguments``); it is refused while an open order carries it
(the refusal's words, ``EOrder:Duplicate order``, are this server's: Kraken documents the rule, not the text) and
accepted again once that order closed, as Kraken does.

Faults (see :mod:`tests.support.fake_venue`): RATE_LIMIT answers ``EAPI:Rate limit exceeded``, SERVER_ERROR
HTTP 503 ``EService:Unavailable``, STALL waits ``stall_s`` first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from aiohttp import web

from tests.support.exchange_servers import Fault
from tests.support.fake_venue import PARAMS, FakeVenue

PUBLIC, PRIVATE = "/0/public/", "/0/private/"
TAKER, MAKER = Decimal("0.0040"), Decimal("0.0025")
#: Kraken's own pair entries (AssetPairs) for the two markets served, trimmed of margin tiers.
PAIRS: dict[str, dict[str, Any]] = {
    "XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD", "base": "XXBT", "quote": "ZUSD", "pair_decimals": 1,
                 "ordermin": "0.00005", "costmin": "0.5", "tick_size": "0.1"},
    "XETHZUSD": {"altname": "ETHUSD", "wsname": "ETH/USD", "base": "XETH", "quote": "ZUSD", "pair_decimals": 2,
                 "ordermin": "0.002", "costmin": "0.5", "tick_size": "0.01"},
}  # fmt: skip
UNIFIED = {"BTC/USD": "XXBTZUSD", "ETH/USD": "XETHZUSD"}
ASSETS = {"XXBT": ("XBT", 10, 5), "XETH": ("ETH", 10, 5), "ZUSD": ("USD", 4, 2)}  # altname, decimals, display
CLIENT_ID = re.compile(
    r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}|[A-Za-z0-9_-]{1,18})$"
)
_OPEN = ("pending", "open")


def _fmt(value: Decimal, places: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN):f}"


class FakeKraken(FakeVenue):
    """Kraken spot in memory, on ``127.0.0.1`` (a context manager). ``prices`` by pair id (``"XXBTZUSD"``),
    ``balances`` by Kraken asset (``"ZUSD"``) as ``[balance, hold_trade]``, in Decimal."""

    def __init__(self, *, port: int = 0, api_key: str | None = None, stall_s: float = 2.0) -> None:
        super().__init__(port=port, api_key=api_key, stall_s=stall_s)
        self.prices = {"XXBTZUSD": Decimal("60000.0"), "XETHZUSD": Decimal("3000.00")}
        self.balances = {
            "ZUSD": [Decimal("10000"), Decimal(0)],
            "XXBT": [Decimal("0.5"), Decimal(0)],
            "XETH": [Decimal(0), Decimal(0)],
        }
        self.orders: dict[str, dict[str, Any]] = {}
        self.trades: dict[str, dict[str, Any]] = {}
        self._nonces: dict[str, int] = {}
        self._serial = 0

    # -- controls -----------------------------------------------------------------------------------------
    @property
    def api_urls(self) -> dict[str, str]:
        """``urls["api"]`` entries that point ccxt's kraken at this server."""
        return {"public": self.base_url, "private": self.base_url}

    def set_price(self, symbol: str, price: Decimal | str) -> None:
        """The price MARKET orders of ``symbol`` (``"BTC/USD"`` or ``"XXBTZUSD"``) fill at."""
        with self._lock:
            self.prices[UNIFIED.get(symbol, symbol)] = Decimal(str(price))

    def with_client_id(self, cl_ord_id: str) -> list[dict[str, Any]]:
        """Every order (open or closed) sent with this ``cl_ord_id``, oldest first."""
        with self._lock:
            return [o for o in self.orders.values() if o["cl_ord_id"] == cl_ord_id]

    def fill(self, cl_ord_id: str, qty: Decimal | str) -> None:
        """Execute ``qty`` of the open order with this ``cl_ord_id`` at its limit price, as a maker."""
        with self._lock:
            order = next(o for o in self.with_client_id(cl_ord_id) if o["status"] in _OPEN)
            self._execute(order, Decimal(str(qty)), Decimal(order["descr"]["price"]), maker=True)

    # -- serving -------------------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(PUBLIC + "Assets", self._assets)
        app.router.add_get(PUBLIC + "AssetPairs", self._asset_pairs)
        app.router.add_get(PUBLIC + "Time", self._time)
        private = {
            "AddOrder": self._add_order,
            "QueryOrders": self._query_orders,
            "QueryTrades": self._query_trades,
            "OpenOrders": self._open_orders,
            "ClosedOrders": self._closed_orders,
            "CancelOrder": self._cancel_order,
            "BalanceEx": self._balance_ex,
        }
        for name, handler in private.items():
            app.router.add_post(PRIVATE + name, handler)
        return app

    @staticmethod
    def _answer(result: Any = None, *errors: str, status: int = 200) -> web.Response:
        body: dict[str, Any] = {"error": list(errors)}
        if not errors:
            body["result"] = result
        return web.json_response(body, status=status)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        request[PARAMS] = params
        fault = self._record(request.method, request.path, params)
        if fault is Fault.RATE_LIMIT:
            return self._answer(None, "EAPI:Rate limit exceeded")
        if fault is Fault.SERVER_ERROR:
            return self._answer(None, "EService:Unavailable", status=503)
        if fault is Fault.STALL:
            await asyncio.sleep(self.stall_s)
        if request.path.startswith(PRIVATE):
            key, sign = request.headers.get("API-Key"), request.headers.get("API-Sign")
            if not key or not sign or (self.api_key is not None and key != self.api_key):
                return self._answer(None, "EAPI:Invalid key")
            nonce = int(params.get("nonce") or 0)
            with self._lock:
                if nonce <= self._nonces.get(key, 0):
                    return self._answer(None, "EAPI:Invalid nonce")
                self._nonces[key] = nonce
        return await handler(request)

    async def _assets(self, request: web.Request) -> web.Response:
        return self._answer(
            {
                asset: {"aclass": "currency", "altname": alt, "decimals": dec, "display_decimals": disp,
                        "collateral_value": 1.0, "status": "enabled"}
                for asset, (alt, dec, disp) in ASSETS.items()
            }
        )  # fmt: skip

    async def _asset_pairs(self, request: web.Request) -> web.Response:
        fees = [[0, 0.4], [10000, 0.35], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18]]
        fees_maker = [[0, 0.25], [10000, 0.2], [50000, 0.14], [100000, 0.12], [250000, 0.1], [500000, 0.08]]
        result = {
            pid: {"altname": p["altname"], "wsname": p["wsname"], "aclass_base": "currency", "base": p["base"],
                  "aclass_quote": "currency", "quote": p["quote"], "lot": "unit", "cost_decimals": 5,
                  "pair_decimals": p["pair_decimals"], "lot_decimals": 8, "lot_multiplier": 1,
                  "leverage_buy": [2, 3, 4, 5], "leverage_sell": [2, 3, 4, 5], "fees": fees,
                  "fees_maker": fees_maker, "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
                  "ordermin": p["ordermin"], "costmin": p["costmin"], "tick_size": p["tick_size"],
                  "status": "online", "long_position_limit": 250, "short_position_limit": 200}
            for pid, p in PAIRS.items()
        }  # fmt: skip
        return self._answer(result)

    async def _time(self, request: web.Request) -> web.Response:
        now = int(time.time())
        return self._answer(
            {"unixtime": now, "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime())}
        )

    # -- order book keeping (call with the lock held) --------------------------------------------------------
    def _id(self, first: str) -> str:
        """A Kraken-style id (``OQCLML-BW3P3-BUCMWZ``), distinct per call."""
        self._serial += 1
        code = first + base64.b32encode(hashlib.sha256(f"{first}{self._serial}".encode()).digest()).decode()
        return f"{code[:6]}-{code[6:11]}-{code[11:17]}"

    def _execute(self, order: dict[str, Any], qty: Decimal, price: Decimal, *, maker: bool) -> None:
        pair = PAIRS[order["descr"]["pair_id"]]
        base, quote = pair["base"], pair["quote"]
        cost = qty * price
        fee = (cost * (MAKER if maker else TAKER)).quantize(Decimal("0.00001"))
        if order["descr"]["type"] == "buy":
            if maker:
                self.balances[quote][1] -= qty * Decimal(order["descr"]["price"])
            self.balances[quote][0] -= cost + fee
            self.balances[base][0] += qty
        else:
            if maker:
                self.balances[base][1] -= qty
            self.balances[base][0] -= qty
            self.balances[quote][0] += cost - fee
        tid = self._id("T")
        now = time.time()
        self.trades[tid] = {
            "ordertxid": order["id"], "postxid": self._id("T"), "pair": order["descr"]["pair_id"], "time": now,
            "type": order["descr"]["type"], "ordertype": order["descr"]["ordertype"], "price": _fmt(price, 5),
            "cost": _fmt(cost, 5), "fee": _fmt(fee, 5), "vol": _fmt(qty, 8), "margin": "0.00000", "leverage": "0",
            "misc": "", "maker": maker, "trade_id": len(self.trades) + 1,
        }  # fmt: skip
        filled = Decimal(order["vol_exec"]) + qty
        total = Decimal(order["cost"]) + cost
        order.update(vol_exec=_fmt(filled, 8), cost=_fmt(total, 5), fee=_fmt(Decimal(order["fee"]) + fee, 5))
        order["price"] = _fmt(total / filled, pair["pair_decimals"] + 4)
        order["trades"].append(tid)
        if filled >= Decimal(order["vol"]):
            order.update(status="closed", closetm=now, reason=None)

    def _refusal(self, p: dict[str, str], pid: str | None) -> str | None:
        if pid is None:
            return "EQuery:Unknown asset pair"
        cl = p.get("cl_ord_id")
        if cl is not None and not CLIENT_ID.match(cl):
            return "EGeneral:Invalid arguments"
        if cl and any(o["status"] in _OPEN for o in self.with_client_id(cl)):
            return "EOrder:Duplicate order"
        pair, vol = PAIRS[pid], Decimal(p.get("volume", "0"))
        if vol < Decimal(pair["ordermin"]):
            return "EOrder:Order minimum not met"
        price = Decimal(p["price"]) if p.get("price") else self.prices[pid]
        if -price.as_tuple().exponent > pair["pair_decimals"] and p.get("price"):  # type: ignore[operator]
            places = pair["pair_decimals"]
            return (
                f"EOrder:Invalid price:{pair['altname']} price can only be specified up to {places} decimals."
            )
        if vol * price < Decimal(pair["costmin"]):
            return "EOrder:Cost minimum not met"
        asset, need = (
            (pair["quote"], vol * price * (1 + TAKER)) if p.get("type") == "buy" else (pair["base"], vol)
        )
        balance, hold = self.balances[asset]
        return "EOrder:Insufficient funds" if balance - hold < need else None

    def _view(self, order: dict[str, Any], trades: bool) -> dict[str, Any]:
        view = {k: v for k, v in order.items() if k not in ("id", "trades")}
        view["descr"] = {k: v for k, v in order["descr"].items() if k != "pair_id"}
        if trades and order["trades"]:
            view["trades"] = list(order["trades"])
        return view

    # -- private endpoints --------------------------------------------------------------------------------------
    async def _add_order(self, request: web.Request) -> web.Response:
        p: dict[str, str] = request[PARAMS]
        with self._lock:
            pid = next((k for k, v in PAIRS.items() if p.get("pair") in (k, v["altname"])), None)
            refused = self._refusal(p, pid)
            if refused is not None:
                return self._answer(None, refused)
            assert pid is not None
            side, kind, vol = p["type"], p["ordertype"], Decimal(p["volume"])
            limit = Decimal(p["price"]) if kind == "limit" else None
            market = self.prices[pid]
            words = {"market": "@ market", "limit": f"@ limit {p.get('price')}"}.get(
                kind, f"@ {kind} {p.get('price')}"
            )
            alt = PAIRS[pid]["altname"]
            txid = self._id("O")
            self.orders[txid] = order = {
                "id": txid, "refid": None, "userref": int(p.get("userref", 0)), "cl_ord_id": p.get("cl_ord_id"),
                "status": "open", "opentm": time.time(), "starttm": 0, "expiretm": 0,
                "descr": {"pair": alt, "pair_id": pid, "type": side, "ordertype": kind,
                          "price": p.get("price", "0"), "price2": p.get("price2", "0"), "leverage": "none",
                          "order": f"{side} {_fmt(vol, 8)} {alt} {words}", "close": ""},
                "vol": _fmt(vol, 8), "vol_exec": "0.00000000", "cost": "0.00000", "fee": "0.00000",
                "price": "0.00000", "stopprice": "0.00000", "limitprice": "0.00000", "misc": "", "oflags": "fciq",
                "trades": [],
            }  # fmt: skip
            buy = side == "buy"
            if kind == "market" or (limit is not None and (limit >= market if buy else limit <= market)):
                self._execute(order, vol, market, maker=False)
            elif limit is not None:  # resting: hold the funds
                base, quote = PAIRS[pid]["base"], PAIRS[pid]["quote"]
                self.balances[quote if buy else base][1] += vol * limit if buy else vol
            answer = {"descr": {"order": order["descr"]["order"]}, "txid": [txid]}
        await self._order_recorded()
        return self._answer(answer)

    async def _query_orders(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        trades = p.get("trades", "").lower() in ("true", "1")
        with self._lock:
            ids = [t for t in p.get("txid", "").split(",") if t]
            if not ids or any(t not in self.orders for t in ids):
                return self._answer(None, "EOrder:Invalid order")
            return self._answer({t: self._view(self.orders[t], trades) for t in ids})

    async def _query_trades(self, request: web.Request) -> web.Response:
        with self._lock:
            ids = [t for t in request[PARAMS].get("txid", "").split(",") if t]
            if not ids or any(t not in self.trades for t in ids):
                return self._answer(None, "EGeneral:Invalid arguments")
            return self._answer({t: dict(self.trades[t]) for t in ids})

    def _listed(self, p: dict[str, str], open_: bool) -> dict[str, Any]:
        trades = p.get("trades", "").lower() in ("true", "1")
        rows = [
            o
            for o in self.orders.values()
            if (o["status"] in _OPEN) == open_
            and p.get("cl_ord_id") in (None, o["cl_ord_id"])
            and ("userref" not in p or str(o["userref"]) == p["userref"])
        ]
        rows.sort(key=lambda o: o["opentm"], reverse=True)
        return {o["id"]: self._view(o, trades) for o in rows}

    async def _open_orders(self, request: web.Request) -> web.Response:
        with self._lock:
            return self._answer({"open": self._listed(request[PARAMS], True)})

    async def _closed_orders(self, request: web.Request) -> web.Response:
        with self._lock:
            closed = self._listed(request[PARAMS], False)
            return self._answer({"closed": closed, "count": len(closed)})

    async def _cancel_order(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        with self._lock:
            order = self.orders.get(p.get("txid", ""))
            if order is None and p.get("cl_ord_id"):
                order = next((o for o in self.with_client_id(p["cl_ord_id"]) if o["status"] in _OPEN), None)
            if order is None or order["status"] not in _OPEN:
                return self._answer(None, "EOrder:Unknown order")
            pid, left = order["descr"]["pair_id"], Decimal(order["vol"]) - Decimal(order["vol_exec"])
            if order["descr"]["ordertype"] == "limit":
                buy = order["descr"]["type"] == "buy"
                asset = PAIRS[pid]["quote"] if buy else PAIRS[pid]["base"]
                self.balances[asset][1] -= left * Decimal(order["descr"]["price"]) if buy else left
            order.update(status="canceled", reason="User requested", closetm=time.time())
            return self._answer({"count": 1})

    async def _balance_ex(self, request: web.Request) -> web.Response:
        with self._lock:
            result = {
                asset: {"balance": _fmt(total, ASSETS[asset][1]), "credit": "0.0000", "credit_used": "0.0000",
                        "hold_trade": _fmt(hold, ASSETS[asset][1])}
                for asset, (total, hold) in self.balances.items()
            }  # fmt: skip
        return self._answer(result)
