"""The fake's HTTP side: which path asks for what, and the handler that answers it.

FakeGemini (tests/fake_gemini.py) owns the state, the rules and the replies; this is the
wire: parse the request, let the fake pick a reply, send it whole, streamed or cut.
"""

from __future__ import annotations

import json
import re
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tests.fake_batch_rules import route_of
from tests.fake_service import refusal
from tests.fake_wire import Reply, RequestRecord, _finalise, _stream_events, drop, error

if TYPE_CHECKING:
    from tests.fake_gemini import FakeGemini


# The Developer API's path, or Vertex AI's (projects/P/locations/L/publishers/google/...).
_PATH_RE = re.compile(
    r"^/(?:(?P<version>[^/]+)/)?(?:projects/[^/]+/locations/[^/]+/publishers/google/)?"
    r"models/(?P<model>[^/:]+)"
    r":(?P<action>generateContent|streamGenerateContent|countTokens)$"
)
GENERATE_ACTIONS = ("generateContent", "streamGenerateContent")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # never let a hung handler keep the process alive
    request_queue_size = 128  # the default backlog of 5 drops SYNs under a 32-request burst
    fake: FakeGemini

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out cause BrokenPipe here; stay quiet

    # Counted from accept() on the serving thread, not once the request is parsed: a
    # connection whose body is still arriving (or whose sender was just killed) is in
    # flight too, and settle() must wait for it.
    def process_request(self, request: Any, client_address: Any) -> None:
        self.fake._accepted(client_address)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        try:
            super().shutdown_request(request)
        finally:
            self.fake._closed()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API: every body is sized or chunked
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
        self.do_POST()

    def do_DELETE(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = None
        fake = self.server.fake
        route = route_of(self.command, self.path)
        if route is not None:  # the Batch and Files service (tests/fake_batch.py)
            rec = fake._record(self, route.version, route.model, route.action, body)
            self._reply(rec, fake.batches.handle(route, rec, raw))
            rec.end = time.monotonic()
            return
        if self.command != "POST":
            return self._not_found(fake._record(self, None, None, None, None))
        m = _PATH_RE.match(self.path.split("?", 1)[0])
        rec = fake._record(self, m and m["version"], m and m["model"], m and m["action"], body)
        if m is None:
            return self._not_found(rec)
        refused = refusal(rec, frozenset(fake.models))
        if refused is not None:  # answered before any model sees it: consumes no reply
            self._send(rec, refused)
            rec.end = time.monotonic()
            return
        if rec.action == "countTokens":
            words = len(rec.prompt.split()) + len((rec.system or "").split())
            self._send(rec, Reply(payload={"totalTokens": words}))
            rec.end = time.monotonic()
            return
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
        if reply.cut_after is not None and not rec.stream:
            reply = drop()
        if reply.action in ("hang", "drop"):
            return self._drop()
        if rec.stream and reply.status == 200 and reply.raw is None:
            return self._stream(rec, reply)
        self._send(rec, reply)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, rec: RequestRecord, reply: Reply) -> None:
        data = reply.raw if reply.raw is not None else json.dumps(_finalise(reply, rec)).encode()
        rec.status = reply.status
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        html = reply.raw is not None and reply.raw.startswith(b"<!DOCTYPE html>")
        self.send_header("Content-Type", reply.content_type or (
            "text/html; charset=UTF-8" if html else "application/json; charset=UTF-8"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, rec: RequestRecord, reply: Reply) -> None:
        # Chunked, as the real API streams: a cut before the final empty chunk is an
        # error for the client, where a close after a Content-Length-less body is not.
        fake = self.server.fake
        chunks = reply.stream_chunks or fake.stream_chunks
        if reply.cut_after is not None:
            chunks = max(chunks, reply.cut_after + 1)  # the finishing event is never sent
        events = _stream_events(_finalise(reply, rec), chunks)
        if reply.cut_after is not None:
            events = events[: min(reply.cut_after, len(events) - 1)]
        rec.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, event in enumerate(events):
            if i and fake.chunk_delay > 0 and fake._stopping.wait(fake.chunk_delay):
                return self._drop()
            self._write_event(event)
        if reply.cut_after is not None and reply.cut_event is None:
            return self._drop()
        if reply.cut_event is not None:
            self._write_event(reply.cut_event)
        self.wfile.write(b"0\r\n\r\n")

    def _write_event(self, event: dict[str, Any]) -> None:
        data = b"data: " + json.dumps(event).encode() + b"\r\n\r\n"
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
