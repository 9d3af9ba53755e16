"""OpenAI-compatible chat completions behind the `Model` seam: OpenAI, Ollama, others.

`openai:NAME` talks to OpenAI, `ollama:NAME` to a local Ollama (no key needed), and
`openai-compat:NAME` to any server speaking the same API at --base-url. The `openai`
package is imported only when a call is made: a Gemini or offline build never pays
for it. The SDK's own retries are off: a 429 or a 5xx is retried here, through the
same per-model limiter as Gemini's, waiting as long as `Retry-After` asks.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from meta_prompting.errors import GenerationError
from meta_prompting.models.base import ModelRequest, Notice, Reply, TextSink, usage_of
from meta_prompting.models.keys import check_no_key, scrub_secrets

T = TypeVar("T")

KEY_VARIABLE = "OPENAI_API_KEY"
BASE_URL_VARIABLE = "OPENAI_BASE_URL"
BASE_URLS = {"openai": "https://api.openai.com/v1", "ollama": "http://localhost:11434/v1"}
DEFAULT_NAMES = {"openai": "gpt-4.1-mini", "ollama": "llama3.2"}
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
ATTEMPTS = 4  # as Gemini's: the first try and three retries
# OpenAI's finish reasons in Gemini's words, which records and messages use
# (platform.openai.com/docs/api-reference/chat/object: choices[].finish_reason).
FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY",
          "tool_calls": "TOOL_CALLS", "function_call": "TOOL_CALLS"}


def default_name(provider: str) -> str:
    return DEFAULT_NAMES.get(provider, "")


def base_url(provider: str, given: str | None = None) -> str | None:
    """--base-url, else $OPENAI_BASE_URL, else the provider's own; None: none known."""
    chosen = given or os.environ.get(BASE_URL_VARIABLE) or BASE_URLS.get(provider)
    return chosen.rstrip("/") if chosen else None


