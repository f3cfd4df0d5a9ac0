"""A user's own profile and settings: display name, time zone, language, display currency, notifications."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from tsbot.accounts.base import ServiceBase
from tsbot.accounts.models import NotificationValue, User
from tsbot.accounts.records import AuditAction
from tsbot.accounts.validation import (
    check_currency,
    check_display_name,
    check_language,
    check_notifications,
    check_time_zone,
)


class ProfilePart(ServiceBase):
    """Read and change one's own profile."""

    async def profile(self, user_id: str) -> User:
        """The user ``user_id`` (their own profile).

        Raises:
            UserNotFoundError: no such user.
        """
        return (await self._record(user_id)).user

    async def update_profile(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        time_zone: str | None = None,
        language: str | None = None,
        currency: str | None = None,
        notifications: Mapping[str, NotificationValue] | None = None,
        ip: str | None = None,
    ) -> User:
        """Change the fields given (None: unchanged); ``notifications`` replaces the whole mapping. All fields are
        checked before anything is stored.

        Raises:
            AccountInputError: an unknown time zone (IANA names such as ``Europe/Berlin``), a bad language tag or
                currency code, a bad display name or notification preference (the message names it).
            UserNotFoundError: no such user.
        """
        record = await self._record(user_id)
        prefs = record.user.preferences
        changes: dict[str, object] = {}
        name = record.user.display_name if display_name is None else check_display_name(display_name)
        new_prefs = replace(
            prefs,
            time_zone=prefs.time_zone if time_zone is None else check_time_zone(time_zone),
            language=prefs.language if language is None else check_language(language),
            currency=prefs.currency if currency is None else check_currency(currency),
            notifications=prefs.notifications
            if notifications is None
            else check_notifications(notifications),
        )
        if name != record.user.display_name:
            changes["display_name"] = name
        if new_prefs != prefs:
            changes["preferences"] = new_prefs
        if not changes:
            return record.user
        record = await self._update_user(user_id, **changes)
        await self._audit(
            AuditAction.PROFILE_UPDATED, actor=record.user, target=user_id, ip=ip, fields=sorted(changes)
        )
        return record.user
