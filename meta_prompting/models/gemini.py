"""The Gemini provider: google-genai behind the `Model` seam.

The only code that touches google-genai (with gemini_batch.py, its Batch side),
imported only when a call is made (it costs ~1 s); it knows nothing of goals or parts.
Every SDK failure becomes a GenerationError whose one line a person can act on, scrubbed
of the key. The SDK retries 408/5xx itself and says so only in its log: that line is
turned into a notice here, for the call that is retrying (`gemini_log`), so nothing
above the seam reads a log.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from meta_prompting.errors import GenerationError
from meta_prompting.models import keys
from meta_prompting.models.base import ModelRequest, Notice, Reply, TextSink, usage_of
from meta_prompting.models.keys import (
    check_no_key,
    find_key,
    key_blocker,
    scrub_secrets,
    use_vertex,
)

T = TypeVar("T")

PROVIDER = "gemini"
# The SDK's retry list without 429: it would retry a 429 on its own schedule, ignoring
# the delay the service asks for (googleapis/python-genai#1875); _send does that one.
RETRY_STATUSES = [408, 500, 502, 503, 504]
# google-genai 3.x defaults to v1, where the -latest aliases (our default model) do not
# exist (v3.0.0 release notes) and systemInstruction, responseMimeType and
# responseJsonSchema are unknown fields (python-genai #1837, js-genai #1746).
DEVELOPER_API_VERSION = "v1beta"
DEFAULT_MODEL = "gemini-flash-latest"  # Google's alias for the current Flash release
# Vertex AI serves concrete model ids only: no -latest aliases there.
VERTEX_DEFAULT_MODEL = "gemini-2.5-flash"  # in google-genai 3.6.1's current-model table


def default_name(provider: str = PROVIDER) -> str:
    """The model when none is named (one Vertex AI serves, there)."""
    return VERTEX_DEFAULT_MODEL if use_vertex() else DEFAULT_MODEL


def blocker(provider: str = PROVIDER, base_url: str | None = None) -> str | None:
    """Why this provider cannot be asked now (cheap: no SDK import), or None."""
    if base_url is not None:  # the SDK's own GOOGLE_GEMINI_BASE_URL says where instead
        return ("--base-url is for OpenAI-compatible servers (--model ollama:NAME, "
                "openai:NAME, openai-compat:NAME); Gemini reads GOOGLE_GEMINI_BASE_URL")
    return key_blocker()


def access_note(provider: str = PROVIDER, base_url: str | None = None) -> str | None:
    """How the SDK will reach the model, in a few words; None when it has no way."""
    return keys.access_note()


def connect(provider: str, name: str, *, timeout: float, base_url_given: str | None = None
            ) -> GeminiModel:
    """The provider's model; the SDK's own variables decide where it goes."""
    return GeminiModel(name, timeout)


def raw_answer(response: Any, text: str | None = None) -> str:
    """The answer's literal text, or GenerationError saying why there is none.

    `response.text` is None when blocked and *truncated* at MAX_TOKENS, so the finish
    reason is checked first: a cut-off answer must never be kept as if it were whole.
    For a stream, `response` is the last chunk and `text` what the chunks carried.
    """
    feedback = getattr(response, "prompt_feedback", None)
    block = getattr(feedback, "block_reason", None)
    if block:
        raise GenerationError(f"the prompt was blocked ({_name(block)})")
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        raise GenerationError("the model returned no answer (no candidates)")
    reason = _name(getattr(candidates[0], "finish_reason", None))
    if reason == "MAX_TOKENS":
        raise GenerationError("the answer was cut off at the token limit (MAX_TOKENS)")
    if reason not in ("STOP", "None"):
        raise GenerationError(f"the model stopped without a usable answer ({reason})")
    if text is None:
        text = text_of(response)
    check_no_key(text)
    if not text.strip():
        raise GenerationError("the model returned an empty answer")
    return text


def _spent(response: Any) -> int | None:
    """The answer and thinking tokens a response says were spent; None if it says none."""
    usage = getattr(response, "usage_metadata", None)
    counts = [getattr(usage, f, None) for f in ("candidates_token_count",
                                                 "thoughts_token_count")]
    known = [n for n in counts if isinstance(n, int)]
    return sum(known) if known else None


def text_of(response: Any) -> str:
    """The text parts of a response (or a streamed chunk), without "thought" parts:
    a thinking model's reasoning is not the answer."""
    candidates = getattr(response, "candidates", None) or []
    content = getattr(candidates[0], "content", None) if candidates else None
    parts = getattr(content, "parts", None) or []
    return "".join(p.text for p in parts if getattr(p, "text", None) and not getattr(
        p, "thought", False))


