"""The signed-in user's exchange keys: ``/api/v1/me/exchange-keys``.

A key is stored encrypted (Fernet with ``security.encryption_keys``; see
:class:`~tsbot.adapters.storage.exchange_keys.SqlExchangeKeyStore`) and decrypted only to sign a venue's requests.
No answer ever carries the API key, the secret or the passphrase: only a hint (the key's last 4 characters).

==========================================  ==============================================  ====================
route                                       what it does                                    permission
==========================================  ==============================================  ====================
GET /me/exchange-keys                       my keys (exchange, label, sandbox, hint)        read_orders
POST /me/exchange-keys                      store a key (201)                               write_orders
DELETE /me/exchange-keys/{exchange_key_id}  delete a key (204)                              write_orders
==========================================  ==============================================  ====================

Storing and deleting keys needs a password sign-in (an access token): an API key cannot add live-trading keys.
400 when no encryption key is configured (the message says how to set one), for an unsupported exchange or a
label already used; 404 for a key that is not mine.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tsbot.accounts.models import Identity, Permission
from tsbot.adapters.storage.exchange_keys import ExchangeCredentials, ExchangeKeyInfo
from tsbot.apps.api.auth import require_session, requires
from tsbot.apps.api.deps import ServicesDep

router = APIRouter(prefix="/api/v1/me/exchange-keys", tags=["me"])


class ExchangeKeyIn(BaseModel):
    """A venue's API credentials. Only a hint of ``api_key`` is ever shown again."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    exchange: str = Field(min_length=1, max_length=32, description="binance, coinbase, kraken or alpaca")
    label: str = Field(min_length=1, max_length=64, description="your name for the key, unique per exchange")
    api_key: str = Field(min_length=1, max_length=512, repr=False)
    secret: str = Field(min_length=1, max_length=4096, repr=False, description="the API secret (or PEM key)")
    password: str | None = Field(None, max_length=512, repr=False, description="the passphrase, if any")
    sandbox: bool = Field(False, description="a key of the venue's test network (Alpaca: the paper account)")


class ExchangeKeyOut(BaseModel):
    """A stored key, without any secret."""

    id: str
    exchange: str
    label: str
    sandbox: bool
    key_hint: str = Field(description="the last 4 characters of the API key")
    account: str = Field(description="the account name of orders sent with this key")
    created_at: datetime
    rotated_at: datetime | None

    @classmethod
    def of(cls, info: ExchangeKeyInfo) -> ExchangeKeyOut:
        return cls(
            id=info.id,
            exchange=info.exchange,
            label=info.label,
            sandbox=info.sandbox,
            key_hint=info.key_hint,
            account=info.account,
            created_at=info.created_at,
            rotated_at=info.rotated_at,
        )


@router.get("")
async def list_exchange_keys(
    services: ServicesDep, identity: Identity = requires(Permission.READ_ORDERS)
) -> list[ExchangeKeyOut]:
    """My stored exchange keys."""
    return [ExchangeKeyOut.of(k) for k in await services.exchange_keys().list(identity.user.id)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def add_exchange_key(
    body: ExchangeKeyIn, services: ServicesDep, identity: Identity = requires(Permission.WRITE_ORDERS)
) -> ExchangeKeyOut:
    """Store a key, encrypted."""
    require_session(identity)
    credentials = ExchangeCredentials(body.api_key, body.secret, body.password or None)
    info = await services.exchange_keys().add(
        identity.user.id, body.exchange, body.label, credentials, sandbox=body.sandbox
    )
    return ExchangeKeyOut.of(info)


@router.delete("/{exchange_key_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_exchange_key(
    exchange_key_id: str, services: ServicesDep, identity: Identity = requires(Permission.WRITE_ORDERS)
) -> Response:
    """Delete one of my keys."""
    require_session(identity)
    await services.exchange_keys().delete(exchange_key_id, identity.user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
