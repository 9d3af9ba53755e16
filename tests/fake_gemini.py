"""A fake Gemini server for tests and benchmarks: the fake's manual.

A real HTTP server on 127.0.0.1 (stdlib only) that speaks the REST shape of the
Gemini API, so the real google-genai client (and CLI subprocesses using it) can be
pointed at it via GOOGLE_GEMINI_BASE_URL (the `fake_gemini` fixture does that).
It is as strict as the service (tests/fake_service.py, each rule with its source):

  POST /{version}/models/{model}:generateContent        one JSON reply
  POST /{version}/models/{model}:streamGenerateContent  Server-Sent Events (?alt=sse)
  POST /{version}/models/{model}:countTokens            {"totalTokens": <words sent>}
  the same under /{version}/projects/P/locations/L/publishers/google/ for Vertex AI
  (base URL via GOOGLE_VERTEX_BASE_URL), which needs "Authorization: Bearer ...".

Refused before any reply is chosen (no queued reply is used, no rule fires), with
the real bodies: an unknown API version (HTML 404), no API key on the Developer API
(403), a model not in `fake.models` (404 "models/X is not found for API version v1,
..."), a v1beta-only alias (gemini-flash-latest...) on v1 (the same 404), fields v1
does not know (400 'Unknown name "systemInstruction": Cannot find field.').
Any other path or method gets a 404 Gemini error body and consumes no reply.

Reply selection for each generation request (plain or streamed), first match wins:
  1. a rule added with `fail_when(match, reply, times=None)`: requests whose prompt
     contains `match` (or for which `match(record)` is true) get `reply`, `times`
     times (None: always); others are served as usual. `clear_failures()`.
     This fails exactly one stage of a chain, or one sample of three. It returns
     the FailRule, whose `hits` and `remaining` say how often it fired.
  2. the next one-shot reply queued with `enqueue()` (FIFO, popped under a lock),
  3. `responder(record)` if set (returning None falls through),
  4. `default` if set,
  5. if the request asks for structured output (generationConfig.responseJsonSchema
     or .responseSchema): `structured_reply(record, fake.schema_overrides)`, JSON text
     that is a valid instance of that schema, built by `schema_instance` (see below);
     a judgment (criteria and path_forward) quotes the answer as real judges do,
     Markdown dropped, and half of them come in a ```json fence,
  6. ok(default_answer(prompt)): numbered and bold headings around "Generated text
     for: <first 80 chars of the prompt>", so tests can tell which prompt produced
     which output.

Replies (factories): ok(text), json_reply(obj), finish(reason, text), error(code,
status), rate_limited(delay, retry_after=None) (429 with RetryInfo), invalid_key(),
blocked(reason), empty_candidates(), malformed(body), hang(seconds), drop(),
cut_stream(text, after=1), stream_error(text, code, status,
after=1).

Streaming: the reply's text is split at word boundaries into `stream_chunks` events
(server attribute, default 3; a Reply's own `stream_chunks` wins; `split_text(text,
n)` gives the pieces), each a whole GenerateContentResponse holding a piece of the
text; only the last carries finishReason and the final usageMetadata (earlier ones
carry the prompt count, as the real API does). Replies without text (blocked,
SAFETY...) are one event. A status other than 200 is sent as the usual error body
with that status, which the SDK raises (errors.ServerError / ClientError) when the
stream is opened; hang and drop behave as on a plain request. Always SSE, whatever
`alt` says (the SDK sends alt=sse; without it the real API sends a JSON array).
`latency` is waited before the first byte; `chunk_delay` between events.
`cut_stream(text, after)` sends `after` events, never the finishing one, then drops
the connection: iterating raises httpx2.RemoteProtocolError (incomplete chunked
read). `stream_error(...)` sends `after` events then an error event in the stream:
iterating raises errors.APIError mid-way. A cut reply on a plain request is a drop.

Structured output: `schema_instance(schema, overrides=None)` builds a JSON value
valid for a JSON Schema or an OpenAPI-style schema (upper-case types, snake_case
keys such as any_of/min_items, which is what the SDK sends for a pydantic
`response_schema`): every property of an object, arrays of max(1, minItems) items,
enum -> first value, const -> it, anyOf/oneOf -> first non-null option, allOf
merged, $ref/$defs resolved, string -> "fake <property name>", number/integer -> 1
(clamped to minimum/maximum), boolean -> true. `overrides` is a mapping from
property name to value, or a callable (path, subschema) -> value or KEEP, with path
a tuple of property names and item indexes, e.g. ("findings", 0, "verdict").

Recording: `requests` holds a RequestRecord per request (path, model, api_version,
body, api_key, headers, start/end, status, stream) with properties prompt, system
(systemInstruction text), contents_count (1 for a fresh session), generation_config
and response_schema. `prompts()` and `count_matching(substring)` cover generation
requests only, as does `max_concurrent`; `count` covers every request and `counts`
counts them by action. `reset()` forgets records, queued replies and failure rules.

Batch and Files: `fake.batches` serves client.batches and client.files (create, get,
list, cancel, delete; resumable upload, download), with controllable progress and the
service's reported faults: tests/fake_batch.py is its manual.

Standalone: python tests/fake_gemini.py --latency 1.5 [--port 0] [--text T]
[--count-file PATH] [--stream-chunks N] prints its base URL on one line and serves
until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

if __package__ in (None, ""):  # run as a script (bench starts it so): import as tests.*
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.fake_schema import KEEP, Overrides, schema_instance  # noqa: E402
from tests.fake_service import MODELS  # noqa: E402
from tests.fake_wire import (  # noqa: E402
    FailRule,
    Reply,
    RequestRecord,
    blocked,
    cut_stream,
    default_answer,
    drop,
    empty_candidates,
    error,
    finish,
    hang,
    invalid_key,
    json_reply,
    malformed,
    ok,
    prompt_text,
    split_text,
    stream_error,
    structured_reply,
    system_instruction,
)


def rate_limited(delay: float = 2.0, retry_after: float | None = None) -> Reply:
    """429 RESOURCE_EXHAUSTED as the Developer API sends it for a quota: QuotaFailure,
    Help and RetryInfo details (gemini-cli #8437, python-genai #2044, Roo-Code #3883),
    with `retryDelay` "<delay>s"; and a Retry-After header when `retry_after` is given."""
    return Reply(
        status=429,
        payload={"error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing "
                       "details. For more information on this error, head to: "
                       "https://ai.google.dev/gemini-api/docs/rate-limits.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/"
                                   "generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                 "retryDelay": f"{delay:g}s"},
            ]}},
        headers=(("Retry-After", f"{retry_after:g}"),) if retry_after is not None else (),
    )


# The fake's API, kept in fake_schema.py (JSON for a schema) and fake_wire.py (replies,
# records and stream events: what goes over the wire), named here for its users.
__all__ = [
    "KEEP", "FAKE_API_KEY", "FailRule", "FakeGemini", "Reply", "RequestRecord", "blocked",
    "cut_stream", "drop", "empty_candidates", "error", "finish", "hang", "invalid_key",
    "json_reply", "malformed", "ok", "prompt_text", "rate_limited", "schema_instance",
    "split_text", "stream_error", "system_instruction", "default_answer", "structured_reply",
]

FAKE_API_KEY = "test-key-not-secret-123"
from tests.fake_batch import BatchService  # noqa: E402
from tests.fake_http import GENERATE_ACTIONS, _Handler, _Server  # noqa: E402


class FakeGemini:
    def __init__(
        self,
        latency: float = 0.0,
        default: Reply | None = None,
        responder: Callable[[RequestRecord], Reply | None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        count_file: str | None = None,
        stream_chunks: int = 3,
        chunk_delay: float = 0.0,
        schema_overrides: Overrides | None = None,
    ) -> None:
        self.latency = latency
        self.default = default
        self.responder = responder
        self.count_file = count_file
        self.stream_chunks = stream_chunks
        self.chunk_delay = chunk_delay
        self.schema_overrides = schema_overrides
        # The model ids this fake serves (add one to test a name of your own).
        self.models: set[str] = set(MODELS)
        self._addr = (host, port)
        # Reentrant: a fail_when match or responder may read fake.requests while we hold it.
        self._lock = threading.RLock()
        self._queue: deque[Reply] = deque()
        self._failures: list[FailRule] = []
        self._records: list[RequestRecord] = []
        self._in_flight = 0
        self._max_concurrent = 0
        self._open = 0  # connections accepted and not yet closed (see settle)
        self._accepted_ports: set[int] = set()
        self._quiet = threading.Condition(self._lock)
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # The Batch and Files service, its jobs, files, progress and faults (fake_batch.py).
        self.batches = BatchService(self)

    def start(self) -> FakeGemini:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self._addr, _Handler)
            self._server.fake = self
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes sleeping/hung handlers
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # unblock handlers idling on keep-alive connections
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    __enter__ = start

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeGemini is not started"
        return f"http://{self._addr[0]}:{self._server.server_address[1]}"

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def fail_when(
        self,
        match: str | Callable[[RequestRecord], bool],
        reply: Reply,
        times: int | None = None,
    ) -> FailRule:
        """Answer generation requests whose prompt contains `match` (or for which
        `match(record)` is true) with `reply`, `times` times (None: always)."""
        rule = FailRule(match, reply, times)
        with self._lock:
            self._failures.append(rule)
        return rule

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def reset(self) -> None:
        """Forget recorded requests, the concurrency peak, queued replies and failure
        rules (default, responder, latency and streaming settings are kept)."""
        with self._lock:
            self._records.clear()
            self._queue.clear()
            self._failures.clear()
            self._max_concurrent = 0

    def prompts(self) -> list[str]:
        """The prompt of each generation request (plain or streamed), in arrival order."""
        return [r.prompt for r in self.requests if r.action in GENERATE_ACTIONS]

    def count_matching(self, substring: str) -> int:
        """How many generation requests had `substring` in their prompt."""
        return sum(substring in p for p in self.prompts())

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def counts(self) -> Counter[str]:
        """Requests by action: generateContent, batchGenerateContent, batches.get,
        files.upload... (fake_batch.py names the batch and file ones)."""
        with self._lock:
            return Counter(r.action or "unknown" for r in self._records)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._records)

    @property
    def max_concurrent(self) -> int:
        with self._lock:
            return self._max_concurrent

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed, idle keep-alive ones included."""
        with self._lock:
            return self._open

    def settle(self, timeout: float = 30.0) -> bool:
        """Wait until every request already sent to the fake has been recorded and
        answered (or dropped), its connection closed; False past `timeout`.

        Call it once the clients are gone (a killed process): a request whose sender
        died may still sit in the kernel's accept queue, or be half read, when no
        handler counts it yet. A probe connection made now is queued behind every
        such connection and accept() takes them in order, so once the probe has been
        accepted the rest have been, and the open-connection count covers them all.
        """
        deadline = time.monotonic() + timeout
        assert self._server is not None, "FakeGemini is not started"
        with socket.create_connection(self._server.server_address[:2], timeout=timeout) as probe:
            port = probe.getsockname()[1]
            with self._quiet:
                while port not in self._accepted_ports:
                    if not self._quiet.wait(max(0.0, deadline - time.monotonic())):
                        return False
                self._accepted_ports.discard(port)
        with self._quiet:  # the probe is closed now: nothing of ours is left open
            while self._open:
                if not self._quiet.wait(max(0.0, deadline - time.monotonic())):
                    return False
        return True

    # Used by the handler threads.
    def _accepted(self, client_address: Any) -> None:
        with self._quiet:
            self._open += 1
            if len(self._accepted_ports) > 4096:  # only settle() reads them; bound the set
                self._accepted_ports.clear()
            self._accepted_ports.add(client_address[1])
            self._quiet.notify_all()

    def _closed(self) -> None:
        with self._quiet:
            self._open -= 1
            self._quiet.notify_all()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _record(
        self,
        h: _Handler,
        version: str | None,
        model: str | None,
        action: str | None,
        body: dict[str, Any] | None,
    ) -> RequestRecord:
        rec = RequestRecord(
            path=h.path,
            method=h.command,
            api_version=version,
            model=model,
            body=body,
            api_key=h.headers.get("x-goog-api-key"),
            headers=dict(h.headers.items()),
            start=time.monotonic(),
            action=action,
            stream=action == "streamGenerateContent",
        )
        with self._lock:
            self._records.append(rec)
            n = len(self._records)
            if self.count_file:  # under the lock so writes happen in order
                tmp = f"{self.count_file}.tmp"
                with open(tmp, "w") as f:
                    f.write(f"{n}\n")
                os.replace(tmp, self.count_file)  # atomic for readers in other processes
        return rec

    def _pick(self, rec: RequestRecord) -> Reply:
        with self._lock:  # one lock for check-and-count, so `times` holds under concurrency
            for rule in self._failures:
                if rule.remaining == 0:
                    continue
                try:
                    hit = rule.matches(rec)
                except Exception as e:
                    return error(500, "INTERNAL", f"fake_gemini fail_when match raised {e!r}")
                if hit:
                    rule.hits += 1
                    return rule.reply
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            try:
                reply = self.responder(rec)
            except Exception as e:  # surface test bugs as a 500 rather than a silent drop
                return error(500, "INTERNAL", f"fake_gemini responder raised {e!r}")
            if reply is not None:
                return reply
        if self.default is not None:
            return self.default
        if rec.response_schema is not None:
            try:
                return structured_reply(rec, self.schema_overrides)
            except Exception as e:
                return error(500, "INTERNAL", f"fake_gemini schema_instance raised {e!r}")
        return ok(default_answer(rec.prompt))

    def _in_flight_add(self, n: int) -> None:
        with self._lock:
            self._in_flight += n
            self._max_concurrent = max(self._max_concurrent, self._in_flight)


try:
    import pytest

    @pytest.fixture
    def fake_gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGemini]:
        """A started FakeGemini with the environment pointing google-genai at it."""
        with FakeGemini() as fake:
            monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.base_url)
            monkeypatch.setenv("GEMINI_API_KEY", FAKE_API_KEY)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
            monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
            # GOOGLE_API_KEY would win over GEMINI_API_KEY; Vertex mode would ignore the base URL.
            for name in (
                "GOOGLE_API_KEY",
                "GOOGLE_GENAI_USE_VERTEXAI",
                "GOOGLE_GENAI_USE_ENTERPRISE",
            ):
                monkeypatch.delenv(name, raising=False)
            yield fake
except ImportError:  # standalone benchmark use without pytest installed
    pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fake Gemini API server")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--text", help="fixed reply text (default: derived from the prompt)")
    ap.add_argument("--count-file", help="rewritten atomically with the request count")
    ap.add_argument("--stream-chunks", type=int, default=3, help="events per streamed reply")
    args = ap.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    fake = FakeGemini(
        latency=args.latency,
        port=args.port,
        count_file=args.count_file,
        stream_chunks=args.stream_chunks,
        default=ok(args.text) if args.text is not None else None,
    )
    with fake:
        print(fake.base_url, flush=True)
        while not done.wait(0.5):  # short waits so the signal handler gets to run
            pass
    print(f"fake_gemini: {fake.count} requests", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
