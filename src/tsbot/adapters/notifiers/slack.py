"""Slack notifications through incoming webhooks (https://api.slack.com/messaging/webhooks) over httpx.

The message is ``{"text": "*<title>*\\n<body>"}`` in Slack's mrkdwn with ``&``, ``<`` and ``>`` escaped as Slack asks
(https://api.slack.com/reference/surfaces/formatting#escaping), so no text of a notification becomes a link or a
mention. A delivery's target is the user's own webhook URL; none means the operator's (``notify.slack_webhook_url``).

Answers (https://api.slack.com/messaging/webhooks#handling_errors): 200 is sent; no connection, a timeout, HTTP 408,
429 (``Retry-After`` kept) and 5xx are temporary (:class:`SlackUnavailableError`); any other answer (400
``invalid_payload``, 403 ``invalid_token`` / ``action_prohibited``, 404 ``no_service`` / ``channel_not_found``, 410
``channel_is_archived``, a redirect) is a refusal for good (:class:`SlackRefusedError`) quoting Slack's answer.
Webhook URLs are secrets: errors and ``repr`` name only the host.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import httpx

from tsbot.core.errors import OperationalError, TemporaryError
from tsbot.notify.models import OutgoingMessage

#: Longest text sent to Slack, in characters (Slack truncates messages beyond 40,000).
MAX_TEXT_CHARS: Final = 39_000
#: Longest part of Slack's answer quoted in an error.
_ANSWER_CHARS: Final = 160


class SlackUnavailableError(TemporaryError):
    """Slack cannot take the message now (no connection, timeout, 408, 429, 5xx); ``retry_after_s`` is Slack's
    ``Retry-After`` in seconds when it sent one."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SlackRefusedError(OperationalError):
    """Slack refused the message for good (a revoked or unknown webhook, an archived channel, a bad payload), or
    there is no webhook to send to; ``status`` is the HTTP status (0: not sent)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def escape(text: str) -> str:
    """``text`` with ``&``, ``<`` and ``>`` escaped for Slack's mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(title: str, body: str) -> str:
    """The mrkdwn text of a notification: the title in bold, then the body (escaped, at most
    :data:`MAX_TEXT_CHARS`)."""
    title = " ".join(title.replace("*", "").split())
    text = f"*{escape(title)}*\n{escape(body)}" if title else escape(body)
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def _host(url: str) -> str:
    """The URL's host (what errors may name), or ``?``."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _retry_after(response: httpx.Response) -> float | None:
    """Slack's ``Retry-After`` in seconds, when it is a positive number."""
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value > 0 else None


class SlackNotifier:
    """Posts notifications to Slack incoming webhooks.

    Args:
        default_url: the operator's webhook, used for deliveries without a target of their own; None: such a
            delivery is refused.
        timeout_s: seconds allowed for connecting and for each read and write.
        transport: an httpx transport (None: the network).
    """

    def __init__(
        self,
        default_url: str | None = None,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._default_url = default_url or None
        self._timeout = httpx.Timeout(timeout_s)
        self._transport = transport

    def __repr__(self) -> str:
        where = _host(self._default_url) if self._default_url else "none"
        return f"SlackNotifier(default webhook host={where})"

    async def send(self, message: OutgoingMessage) -> None:
        """Post ``message`` to its target webhook (the operator's when it has none).

        Raises:
            SlackUnavailableError: Slack cannot take it now (retry later).
            SlackRefusedError: Slack refused it for good, or there is no webhook, or it is not an http(s) URL.
        """
        url = message.target or self._default_url
        if not url:
            raise SlackRefusedError(
                "no Slack webhook: set notify.slack_webhook_url or your own slack_webhook_url"
            )
        if not url.lower().startswith(("https://", "http://")):
            raise SlackRefusedError("the Slack webhook is not an http(s) URL")
        host = _host(url)
        payload = {"text": slack_text(message.title, message.body)}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
                response = await client.post(url, json=payload)
        except httpx.TimeoutException:
            raise SlackUnavailableError(f"Slack ({host}) did not answer in time") from None
        except httpx.HTTPError as exc:
            raise SlackUnavailableError(
                f"Slack ({host}) could not be reached ({type(exc).__name__})"
            ) from None
        status = response.status_code
        if status == 200:
            return
        answer = " ".join(response.text.split())[:_ANSWER_CHARS] or response.reason_phrase or "no answer"
        if status in (408, 429) or status >= 500:
            raise SlackUnavailableError(
                f"Slack ({host}) answered HTTP {status}: {answer}", _retry_after(response)
            )
        raise SlackRefusedError(f"Slack ({host}) refused the message (HTTP {status}): {answer}", status)
