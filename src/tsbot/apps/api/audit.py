"""Audit entries written by routes that act outside the account service (TradingView webhook tokens), in the same
log and shape as the account service's own (``GET /api/v1/admin/activity``)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request

from tsbot.accounts.models import Identity
from tsbot.accounts.records import AuditAction, AuditEntry
from tsbot.adapters.storage.account_events import SqlAccountEventLog
from tsbot.apps.api.context import client_ip
from tsbot.core.time import utc_now
from tsbot.wiring import Services

_log = structlog.get_logger("tsbot.api.audit")

#: Longest client address kept, in characters (the audit log's ``ip`` column).
MAX_IP_CHARS = 64


async def audit(
    services: Services,
    request: Request,
    identity: Identity,
    action: AuditAction,
    *,
    target: str | None = None,
    **details: Any,
) -> None:
    """Append an audit entry: ``identity`` (its user id and label) did ``action`` to ``target`` from the request's
    client address, now (UTC); ``details`` is a JSON object that must hold no secret. Also logged
    (``account_audit``, like the account service's entries).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database did not take the entry (the route answers 500; the action
        itself is already done).
    """
    ip = client_ip(request.scope)[:MAX_IP_CHARS]
    entry = AuditEntry(utc_now(), action, identity.user.id, identity.label, target, ip, details)
    await SqlAccountEventLog(services.db).add_audit(entry)
    _log.info("account_audit", action=action.value, actor=identity.label, target=target, ip=ip)
