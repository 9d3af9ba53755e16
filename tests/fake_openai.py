"""A fake OpenAI-compatible server (chat completions) on 127.0.0.1, for the real `openai`
client: what Ollama, vLLM or OpenAI itself would answer.

  POST /v1/chat/completions   one JSON reply, or Server-Sent Events with "stream": true

Strict where the API is (OpenAI API reference, "Chat > Create chat completion",
platform.openai.com/docs/api-reference/chat/create): "model" (a string) and "messages"
(a non-empty array of {role, content}) are required, roles are system, developer, user,
assistant or tool; `response_format` is {"type": "text" | "json_object"} or
{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}} ("name" is
required; Structured Outputs guide); `stream_options` only with "stream": true. A bad
request gets 400 with {"error": {"message", "type", "param", "code"}} (the API's error
object, "Error codes" guide); an unknown model 404 code "model_not_found"; with
`fake.key` set, a request without "Authorization: Bearer <key>" gets 401
"invalid_api_key", whose message quotes the key given, as OpenAI's does ("Incorrect
API key provided: sk-...").

Streaming (the "chat.completion.chunk" object): the first chunk carries the role, then
one chunk per piece of the text, the last with "finish_reason"; with
stream_options.include_usage a final chunk has "choices": [] and "usage"; then
"data: [DONE]". Usage: prompt_tokens (words sent), completion_tokens (words answered),
total_tokens, prompt_tokens_details.cached_tokens, completion_tokens_details
.reasoning_tokens.

Replies: queue with `enqueue(...)`: `Text(text, finish_reason="stop")`,
`Failure(status, message, retry_after=None)`. Otherwise JSON for a json_schema request
(the Gemini fake's judgments, quoting the answer), else the Gemini fake's default
answer. `structured = False` makes it refuse json_schema as servers without
Structured Outputs do (400, param "response_format").
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fake_wire import default_answer, structured_reply

FAKE_OPENAI_KEY = "sk-fake-openai-key-0123456789abcdef"
MODELS = {"llama3.2", "gpt-4.1-mini", "qwen2.5"}
ROLES = {"system", "developer", "user", "assistant", "tool"}


@dataclass(frozen=True)
class Text:
    text: str
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Failure:
    status: int
    message: str = "failed"
    retry_after: float | None = None
    code: str | None = None


@dataclass
class Record:
    body: dict[str, Any]
    authorization: str | None
    status: int = 0

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def user(self) -> str:
        return "\n".join(m["content"] for m in self.body["messages"] if m["role"] == "user")

    @property
    def system(self) -> str:
        return "\n".join(m["content"] for m in self.body["messages"] if m["role"] == "system")


@dataclass
class FakeOpenAI:
    key: str | None = None  # None: a local server that takes any key or none
    structured: bool = True
    stream_chunks: int = 3
    records: list[Record] = field(default_factory=list)
    queue: list[Text | Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def count(self) -> int:
        return len(self.records)

    def enqueue(self, *replies: Text | Failure) -> None:
        with self._lock:
            self.queue.extend(replies)

    def _next(self) -> Text | Failure | None:
        with self._lock:
            return self.queue.pop(0) if self.queue else None


def _error(status: int, message: str, param: str | None = None,
           code: str | None = None) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "invalid_request_error",
            404: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def check_body(body: Any, structured: bool) -> tuple[int, dict[str, Any]] | None:
    """The API's refusal of a malformed request, or None."""
    if not isinstance(body, dict):
        return 400, _error(400, "We could not parse the JSON body of your request.")
    if not isinstance(body.get("model"), str):
        return 400, _error(400, "you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return 400, _error(400, "'messages' must contain at least 1 item", "messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(
                m.get("content"), str):
            return 400, _error(400, f"Invalid value for 'messages[{i}]'", f"messages[{i}]")
    if "stream_options" in body and not body.get("stream"):
        return 400, _error(400, "The 'stream_options' parameter is only allowed when "
                                "'stream' is enabled.", "stream_options")
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return 400, _error(400, "Invalid value for 'response_format.type'",
                               "response_format.type")
        if kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                    or not isinstance(spec.get("schema"), dict):
                return 400, _error(400, "Missing required parameter: "
                                        "'response_format.json_schema.name'.",
                                   "response_format.json_schema")
            if not structured:
                return 400, _error(400, "response_format json_schema is not supported by "
                                        "this model", "response_format")
    if body["model"] not in MODELS:
        return 404, _error(404, f"The model `{body['model']}` does not exist or you do not "
                                "have access to it.", None, "model_not_found")
    return None


class _Shim:
    """What the Gemini fake's judgment maker reads of a request."""

    def __init__(self, prompt: str, schema: dict[str, Any]) -> None:
        self.prompt, self.response_schema = prompt, schema


def answer_for(rec: Record) -> str:
    fmt = rec.body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        reply = structured_reply(_Shim(rec.user, fmt["json_schema"]["schema"]))  # type: ignore[arg-type]
        return str(reply.payload["candidates"][0]["content"]["parts"][0]["text"])  # type: ignore[index]
    if "JSON schema:\n" in rec.system:  # the fallback asks for it in words
        schema = json.loads(rec.system.rsplit("JSON schema:\n", 1)[1])
        reply = structured_reply(_Shim(rec.user, schema))  # type: ignore[arg-type]
        text = str(reply.payload["candidates"][0]["content"]["parts"][0]["text"])  # type: ignore[index]
        # As such a server's models do: a sentence, then the object in a fence.
        return "Here is my judgment:\n\n" + (
            text if text.startswith("```") else f"```json\n{text}\n```")
    return default_answer(rec.user)


def _usage(rec: Record, text: str) -> dict[str, Any]:
    prompt = sum(len(m["content"].split()) for m in rec.body["messages"])
    answer = len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": answer,
            "total_tokens": prompt + answer,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}}


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.server_fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec = Record(body if isinstance(body, dict) else {}, self.headers.get("Authorization"))
        with fake._lock:
            fake.records.append(rec)
        if self.path != "/v1/chat/completions":
            return self._json(rec, 404, _error(404, f"Invalid URL (POST {self.path})"))
        if fake.key is not None and rec.authorization != f"Bearer {fake.key}":
            given = (rec.authorization or "").removeprefix("Bearer ")
            return self._json(rec, 401, _error(
                401, f"Incorrect API key provided: {given}. You can find your API key at "
                     "https://platform.openai.com/account/api-keys.", None, "invalid_api_key"))
        refused = check_body(body, fake.structured)
        if refused:
            return self._json(rec, *refused)
        reply = fake._next() or Text(answer_for(rec))
        if isinstance(reply, Failure):
            headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after else {}
            return self._json(rec, reply.status, _error(reply.status, reply.message, None,
                                                         reply.code), headers)
        if rec.stream:
            return self._stream(rec, reply)
        self._json(rec, 200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
            "model": rec.body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": _usage(rec, reply.text)})

    def _json(self, rec: Record, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        rec.status = status
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, rec: Record, reply: Text) -> None:
        rec.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                "model": rec.body["model"]}
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                              "content": ""},
                                        "finish_reason": None}]}]
        pieces = list(_pieces(reply.text, self.server_fake.stream_chunks))
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            events.append({**base, "choices": [{"index": 0, "delta": {"content": piece},
                                                "finish_reason": reply.finish_reason
                                                if last else None}]})
        if (rec.body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": _usage(rec, reply.text)})
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _pieces(text: str, n: int) -> Iterator[str]:
    words = text.split(" ")
    size = max(1, -(-len(words) // max(1, n)))
    for i in range(0, len(words), size):
        yield " ".join(words[i:i + size]) + (" " if i + size < len(words) else "")