def endpoint(url: str | None) -> str | None:
    """The URL's host (and port): what a record names, never a path, query or password."""
    if not url:
        return None
    parts = urlsplit(url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else None


def blocker(provider: str, given_url: str | None = None) -> str | None:
    """Why this provider cannot be asked now (cheap: no SDK import), or None."""
    url = base_url(provider, given_url)
    if url is None:
        return (f"{provider}: no server to ask: give --base-url URL (or set "
                f"{BASE_URL_VARIABLE})")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        return f"--base-url {endpoint(url) or 'value'}: not an http(s) URL"
    value = os.environ.get(KEY_VARIABLE)
    if value is not None and value and not value.strip():
        return f"{KEY_VARIABLE} is set but blank: put the key in it, or unset it"
    if provider == "openai" and not value:
        return f"no API key: set {KEY_VARIABLE}"
    return None


def access_note(provider: str, given_url: str | None = None) -> str | None:
    if blocker(provider, given_url):
        return None
    where = endpoint(base_url(provider, given_url))
    return f"{where}, key in {KEY_VARIABLE}" if os.environ.get(KEY_VARIABLE) else f"{where}"


def connect(provider: str, name: str, *, timeout: float, base_url_given: str | None = None
            ) -> OpenAICompatModel:
    url = base_url(provider, base_url_given)
    if url is None:
        raise GenerationError(blocker(provider, base_url_given) or "no base URL")
    return OpenAICompatModel(provider, name, url, timeout)


class OpenAICompatModel:
    """`Model` over the `openai` client, for any server speaking chat completions."""

    def __init__(self, provider: str, name: str, url: str, timeout: float) -> None:
        self.provider, self.name, self.url, self.timeout = provider, name, url, timeout
        self.host = endpoint(url)
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            # A local server needs no key, but the client insists on one: any word does.
            self._client = openai.OpenAI(
                api_key=os.environ.get(KEY_VARIABLE, "").strip() or "none",
                base_url=self.url, timeout=self.timeout, max_retries=0)
        return self._client

    def complete(self, request: ModelRequest, *, on_text: TextSink | None = None,
                 on_notice: Notice | None = None) -> Reply:
        try:
            return self._complete(request, on_text, on_notice)
        except GenerationError as e:
            raise GenerationError(scrub_secrets(str(e))) from e
        except Exception as e:  # noqa: BLE001 - every client failure becomes a reason
            raise GenerationError(scrub_secrets(self.explain(e))) from e

    def _complete(self, request: ModelRequest, on_text: TextSink | None,
                  on_notice: Notice | None) -> Reply:
        messages = [{"role": "system", "content": request.system},
                    {"role": "user", "content": request.user}]
        options: dict[str, Any] = {"model": self.name, "messages": messages}
        if request.max_tokens:
            options["max_tokens"] = request.max_tokens
        if request.json_schema is not None:
            options["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "judgment", "schema": request.json_schema, "strict": False}}
        try:
            reply = self._ask(options, on_text, on_notice)
        except _Refused:
            # A server without structured outputs: ask for JSON in words; grading
            # reads the JSON (fenced or not) and validates it against the schema.
            del options["response_format"]
            messages[0] = {"role": "system", "content": request.system + (
                "\n\nAnswer with one JSON object only, valid against this JSON schema:\n"
                + json.dumps(request.json_schema))}
            reply = self._ask(options, on_text, on_notice)
        return reply

    def _ask(self, options: dict[str, Any], on_text: TextSink | None,
             on_notice: Notice | None) -> Reply:
        client = self._get_client()
        if on_text is None:
            response = self._send(lambda: client.chat.completions.create(**options),
                                  on_notice, bool(options.get("response_format")))
            choice = response.choices[0] if response.choices else None
            text = (getattr(getattr(choice, "message", None), "content", None) or "")
            reason = getattr(choice, "finish_reason", None)
            return self._reply(text, reason, getattr(response, "usage", None),
                               getattr(response, "model", None), options.get("max_tokens"))
        from meta_prompting.models.keys import StreamScrubber

        shown = StreamScrubber(on_text)
        pieces: list[str] = []
        last: dict[str, Any] = {}

        def stream() -> None:
            chunks = client.chat.completions.create(
                **options, stream=True, stream_options={"include_usage": True})
            for chunk in chunks:
                last["model"] = getattr(chunk, "model", None) or last.get("model")
                if getattr(chunk, "usage", None) is not None:
                    last["usage"] = chunk.usage
                for choice in chunk.choices or []:
                    piece = getattr(choice.delta, "content", None)
                    if piece:
                        pieces.append(piece)
                        shown.feed(piece)
                    if choice.finish_reason:
                        last["reason"] = choice.finish_reason
            shown.close()

        # Once text was shown, asking again would show it twice.
        self._send(stream, on_notice, bool(options.get("response_format")),
                   retryable=lambda: not pieces)
        if "reason" not in last:
            raise GenerationError("the stream ended before the answer did (no finish reason)")
        return self._reply("".join(pieces), last["reason"], last.get("usage"),
                           last.get("model"), options.get("max_tokens"))

    def _reply(self, text: str, reason: str | None, usage: Any, version: str | None,
               limit: int | None) -> Reply:
        finish = FINISH.get(str(reason), str(reason).upper())
        if finish == "MAX_TOKENS":
            from meta_prompting.models.base import cut_off_advice

            spent = getattr(usage, "completion_tokens", None)  # reasoning tokens included
            raise GenerationError("the answer was cut off at the token limit (MAX_TOKENS)"
                                  + cut_off_advice(limit, spent if isinstance(spent, int)
                                                   else None))
        if finish != "STOP":
            raise GenerationError(f"the model stopped without a usable answer ({finish})")
        check_no_key(text)
        if not text.strip():
            raise GenerationError("the model returned an empty answer")
        details = getattr(usage, "prompt_tokens_details", None)
        thinking = getattr(usage, "completion_tokens_details", None)
        counts = usage_of(prompt=getattr(usage, "prompt_tokens", None),
                          answer=getattr(usage, "completion_tokens", None),
                          thinking=getattr(thinking, "reasoning_tokens", None),
                          cached=getattr(details, "cached_tokens", None),
                          total=getattr(usage, "total_tokens", None))
        said = scrub_secrets(str(version or self.name)).strip().splitlines()
        return Reply(text, "STOP", counts, said[0][:200] if said else self.name,
                     self.provider, self.host)

    def _send(self, attempt: Callable[[], T], on_notice: Notice | None, schema: bool,
              retryable: Callable[[], bool] = lambda: True) -> T:
        """`attempt()` through the model's limiter; a 429 or 5xx waits (Retry-After if
        the server names it) and tries again, within --timeout and ATTEMPTS."""
        import openai

        from meta_prompting.models.ratelimit import Waited, asked_delay, backoff, limiter_for

        limiter = limiter_for(f"{self.provider}:{self.name}@{self.host}")
        deadline = time.monotonic() + self.timeout
        tries = 0
        while True:
            try:
                with limiter.slot(deadline) as ticket:
                    try:
                        result = attempt()
                    except openai.APIStatusError as e:
                        if schema and e.status_code in (400, 422) and _about_format(e):
                            raise _Refused from e
                        tries += 1
                        if (e.status_code not in RETRY_STATUSES or tries >= ATTEMPTS
                                or not retryable()):
                            raise
                        asked = asked_delay(e)
                        wait = backoff(tries) if asked is None else asked
                        said = _first_line(_message(e))
                        if e.status_code == 429:
                            limiter.rate_limited(ticket, wait, said, on_notice)
                        elif on_notice is not None:
                            on_notice(f"retrying in {wait:.1f}s (the service answered "
                                      f"{e.status_code})")
                        if time.monotonic() + wait > deadline:
                            raise GenerationError(
                                f"the service answered {e.status_code}: {said}; waiting "
                                f"{wait:g} s would pass --timeout {self.timeout:g}s") from e
                        if e.status_code != 429:
                            time.sleep(wait)
                        continue
            except Waited as e:
                raise GenerationError(f"rate-limited: {e}, beyond --timeout "
                                      f"{self.timeout:g}s") from e
            limiter.succeeded()
            return result

    def explain(self, e: Exception) -> str:
        """One line a person can act on, for any failure the client raises."""
        import openai

        if isinstance(e, openai.APITimeoutError):
            return f"no answer from {self.url} within {self.timeout:g}s"
        if isinstance(e, openai.APIConnectionError):
            return (f"cannot reach {self.url}"
                    + (": is Ollama running (`ollama serve`)?" if self.provider == "ollama"
                       else ""))
        if isinstance(e, openai.APIStatusError):
            code, words = e.status_code, _first_line(_message(e))
            if code == 401:
                return f"the API key was refused (401): fix {KEY_VARIABLE} ({words})"
            if code == 404:
                return (f"model {self.name!r} not found (404) at {self.host} ({words}); "
                        "choose another with --model")
            tries = f" after {ATTEMPTS} attempts" if code in RETRY_STATUSES else ""
            return f"the service answered {code}{tries}: {words}"
        if isinstance(e, json.JSONDecodeError):
            return "the service sent an answer that is not JSON"
        return f"{type(e).__name__}: {_first_line(str(e))}"


class _Refused(Exception):
    """The server does not take response_format json_schema."""


def _message(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(e, "message", "") or e)


def _about_format(e: Any) -> bool:
    said = (_message(e) + json.dumps(getattr(e, "body", None), default=str)).lower()
    return "response_format" in said or "json_schema" in said


def _first_line(text: str | None) -> str:
    text = scrub_secrets(text or "").strip()
    return text.splitlines()[0][:200] if text else ""
