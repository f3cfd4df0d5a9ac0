"""The order plumbing of :class:`~tsbot.trading.bot.SignalBot`: protective legs, sending with a role per client id,
cancelling, events, and holding entries for a person's approval.

In approval mode (an :data:`ProposeOrder` given), an entry is not sent: it is proposed (stored with a summary a
person reads) and waits in :attr:`BotOrders.awaiting`. :meth:`BotOrders.on_approved` sends it when the person
approves, unless the bot took a position in that pair meanwhile; :meth:`BotOrders.on_declined` drops it (rejected
or expired). Exits and protective orders never wait: they reduce risk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal

from tsbot.trading.bot_state import BotEvent, BotSettings, Sleeve
from tsbot.trading.models import OrderRejectedError, OrderRequest, OrderSide, OrderType
from tsbot.trading.orders import client_order_id
from tsbot.trading.service import OrderService

#: Called with an entry to propose to a person (approval mode): store it with its summary for a decision.
ProposeOrder = Callable[[OrderRequest], Awaitable[None]]


class BotOrders:
    """Sends a bot's orders (see the module docstring); :class:`~tsbot.trading.bot.SignalBot` builds on it."""

    def __init__(
        self,
        settings: BotSettings,
        service: OrderService,
        clock: Callable[[], datetime],
        propose: ProposeOrder | None,
    ) -> None:
        self.settings = settings
        self._service = service
        self._clock = clock
        self._propose = propose
        self._sleeves: dict[str, Sleeve] = {}
        self._roles: dict[str, tuple[str, str]] = {}  # client id -> (symbol, role)
        #: Entries proposed for approval and not decided yet: client id -> (request, reference price).
        self.awaiting: dict[str, tuple[OrderRequest, Decimal | None]] = {}
        self.events: list[BotEvent] = []

    def owns(self, client_order_id: str) -> bool:
        """Whether ``client_order_id`` is an order this bot sent, proposed or had refused."""
        return client_order_id in self._roles

    # --- approval --------------------------------------------------------------------------------------------
    async def on_approved(self, client_order_id: str) -> str | None:
        """A person approved the proposed entry ``client_order_id``: send it. Returns its client id when sent;
        None when it is unknown, was decided already, or the pair holds a position now (recorded as an event)."""
        found = self.awaiting.pop(client_order_id, None)
        if found is None:
            return None
        request, price = found
        s = self._sleeves[request.symbol]
        if client_order_id not in s.pending or (s.side and s.exiting is None):
            s.pending.pop(client_order_id, None)
            self._event("note", s.symbol, f"{request.reason}: approved too late, the pair holds a position")
            return None
        return await self._submit(s, request, "entry", price)

    def on_declined(self, client_order_id: str, why: str) -> None:
        """A person rejected the proposed entry, or it expired: forget it."""
        found = self.awaiting.pop(client_order_id, None)
        if found is None:
            return
        request, _ = found
        self._sleeves[request.symbol].pending.pop(client_order_id, None)
        self._event("declined", request.symbol, f"{request.reason}: not sent ({why})")

    # --- orders ----------------------------------------------------------------------------------------------
    async def _leg(
        self, s: Sleeve, kind: OrderType, qty: Decimal, price: Decimal, why: str, *, target: int = 0
    ) -> str | None:
        """Place a protective order of the position (one-cancels-other with the others); ``target``: the
        take-profit level it is (1-based), 0 for the stop."""
        oco = s.entry_cid
        s.seq += 1
        leg = f"leg{s.seq}"
        side = OrderSide.SELL if s.side > 0 else OrderSide.BUY
        cid = client_order_id(self.settings.account, self.settings.bot_id, s.symbol, s.entry_at, leg)
        request = OrderRequest(
            cid, self.settings.account, s.symbol, side, kind, qty,
            price=price if kind is OrderType.LIMIT else None,
            stop_price=price if kind is OrderType.STOP else None,
            reduce_only=True, parent_id=oco, oco_group=oco, reason=f"{why} of the {s.symbol} position",
        )  # fmt: skip
        sent = await self._send(s, request, f"tp{target}" if target else "stop", None)
        if sent is not None:
            s.legs.append(cid)
        return sent

    async def _send(self, s: Sleeve, request: OrderRequest, role: str, price: Decimal | None) -> str | None:
        """Send ``request`` (an entry in approval mode is proposed instead); its client id, or None if refused."""
        if role == "entry" and self._propose is not None:
            self._roles[request.client_order_id] = (s.symbol, role)
            await self._propose(request)
            self.awaiting[request.client_order_id] = (request, price)
            self._event("approval", s.symbol, f"{request.reason}: waiting for approval")
            return request.client_order_id
        return await self._submit(s, request, role, price)

    async def _submit(self, s: Sleeve, request: OrderRequest, role: str, price: Decimal | None) -> str | None:
        self._roles[request.client_order_id] = (s.symbol, role)
        try:
            order = await self._service.submit(request, reference_price=price)
        except OrderRejectedError as refused:
            self._event("refused", s.symbol, f"{request.reason}: refused: {refused.reason}")
            return None
        self._event("order", s.symbol, f"{request.reason}: {order.status.value}")
        return request.client_order_id

    async def _cancel(self, cid: str) -> None:
        if self.awaiting.pop(cid, None) is not None:
            return  # proposed, never sent
        try:
            await self._service.cancel(cid)
        except OrderRejectedError:
            return  # never placed (refused): nothing to cancel

    async def _cancel_legs(self, s: Sleeve) -> None:
        for cid in s.legs:
            await self._cancel(cid)
        s.legs, s.stop_leg = [], None

    def _event(self, kind: str, symbol: str, message: str) -> None:
        self.events.append(BotEvent(self._clock(), kind, symbol, message))
