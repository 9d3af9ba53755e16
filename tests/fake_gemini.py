"""A fake Gemini generateContent server for tests and benchmarks.

A real HTTP server on 127.0.0.1 (stdlib only) that speaks the REST shape of
`POST /{version}/models/{model}:generateContent`, so the real google-genai client
(and CLI subprocesses using it) can be pointed at it via GOOGLE_GEMINI_BASE_URL.

Reply selection for each generateContent request, first match wins:
  1. the next one-shot reply queued with `enqueue()` (FIFO, popped under a lock),
  2. `responder(record)` if set (returning None falls through),
  3. `default` if set,
  4. ok("Generated text for: <first 80 chars of the prompt>") so tests can tell
     which prompt produced which output.
Any other path or method gets a 404 Gemini error body and consumes no reply.

Standalone: python tests/fake_gemini.py --latency 1.5 [--port 0] [--text T]
[--count-file PATH] prints its base URL on one line and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAKE_API_KEY = "test-key-not-secret-123"
_PATH_RE = re.compile(r"^/(?:(?P<version>[^/]+)/)?models/(?P<model>[^/:]+):generateContent$")


@dataclass(frozen=True)
class Reply:
    """What the server does with one request. Build with the factories below."""

    status: int = 200
    payload: dict[str, Any] | None = None  # serialised as JSON
    raw: bytes | None = None  # sent verbatim instead of payload (malformed bodies)
    action: str = "respond"  # "respond" | "hang" | "drop"
    seconds: float = 0.0  # for "hang"


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


def finish(reason: str, text: str = "") -> Reply:
    """A candidate that ended with `reason` (SAFETY, MAX_TOKENS, RECITATION...);
    with text="" the candidate has no parts, as the real API sends for SAFETY."""
    return ok(text, finish_reason=reason)


def error(code: int, status: str, message: str = "", details: list[Any] | None = None) -> Reply:
    err: dict[str, Any] = {"code": code, "message": message or f"fake {status}", "status": status}
    if details is not None:
        err["details"] = details
    return Reply(status=code, payload={"error": err})


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

    @property
    def prompt(self) -> str:
        return prompt_text(self.body)

    @property
    def system(self) -> str | None:
        return system_instruction(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # never let a hung handler keep the process alive
    request_queue_size = 128  # the default backlog of 5 drops SYNs under a 32-request burst
    fake: FakeGemini

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out cause BrokenPipe here; stay quiet


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; we always send Content-Length
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, False)
        super().finish()

    def do_GET(self) -> None:
        self._not_found(self.server.fake._record(self, None, None, None))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = None
        m = _PATH_RE.match(self.path.split("?", 1)[0])
        fake = self.server.fake
        rec = fake._record(self, m and m["version"], m and m["model"], body)
        if m is None:
            return self._not_found(rec)
        fake._in_flight_add(1)
        try:
            self._reply(rec, fake._pick(rec))
        finally:
            fake._in_flight_add(-1)
            rec.end = time.monotonic()

    def _not_found(self, rec: RequestRecord) -> None:
        self._send(rec, error(404, "NOT_FOUND", f"Method not found: {self.command} {self.path}"))
        rec.end = time.monotonic()

    def _reply(self, rec: RequestRecord, reply: Reply) -> None:
        fake = self.server.fake
        if fake.latency > 0 and fake._stopping.wait(fake.latency):
            reply = drop()  # stopping: do not keep the client waiting
        if reply.action == "hang":
            fake._stopping.wait(reply.seconds)  # interruptible so stop() never waits for it
        if reply.action in ("hang", "drop"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(rec, reply)

    def _send(self, rec: RequestRecord, reply: Reply) -> None:
        data = reply.raw if reply.raw is not None else json.dumps(_finalise(reply, rec)).encode()
        rec.status = reply.status
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


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


class FakeGemini:
    def __init__(
        self,
        latency: float = 0.0,
        default: Reply | None = None,
        responder: Callable[[RequestRecord], Reply | None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        count_file: str | None = None,
    ) -> None:
        self.latency = latency
        self.default = default
        self.responder = responder
        self.count_file = count_file
        self._addr = (host, port)
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._records: list[RequestRecord] = []
        self._in_flight = 0
        self._max_concurrent = 0
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

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

    def reset(self) -> None:
        """Forget recorded requests, the concurrency peak and queued replies
        (default, responder and latency are kept)."""
        with self._lock:
            self._records.clear()
            self._queue.clear()
            self._max_concurrent = 0

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._records)

    @property
    def max_concurrent(self) -> int:
        with self._lock:
            return self._max_concurrent

    # Used by the handler threads.
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _record(
        self, h: _Handler, version: str | None, model: str | None, body: dict[str, Any] | None
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
        with self._lock:
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
        return ok(f"Generated text for: {rec.prompt[:80]}")

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
    ap = argparse.ArgumentParser(description="Fake Gemini generateContent server")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--text", help="fixed reply text (default: derived from the prompt)")
    ap.add_argument("--count-file", help="rewritten atomically with the request count")
    args = ap.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    fake = FakeGemini(
        latency=args.latency,
        port=args.port,
        count_file=args.count_file,
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
