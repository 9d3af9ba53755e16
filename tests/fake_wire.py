"""What goes over the wire between the real client and the fake: replies, records, events.

The reply factories (`ok`, `error`, `blocked`, `cut_stream`, ...), the record of each
request, and how a reply is finalised for one request and cut into stream events.
`tests/fake_gemini.py` serves them; its docstring is the manual.

The fake's own answers (`default_answer`, `structured_reply`) are shaped like real
models' answers, not like the ones our code would find easiest to read: a kind fake
hides the failures real models cause.
"""

from __future__ import annotations

import copy
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fake_schema import KEEP, Overrides, schema_instance


@dataclass(frozen=True)
class Reply:
    """What the server does with one request. Build with the factories below."""

    status: int = 200
    payload: dict[str, Any] | None = None  # serialised as JSON
    raw: bytes | None = None  # sent verbatim instead of payload (malformed bodies)
    action: str = "respond"  # "respond" | "hang" | "drop"
    seconds: float = 0.0  # for "hang"
    stream_chunks: int | None = None  # events on a stream; None: the server's stream_chunks
    cut_after: int | None = None  # on a stream: events sent before the cut
    cut_event: dict[str, Any] | None = None  # sent at the cut; None: drop the connection
    headers: tuple[tuple[str, str], ...] = ()  # extra response headers (Retry-After)
    content_type: str | None = None  # None: JSON (HTML for Google's 404 page)


def ok(text: str, finish_reason: str = "STOP") -> Reply:
    # None-valued usage/model fields are filled in per request (see _finalise).
    cand = {
        "content": {"role": "model", "parts": [{"text": text}] if text else []},
        "finishReason": finish_reason,
        "index": 0,
    }
    return Reply(
        payload={
            "candidates": [cand],
            "usageMetadata": {
                "promptTokenCount": None,
                "candidatesTokenCount": len(text.split()),
                "totalTokenCount": None,
            },
            "modelVersion": None,
        }
    )


def json_reply(obj: Any) -> Reply:
    """ok() with `obj` as JSON text, as a model answers under response_mime_type JSON."""
    return ok(json.dumps(obj))


def finish(reason: str, text: str = "") -> Reply:
    """A candidate that ended with `reason` (SAFETY, MAX_TOKENS, RECITATION...);
    with text="" the candidate has no parts, as the real API sends for SAFETY."""
    return ok(text, finish_reason=reason)


def error(code: int, status: str, message: str = "", details: list[Any] | None = None) -> Reply:
    return Reply(status=code, payload=_error_body(code, status, message, details))


def _error_body(
    code: int, status: str, message: str = "", details: list[Any] | None = None
) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message or f"fake {status}", "status": status}
    if details is not None:
        err["details"] = details
    return {"error": err}


def invalid_key() -> Reply:
    # Same body the real API sends for a bad key (HTTP 400, not 401/403).
    return error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )


def blocked(reason: str = "SAFETY") -> Reply:
    return Reply(
        payload={
            "promptFeedback": {"blockReason": reason},
            "usageMetadata": {"promptTokenCount": None, "totalTokenCount": None},
            "modelVersion": None,
        }
    )


def empty_candidates() -> Reply:
    return Reply(payload={"candidates": []})


def malformed(body: bytes = b"<html>this is not JSON</html>") -> Reply:
    return Reply(raw=body)


def hang(seconds: float = 30.0) -> Reply:
    """Answer nothing for `seconds` (or until stop()), then close the connection."""
    return Reply(action="hang", seconds=seconds)


def drop() -> Reply:
    """Close the connection without sending any response bytes."""
    return Reply(action="drop")


def cut_stream(text: str = "a streamed answer that never ends", after: int = 1) -> Reply:
    """On a stream: send `after` events of `text` (never the finishing one), then drop
    the connection. On a plain request: a drop."""
    return Reply(payload=ok(text).payload, cut_after=after)