def _name(value: Any) -> str:
    return str(getattr(value, "name", value))


def generation_config(request: ModelRequest) -> Any:
    """The SDK's settings for one request: system instruction, token limit, answer schema.

    The one place a ModelRequest becomes them, so an interactive call and a request in a
    batch (models/gemini_batch.py) carry the same.
    """
    from google.genai import types

    return types.GenerateContentConfig(
        system_instruction=request.system, max_output_tokens=request.max_tokens,
        response_mime_type="application/json" if request.json_schema else None,
        response_json_schema=request.json_schema)


def reply_of(response: Any, text: str, model: str) -> Reply:
    """The Reply for a whole answer `text`: its token counts and the version that answered."""
    usage = getattr(response, "usage_metadata", None)
    counts = usage_of(**{name: getattr(usage, field, None) for name, field in (
        ("prompt", "prompt_token_count"), ("answer", "candidates_token_count"),
        ("thinking", "thoughts_token_count"), ("cached", "cached_content_token_count"),
        ("total", "total_token_count"))})
    # Kept in records and shown: the service's words, so scrubbed.
    version = getattr(response, "model_version", None) or model
    return Reply(text, "STOP", counts, _first_line(str(version)) or model, PROVIDER)


def refused_reason(e: GenerationError, max_tokens: int | None, used: int | None = None
                   ) -> str:
    """Why an answer was refused, scrubbed (its words may quote the service), with a
    larger limit filled in when it was cut off at the token limit (`used`: the tokens
    the model spent before it stopped, when the reply says)."""
    why = scrub_secrets(str(e))
    if "MAX_TOKENS" in why:
        from meta_prompting.models.base import cut_off_advice

        why += cut_off_advice(max_tokens, used)
    return why


def retry_delay() -> float:
    """Seconds before the first retry ($META_PROMPTING_RETRY_DELAY; doubles each time)."""
    try:
        return max(0.0, float(os.environ.get("META_PROMPTING_RETRY_DELAY", "1.0")))
    except ValueError:
        return 1.0


def api_version() -> str:
    """The API version requests go to: $GOOGLE_GENAI_API_VERSION, else the one our
    requests need (v1beta; on Vertex AI the SDK's own v1beta1, which takes them too)."""
    chosen = os.environ.get("GOOGLE_GENAI_API_VERSION")
    if use_vertex():
        return "v1beta1" if not chosen or chosen == "beta" else chosen  # the SDK's rule
    return DEVELOPER_API_VERSION if not chosen or chosen == "beta" else chosen


