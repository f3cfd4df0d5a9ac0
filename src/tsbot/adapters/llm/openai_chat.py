"""An OpenAI-compatible chat-completions endpoint as a :class:`~tsbot.intake.fallback.ChatModel`.

Works with any server that speaks ``POST {base_url}/chat/completions`` (OpenAI, vLLM, llama.cpp's server,
Ollama's ``/v1``). Each request asks for a deterministic JSON answer: ``temperature`` 0 and
``response_format = {"type": "json_object"}``.

Errors: timeouts, dropped connections and HTTP 408/429/5xx are retried ``max_retries`` times with a short
exponential backoff, then raise :class:`~tsbot.core.errors.TemporaryError`; any other HTTP error (401 bad key,
404 unknown model or path, 400) raises :class:`~tsbot.core.errors.OperationalError` naming the status; a 2xx
answer without ``choices[0].message.content`` as text raises :class:`~tsbot.intake.fallback.LlmAnswerError`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tsbot.config import Settings
from tsbot.core.errors import OperationalError, TemporaryError
from tsbot.intake.fallback import LlmAnswerError

_RETRY_STATUSES = frozenset({408, 429})
#: Longest pause between two attempts, in seconds.
MAX_BACKOFF_S = 4.0


class OpenAiChatModel:
    """Asks an OpenAI-compatible chat endpoint for one JSON object.

    Parameters
    ----------
    base_url:
        Up to and including the API version (``https://api.openai.com/v1``); ``/chat/completions`` is added.
    model:
        Model name sent with each request.
    api_key:
        Sent as ``Authorization: Bearer <key>`` when set; local servers usually need none.
    timeout_s:
        Limit of each attempt (connect, write, read) in seconds.
    max_retries:
        Further attempts after a temporary failure (0 = one attempt only).
    client:
        A shared ``httpx.AsyncClient`` (the caller closes it); by default each call opens and closes its own.
    backoff_s:
        Pause before the first retry in seconds, doubled for each further one, at most :data:`MAX_BACKOFF_S`.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout_s: float,
        max_retries: int,
        client: httpx.AsyncClient | None = None,
        *,
        backoff_s: float = 0.25,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._max_retries = max(0, max_retries)
        self._client = client
        self._backoff_s = backoff_s

    def __repr__(self) -> str:
        return f"OpenAiChatModel(url={self.url!r}, model={self.model!r})"

    async def complete_json(self, system: str, user: str) -> str:
        """The text of the model's answer to one system and one user message.

        Raises
        ------
        TemporaryError
            Timeouts, connection failures or HTTP 408/429/5xx on every attempt.
        OperationalError
            Any other HTTP error status (the message names it).
        LlmAnswerError
            A 2xx answer that is not a chat-completion object with text content.
        """
        payload = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if self._client is not None:
            response = await self._post_with_retries(self._client, payload, headers)
        else:
            async with httpx.AsyncClient() as client:
                response = await self._post_with_retries(client, payload, headers)
        return _content(response)

    async def _post_with_retries(
        self, client: httpx.AsyncClient, payload: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        last = ""
        for attempt in range(self._max_retries + 1):
            if attempt:
                await asyncio.sleep(min(self._backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
            try:
                response = await client.post(self.url, json=payload, headers=headers, timeout=self._timeout_s)
            except httpx.TimeoutException:
                last = f"no answer within {self._timeout_s:g} s"
                continue
            except httpx.TransportError as exc:
                last = f"connection failed: {type(exc).__name__}: {exc}"
                continue
            status = response.status_code
            if status in _RETRY_STATUSES or status >= 500:
                last = f"HTTP {status}: {_snippet(response)}"
                continue
            if status >= 400:
                raise OperationalError(
                    f"chat endpoint {self.url} refused the request with HTTP {status}"
                    f" (check intake.llm base_url, model and api_key): {_snippet(response)}"
                )
            return response
        attempts = self._max_retries + 1
        raise TemporaryError(f"chat endpoint {self.url} failed {attempts} attempt(s); last: {last}")


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    text = " ".join(response.text.split())
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty body)"


def _content(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        raise LlmAnswerError(f"chat endpoint answered non-JSON: {_snippet(response)}") from None
    try:
        choice = body["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LlmAnswerError(
            f"chat endpoint answer has no choices[0].message.content: {_snippet(response)}"
        ) from None
    if not isinstance(content, str):
        raise LlmAnswerError(f"chat answer content is {type(content).__name__}, not text")
    if isinstance(choice, dict) and choice.get("finish_reason") == "length":
        raise LlmAnswerError("chat answer was cut off at the token limit (finish_reason 'length')")
    return content


def build_chat_model(settings: Settings, client: httpx.AsyncClient | None = None) -> OpenAiChatModel | None:
    """The chat model configured in ``settings.intake.llm``, or ``None`` when ``enabled`` is false."""
    llm = settings.intake.llm
    if not llm.enabled:
        return None
    return OpenAiChatModel(
        base_url=llm.base_url,
        model=llm.model,
        api_key=llm.api_key,
        timeout_s=llm.timeout_s,
        max_retries=llm.max_retries,
        client=client,
    )