def stream_error(
    text: str = "a streamed answer that fails",
    code: int = 500,
    status: str = "INTERNAL",
    after: int = 1,
) -> Reply:
    """On a stream: send `after` events of `text`, then an error event, then end the
    body cleanly (the SDK raises errors.APIError while iterating)."""
    return Reply(
        payload=ok(text).payload, cut_after=after, cut_event=_error_body(code, status)
    )


def prompt_text(body: dict[str, Any] | None) -> str:
    """All contents[].parts[].text of a request body, joined with newlines."""
    return "\n".join(
        p["text"]
        for c in (body or {}).get("contents") or []
        for p in c.get("parts") or []
        if isinstance(p.get("text"), str)
    )


def system_instruction(body: dict[str, Any] | None) -> str | None:
    """The text of systemInstruction (REST camelCase; snake_case accepted too), or None."""
    si = (body or {}).get("systemInstruction") or (body or {}).get("system_instruction")
    if not si:
        return None
    return "\n".join(p["text"] for p in si.get("parts") or [] if isinstance(p.get("text"), str))


@dataclass
class RequestRecord:
    path: str
    method: str
    api_version: str | None
    model: str | None
    body: dict[str, Any] | None  # None if the body was not a JSON object
    api_key: str | None  # the x-goog-api-key header
    headers: dict[str, str]
    start: float  # time.monotonic()
    end: float | None = None  # set once the reply has been sent (or dropped)
    status: int | None = None  # HTTP status sent; None for hang/drop
    action: str | None = None  # generateContent | streamGenerateContent | countTokens
    stream: bool = False  # streamGenerateContent

    @property
    def prompt(self) -> str:
        return prompt_text(self.body)

    @property
    def system(self) -> str | None:
        return system_instruction(self.body)

    @property
    def contents_count(self) -> int:
        """Entries in contents: 1 for a fresh session, more when history is sent."""
        contents = (self.body or {}).get("contents")
        return len(contents) if isinstance(contents, list) else 0

    @property
    def generation_config(self) -> dict[str, Any]:
        gc = (self.body or {}).get("generationConfig") or (self.body or {}).get(
            "generation_config"
        )
        return gc if isinstance(gc, dict) else {}

    @property
    def response_schema(self) -> dict[str, Any] | None:
        """responseJsonSchema or responseSchema, whichever was sent."""
        gc = self.generation_config
        for key in ("responseJsonSchema", "response_json_schema", "responseSchema"):
            if isinstance(gc.get(key), dict):
                return gc[key]  # type: ignore[no-any-return]
        return gc.get("response_schema") if isinstance(gc.get("response_schema"), dict) else None


@dataclass
class FailRule:
    """One `fail_when` rule; `hits` counts the requests it has answered."""

    match: str | Callable[[RequestRecord], bool]
    reply: Reply
    times: int | None = None
    hits: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else max(0, self.times - self.hits)

    def matches(self, rec: RequestRecord) -> bool:
        if callable(self.match):
            return bool(self.match(rec))
        return self.match in rec.prompt


def _finalise(reply: Reply, rec: RequestRecord) -> dict[str, Any]:
    # Fill request-dependent fields so one Reply object can be reused safely.
    payload = copy.deepcopy(reply.payload or {})
    if "modelVersion" in payload and payload["modelVersion"] is None:
        payload["modelVersion"] = rec.model or "fake-model"
    usage = payload.get("usageMetadata")
    if isinstance(usage, dict):
        if usage.get("promptTokenCount") is None:
            usage["promptTokenCount"] = len(rec.prompt.split())
        if usage.get("totalTokenCount") is None:
            usage["totalTokenCount"] = usage["promptTokenCount"] + usage.get(
                "candidatesTokenCount", 0
            )
    return payload


