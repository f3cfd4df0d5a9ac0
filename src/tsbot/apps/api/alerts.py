"""Price alerts: ``/api/v1/alerts``: "tell me when BTC/USDT goes above 70,000".

=================================  =========================================================================
route                              what it does
=================================  =========================================================================
POST /alerts                       create an alert (201): symbol, condition above / below / crosses, price as
                                   a decimal string, optional note, one-shot (default) or repeating
GET /alerts                        my alerts, newest first (filters: symbol, active)
GET /alerts/{alert_id}             one of my alerts
DELETE /alerts/{alert_id}          delete one of my alerts (204)
=================================  =========================================================================

Alerts belong to their creator: another user's alert answers 404. What fires them is
:func:`tsbot.signals.alerts.check_alerts` (rules in :mod:`tsbot.signals.alerts`), run by the monitoring cycle on
each new candle; ``active``, ``trigger_count``, ``triggered_at`` and ``last_price`` show its state.

Permissions: reading alerts needs ``read_market`` (an alert is a view on market prices), creating and deleting
them needs ``write_signals`` (an alert is a signal the user sets for themself, like the watchlist). A user holds
at most :data:`MAX_ALERTS` alerts (409 beyond).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.storage.watch import SqlPriceAlertStore
from tsbot.apps.api.auth import requires
from tsbot.apps.api.deps import ServicesDep
from tsbot.apps.api.errors import ApiError
from tsbot.apps.api.lookup import SYMBOL_HELP, resolve_symbol
from tsbot.apps.api.schemas import Page
from tsbot.signals.alerts import MAX_NOTE_CHARS, AlertCondition, PriceAlert, parse_price, validate_note

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

ReadAlerts = Annotated[Identity, requires(Permission.READ_MARKET)]
WriteAlerts = Annotated[Identity, requires(Permission.WRITE_SIGNALS)]
AlertId = Annotated[str, Path(min_length=1, max_length=64, description="the alert's id")]

#: Most alerts one user holds.
MAX_ALERTS = 100
#: A plain decimal number: digits, an optional fraction; no sign, exponent or thousands separator.
DECIMAL_PATTERN = r"^[0-9]{1,16}(\.[0-9]{1,18})?$"


class AlertIn(BaseModel):
    """A new price alert."""

    symbol: str = Field(min_length=1, max_length=40, description=SYMBOL_HELP)
    condition: AlertCondition = Field(
        description="above: the price reaches the level from below; below: from above; crosses: either way"
    )
    price: str = Field(
        pattern=DECIMAL_PATTERN,
        max_length=40,
        description='the level in quote currency, a decimal string ("70000", "0.000065"); > 0',
    )
    note: str = Field("", max_length=MAX_NOTE_CHARS, description="shown with the notification")
    repeat: bool = Field(False, description="false: fires once, then inactive; true: re-arms and fires again")

    model_config = {
        "json_schema_extra": {"examples": [{"symbol": "BTC-USDT", "condition": "above", "price": "70000"}]}
    }


class AlertOut(BaseModel):
    """A price alert and its state."""

    id: str
    symbol: str
    condition: AlertCondition
    price: str = Field(description="the level, quote currency, decimal string")
    note: str
    repeat: bool
    active: bool = Field(description="still watched (a fired one-shot alert is not)")
    trigger_count: int = Field(ge=0)
    triggered_at: datetime | None = Field(description="the last time it fired, UTC")
    last_price: str | None = Field(description="the last price checked, decimal string")
    created_at: datetime

    @classmethod
    def of(cls, alert: PriceAlert) -> AlertOut:
        assert alert.created_at is not None
        return cls(
            id=alert.id,
            symbol=alert.symbol,
            condition=alert.condition,
            price=format(alert.price, "f"),
            note=alert.note,
            repeat=alert.repeat,
            active=alert.active,
            trigger_count=alert.trigger_count,
            triggered_at=alert.triggered_at,
            last_price=None if alert.last_price is None else format(alert.last_price, "f"),
            created_at=alert.created_at,
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        409: {"description": f"the user holds {MAX_ALERTS} alerts already"},
        422: {"description": "unknown symbol, price not positive, or an invalid note"},
    },
)
async def create_alert(body: AlertIn, identity: WriteAlerts, services: ServicesDep) -> AlertOut:
    """Create a price alert on a symbol with stored candles."""
    symbol = await resolve_symbol(services, body.symbol)
    price = parse_price(body.price)
    note = validate_note(body.note)
    store = SqlPriceAlertStore(services.db)
    if await store.count(identity.user.id) >= MAX_ALERTS:
        raise ApiError(409, f"you hold {MAX_ALERTS} alerts already; delete one first")
    alert = PriceAlert(
        id=str(uuid.uuid4()),
        user_id=identity.user.id,
        symbol=symbol,
        condition=body.condition,
        price=price,
        note=note,
        repeat=body.repeat,
    )
    return AlertOut.of(await store.create(alert))


@router.get("", responses={422: {"description": "invalid parameters or an unknown symbol"}})
async def list_alerts(
    identity: ReadAlerts,
    services: ServicesDep,
    symbol: Annotated[str | None, Query(min_length=1, max_length=40, description=SYMBOL_HELP)] = None,
    active: Annotated[
        bool | None, Query(description="only active (true) or only inactive (false) alerts")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")] = 0,
) -> Page[AlertOut]:
    """My alerts, newest first."""
    found = None if symbol is None else await resolve_symbol(services, symbol)
    items, total = await SqlPriceAlertStore(services.db).page(
        identity.user.id, symbol=found, active=active, limit=limit, offset=offset
    )
    return Page[AlertOut](items=[AlertOut.of(a) for a in items], total=total, limit=limit, offset=offset)


@router.get("/{alert_id}", responses={404: {"description": "no such alert of mine"}})
async def get_alert(alert_id: AlertId, identity: ReadAlerts, services: ServicesDep) -> AlertOut:
    """One of my alerts."""
    return AlertOut.of(await SqlPriceAlertStore(services.db).get(identity.user.id, alert_id))


@router.delete(
    "/{alert_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: {"description": "no such alert of mine"}},
)
async def delete_alert(alert_id: AlertId, identity: WriteAlerts, services: ServicesDep) -> Response:
    """Delete one of my alerts."""
    await SqlPriceAlertStore(services.db).delete(identity.user.id, alert_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