class GeminiModel:
    """`Model` over the real google-genai client, built the standard way."""

    provider = PROVIDER

    def __init__(self, model: str, timeout: float, attempts: int = 4) -> None:
        found = find_key()  # checked by blocker() before a model is opened
        self.vertex = use_vertex()
        self.key_variable = found[0] if found else "GEMINI_API_KEY"
        self.model = self.name = model
        self.timeout = timeout
        self.attempts = attempts
        self.api_version = api_version()
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._client_lock:  # one client, one connection pool, for all threads
            if self._client is None:
                from google import genai
                from google.genai import types

                delay = retry_delay()
                options = types.HttpOptions(
                    # Always named, never left to the SDK: 2.x (the line for Python 3.10)
                    # defaults to v1beta and 3.x to v1, which lacks what we send and our
                    # default model, and 2.x does not read GOOGLE_GENAI_API_VERSION; the
                    # version a user chose still wins (api_version()).
                    api_version=self.api_version,
                    timeout=int(self.timeout * 1000),  # milliseconds
                    retry_options=types.HttpRetryOptions(
                        attempts=self.attempts, initial_delay=delay, max_delay=max(delay, 16.0),
                        exp_base=2, jitter=min(delay, 1.0), http_status_codes=RETRY_STATUSES),
                )
                if self.vertex:
                    # Named, not left to the SDK: with a base URL of its own (a proxy,
                    # the tests' fake) the SDK drops a project and location read from
                    # the environment and posts to the bare base URL (_api_client.py).
                    self._client = genai.Client(
                        vertexai=True, http_options=options,
                        project=os.environ.get("GOOGLE_CLOUD_PROJECT") or None,
                        location=os.environ.get("GOOGLE_CLOUD_LOCATION") or None)
                else:
                    # No api_key argument: the SDK reads GEMINI_API_KEY/GOOGLE_API_KEY and
                    # GOOGLE_GEMINI_BASE_URL itself, so its own settings keep working.
                    self._client = genai.Client(http_options=options)
            return self._client

    def _send(self, attempt: Callable[[], T], on_notice: Notice | None = None,
              retryable: Callable[[], bool] = lambda: True) -> T:
        """`attempt()` through the model's limiter; on 429 wait as the service asks and
        try again, within --timeout, unless `retryable()` says part was already shown."""
        from google.genai import errors

        from meta_prompting.models.ratelimit import Waited, asked_delay, backoff, limiter_for

        limiter = limiter_for(self.model)
        deadline = time.monotonic() + self.timeout
        tries = 0
        while True:
            try:
                with limiter.slot(deadline) as ticket:
                    try:
                        result = attempt()
                    except errors.APIError as e:
                        if e.code != 429 or not retryable():
                            raise
                        tries += 1
                        asked = asked_delay(e)
                        wait = backoff(tries) if asked is None else asked
                        limiter.rate_limited(ticket, wait, _first_line(e.message), on_notice)
                        if time.monotonic() + wait > deadline:
                            why = "as the service asked" if asked is not None else "to back off"
                            raise GenerationError(
                                f"the service answered 429 {e.status or ''}: "
                                f"{_first_line(e.message)}; waiting {wait:g} s, {why}, "
                                f"would pass --timeout {self.timeout:g}s") from e
                        continue
            except Waited as e:
                raise GenerationError(f"rate-limited: {e}, beyond --timeout "
                                      f"{self.timeout:g}s") from e
            limiter.succeeded()
            return result

    def complete(self, request: ModelRequest, *, on_text: TextSink | None = None,
                 on_notice: Notice | None = None) -> Reply:
        """One fresh session: the system instruction and one user turn, no history.
        With `on_text`, the answer streams to it as it comes; a stream that ends
        without STOP is refused like a cut-off answer."""
        pieces: list[str] = []
        last: Any = None  # the last response: a cut-off answer's tokens say its limit
        try:
            client = self._get_client()
            config = generation_config(request)
            prompt = request.user
            from meta_prompting.models.gemini_log import sdk_retries

            with sdk_retries(on_notice):
                if on_text is None:
                    last = self._send(lambda: client.models.generate_content(
                        model=self.model, contents=prompt, config=config), on_notice)
                    text = raw_answer(last)
                else:
                    from meta_prompting.models.keys import StreamScrubber

                    # Shown before the whole is checked: scrubbed as one text, since a
                    # key can arrive a few characters a piece.
                    shown = StreamScrubber(on_text)

                    def stream() -> Any:
                        last = None
                        for chunk in client.models.generate_content_stream(
                                model=self.model, contents=prompt, config=config):
                            last, piece = chunk, text_of(chunk)
                            if piece:
                                pieces.append(piece)
                                shown.feed(piece)
                        shown.close()
                        return last

                    # A 429 once text was shown cannot be asked again without showing
                    # it twice.
                    last = self._send(stream, on_notice, retryable=lambda: not pieces)
                    if last is None:
                        raise GenerationError("the model returned no answer (an empty stream)")
                    text = raw_answer(last, "".join(pieces))
        except GenerationError as e:
            raise GenerationError(refused_reason(e, request.max_tokens, _spent(last))) from e
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a reason
            raise GenerationError(scrub_secrets(self.explain(e))) from e
        return reply_of(last, text, self.model)

    def count_tokens(self, text: str) -> int:
        """The service's count of tokens in `text` (one request; the live check uses it).

        The system text, if any, goes into `text`: the Developer API refuses a count
        with a system instruction or settings (models.py `_CountTokensConfig_to_mldev`).
        """
        try:
            client = self._get_client()
            counted = self._send(lambda: client.models.count_tokens(model=self.model,
                                                                    contents=text))
            return int(getattr(counted, "total_tokens", 0) or 0)
        except GenerationError as e:
            raise GenerationError(scrub_secrets(str(e))) from e
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a reason
            raise GenerationError(scrub_secrets(self.explain(e))) from e

    def explain(self, e: Exception) -> str:
        """One line a person can act on, for any failure the SDK or its transport raises."""
        try:
            from google.genai import errors
        except Exception:  # noqa: BLE001 - e.g. out of file descriptors: say what failed
            return f"{type(e).__name__}: {_first_line(str(e))}"

        variable = self.key_variable
        if isinstance(e, errors.APIError):
            return self._explain_api(e)
        kind = type(e).__name__
        if self.vertex and kind == "DefaultCredentialsError":
            return ("no Google Cloud credentials for Vertex AI: run `gcloud auth "
                    "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
                    f"key file ({_first_line(str(e))})")
        if self.vertex and kind == "RefreshError":
            return (f"the Google Cloud credentials were refused ({_first_line(str(e))}): run "
                    "`gcloud auth application-default login` again")
        if self.vertex and "Could not resolve project" in str(e):
            return "no Google Cloud project for Vertex AI: set GOOGLE_CLOUD_PROJECT"
        if isinstance(e, json.JSONDecodeError):
            return "the service sent an answer that is not JSON"
        if "Timeout" in kind or isinstance(e, TimeoutError):
            return f"no answer within {self.timeout:g}s ({kind})"
        if "Connect" in kind:
            return f"cannot reach the service ({_first_line(str(e)) or kind})"
        if "RemoteProtocol" in kind:
            return "the service dropped the connection without answering"
        if "Illegal header value" in str(e) or isinstance(e, UnicodeEncodeError):
            # The key goes in a header: a line break or a non-ASCII letter cannot.
            return (f"the API key in {variable} holds a character an HTTP header cannot "
                    f"carry (a line break, a non-ASCII letter): fix {variable}")
        return f"{kind}: {_first_line(str(e))}"

    def _explain_api(self, e: Any, retried: bool = True) -> str:
        """An error the service answered: its own words, and what to do about it
        (`retried`: the SDK tried it again first, as it does the statuses it retries)."""
        variable = self.key_variable
        code, status = e.code, e.status or ""
        said = f"{e.details} {e.message}"
        if code in (400, 401) and ("API_KEY_INVALID" in said
                                   or "api key not valid" in said.lower()):
            return f"the API key was refused (API_KEY_INVALID): fix {variable}"
        if "API_KEY_EXPIRED" in said or "api key expired" in said.lower():
            return f"the API key has expired (API_KEY_EXPIRED): renew it in {variable}"
        words = _first_line(e.message)
        if code in (401, 403):
            check = ("the Google Cloud credentials and that the project may use Vertex AI"
                     if self.vertex else f"{variable} and that the key may use the Gemini API")
            return f"access denied ({code} {status}): check {check} (the service: {words})"
        if code == 404:
            other = ("" if self.api_version == DEVELOPER_API_VERSION or self.vertex else
                     f", or set GOOGLE_GENAI_API_VERSION={DEVELOPER_API_VERSION}")
            return (f"model {self.model!r} not found (404) on API version {self.api_version} "
                    f"({words}); choose another with --model or META_PROMPTING_MODEL{other}")
        if code == 400 and "Unknown name" in words and not self.vertex:
            return (f"the service answered 400 {status} on API version {self.api_version} "
                    f"({words}); set GOOGLE_GENAI_API_VERSION={DEVELOPER_API_VERSION}, "
                    "which takes what we send")
        tries = f" after {self.attempts} attempts" if code in RETRY_STATUSES and retried else ""
        return f"the service answered {code} {status}{tries}: {words}"


def _first_line(text: str | None) -> str:
    """The first line of the service's words, scrubbed of the key *before* it is cut."""
    text = scrub_secrets(text or "").strip()
    return text.splitlines()[0][:200] if text else ""