def split_text(text: str, n: int) -> list[str]:
    """`text` in at most `n` pieces cut at word boundaries; joined they give it back."""
    words = re.findall(r"\s*\S+\s*", text)
    if len(words) <= 1 or n <= 1:
        return [text]
    k = min(n, len(words))
    return ["".join(words[i * len(words) // k : (i + 1) * len(words) // k]) for i in range(k)]


def _stream_events(payload: dict[str, Any], n: int) -> list[dict[str, Any]]:
    cands = payload.get("candidates")
    parts = (cands[0].get("content") or {}).get("parts") if cands else None
    texts = [p["text"] for p in parts or [] if isinstance(p.get("text"), str)]
    pieces = split_text("".join(texts), n) if texts else []
    if len(pieces) <= 1:
        return [payload]
    usage = payload.get("usageMetadata")
    events: list[dict[str, Any]] = []
    for piece in pieces[:-1]:
        event: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}]
        }
        if isinstance(usage, dict):  # the real API repeats the prompt count on each event
            prompt = usage.get("promptTokenCount")
            event["usageMetadata"] = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        if "modelVersion" in payload:
            event["modelVersion"] = payload["modelVersion"]
        events.append(event)
    last = copy.deepcopy(payload)
    last["candidates"][0]["content"]["parts"] = [{"text": pieces[-1]}]
    return [*events, last]


def default_answer(prompt: str) -> str:
    """The fake's answer when a test asked for nothing else. It still says which prompt
    it answers ("Generated text for: <first 80 characters>") so tests can tell."""
    # Real models number their headings and set some in bold, or write a bold line in
    # place of a heading (Gemini 2.5 and GPT-4o both do, unasked); chains that hand on a
    # section by its title must find "Notes" in "**2. Notes**".
    return (f"### 1. Answer\n\nGenerated text for: {prompt[:80]}\n\n"
            "**2. Notes**\n\n- Written the way real models write: numbered, **bold** "
            "headings.\n")


_ANSWER_DOCUMENT = re.compile(r'<(document(?:-\d+)?) name="answer">\n(.*?)\n</\1>', re.DOTALL)
_MARKDOWN = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]*|[-*+][ \t]+|\d+[.)][ \t]+)*")


def judged_quote(answer: str) -> str | None:
    """What a real judge quotes from `answer`: its longest line, Markdown dropped."""
    # Judges copy the words, not the Markdown: they drop **, backticks, list markers
    # and heading marks, and start the quote with a capital (seen in Gemini 2.5 and
    # Claude judgments alike), so the quote check must match words, not bytes.
    lines = [" ".join(_MARKDOWN.sub("", line).replace("**", "").replace("`", "").split())
             for line in answer.splitlines()]
    best = max(lines, key=len, default="")
    words = best.split()[:14]  # a passage, not the whole paragraph
    quote = " ".join(words)
    return quote[:1].upper() + quote[1:] if len(quote) >= 12 else None


def structured_reply(rec: RequestRecord, overrides: Overrides | None = None) -> Reply:
    """JSON valid for the request's schema; for a judgment (a schema with "criteria" and
    "path_forward"), quotes from the answer it judges, copied as real judges copy."""
    schema = rec.response_schema or {}
    props = schema.get("properties") or {}
    found = _ANSWER_DOCUMENT.search(rec.prompt)
    quote = judged_quote(found.group(2)) if found else None
    if not {"criteria", "path_forward"} <= set(props) or quote is None:
        return json_reply(schema_instance(schema, overrides))

    def shape(path: tuple[str | int, ...], sub: dict[str, Any]) -> Any:
        name = path[-1] if path else None
        if callable(overrides):
            value = overrides(path, sub)
        elif overrides is not None and isinstance(name, str) and name in overrides:
            value = overrides[name]
        else:
            value = KEEP
        if value is not KEEP:
            return value
        return [quote] if name == "quotes" else quote if name == "quote" else KEEP

    text = json.dumps(schema_instance(schema, shape), indent=2)
    # Models asked for JSON often fence it (```json), and some add a sentence around it:
    # Gemini does when the schema reaches it only in words (an older model, a proxy that
    # drops responseJsonSchema), as do most OpenAI-compatible endpoints without JSON
    # mode. Half the fake's judgments come fenced, chosen by the prompt, so a test's
    # judgments are the same on every run.
    if zlib.crc32(rec.prompt.encode("utf-8")) % 2:
        text = f"```json\n{text}\n```"
    return ok(text)
