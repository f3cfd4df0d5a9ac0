"""Plain-text email over SMTP with aiosmtplib (the :class:`~tsbot.accounts.ports.Mailer` port), configured by
``settings.email``.

Failures are sorted for the caller: the server unreachable, timing out or refusing for now (SMTP 4xx) raises
:class:`EmailUnavailableError` (temporary: retry later); a refusal for good (5xx: unknown recipient, bad login,
relaying denied) raises :class:`EmailRefusedError`; email switched off (``email.host`` empty) raises
:class:`~tsbot.core.errors.ConfigError`. Messages never hold the SMTP password or the mail's text (which may carry a
token).
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Final

import aiosmtplib
import structlog

from tsbot.config import EmailConfig
from tsbot.core.errors import ConfigError, OperationalError, TemporaryError

_log = structlog.get_logger(__name__)

EMAIL_OFF = (
    "email is off: set email.host (and email.port, email.sender, email.security, email.username; the password "
    "in the environment as TSBOT_EMAIL__PASSWORD) to send confirmation and password-reset emails"
)


#: What the left part of a stable Message-ID may hold (RFC 5322 dot-atom characters, a safe subset).
_MESSAGE_ID_PART: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class EmailUnavailableError(TemporaryError):
    """The SMTP server could not be reached, timed out, or refused for now (4xx); retry later."""


class EmailRefusedError(OperationalError):
    """The SMTP server refused the message for good (5xx): a bad address, a bad login, relaying denied."""


class SmtpMailer:
    """Sends plain-text UTF-8 email through the SMTP server of ``config``.

    Args:
        config: ``settings.email``: ``host`` (empty: email off), ``port``, ``sender``, ``username`` and
            ``password`` (login when a username is set), ``security`` (``none``, ``starttls``, ``tls``),
            ``timeout_s`` (seconds per connection step).
    """

    def __init__(self, config: EmailConfig) -> None:
        self._config = config

    def __repr__(self) -> str:
        c = self._config
        where = f"{c.host}:{c.port}, {c.security}" if c.host else "off"
        return f"SmtpMailer({where}, password hidden)"

    __str__ = __repr__

    @property
    def enabled(self) -> bool:
        """True when an SMTP host is configured."""
        return bool(self._config.host.strip())

    async def send(
        self,
        to: str,
        subject: str,
        text: str,
        *,
        message_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send ``text`` to ``to`` under ``subject``.

        Args:
            message_id: the left part of a stable ``Message-ID`` (``<message_id@sender's domain>``), letters,
                digits and ``._-`` only, so a message sent again carries the same id; None: a new random one.
            headers: extra headers (``Auto-Submitted``, ``List-Id`` ...), none by default.

        Raises:
            ConfigError: email is off (``email.host`` empty).
            EmailRefusedError: the server refused for good (5xx), or the address, subject, id or a header is
                malformed.
            EmailUnavailableError: the server is unreachable, timed out or refused for now (4xx).
        """
        c = self._config
        if not self.enabled:
            raise ConfigError(EMAIL_OFF)
        domain = c.sender.rpartition("@")[2] or None
        try:
            if message_id is not None and not _MESSAGE_ID_PART.fullmatch(message_id):
                raise ValueError("a Message-ID part may hold letters, digits and ._- only")
            message = EmailMessage()
            message["From"] = c.sender
            message["To"] = to
            message["Subject"] = subject
            message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
            message["Message-ID"] = (
                email.utils.make_msgid(domain=domain)
                if message_id is None
                else f"<{message_id}@{domain or 'localhost'}>"
            )
            for name, value in (headers or {}).items():
                message[name] = value
            message.set_content(text)
        except (ValueError, TypeError) as exc:
            raise EmailRefusedError(f"email not sent: bad address, subject or header ({exc})") from None
        password = c.password.get_secret_value() if c.password is not None else None
        try:
            await aiosmtplib.send(
                message,
                hostname=c.host.strip(),
                port=c.port,
                username=c.username or None,
                password=password if c.username else None,
                use_tls=c.security == "tls",
                start_tls=c.security == "starttls",
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            said = "; ".join(str(r.message)[:160] for r in exc.recipients if r.message)
            reason = f"recipient {to} refused" + (f": {said}" if said else "")
            raise _refusal(min(codes) if codes else 550, reason) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise _refusal(exc.code, _reason(exc)) from None
        except (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPTimeoutError,
            aiosmtplib.SMTPServerDisconnected,
            OSError,
        ) as exc:
            raise EmailUnavailableError(
                f"email not sent: SMTP server {c.host}:{c.port} unreachable ({type(exc).__name__}); retry later"
            ) from None
        except aiosmtplib.SMTPException as exc:  # the server lacks what the settings ask (AUTH, STARTTLS)
            raise EmailRefusedError(
                f"email not sent: {c.host}:{c.port} cannot do what the settings ask ({str(exc)[:160]}); "
                "check email.security and email.username"
            ) from None
        _log.info("email_sent", to=to, subject=subject)


def _reason(exc: aiosmtplib.SMTPResponseException) -> str:
    """The server's own words, minus anything that could echo a login."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return "login refused: check email.username and the password"
    return str(exc.message)[:200]


def _refusal(code: int, reason: str) -> TemporaryError | OperationalError:
    """EmailUnavailableError for a 4xx code, EmailRefusedError otherwise."""
    if 400 <= code < 500:
        return EmailUnavailableError(
            f"email not sent: the server refused for now ({code} {reason}); retry later"
        )
    return EmailRefusedError(f"email not sent: the server refused ({code} {reason})")
