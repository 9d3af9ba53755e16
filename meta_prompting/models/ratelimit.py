"""Calls in flight to one model, lowered when the service says it is asked too often.

google-genai retries a 429 on its own schedule and ignores the delay the service asks
for (the `Retry-After` header and the `google.rpc.RetryInfo` detail's `retryDelay`;
googleapis/python-genai#1875), so a burst of samples keeps hitting the same quota. Each
provider does the 429 retry itself, through one `Limiter` per model in the process:
parts, samples, judges and chain stages open their own models (a grade opens two with
`open_model`), but they share one quota, so they share one limiter. A wait is told
through the call's `on_notice`, once per burst.

The limiter halves the calls it lets in flight on a 429 (once per burst: the 429s of
calls that started before the halving are one event), never below 1, holds every new
call until the service's delay has passed, and lets one more in after GROW_AFTER
successes in a row.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from meta_prompting.models.base import Notice

GROW_AFTER = 4  # successes in a row before one more call may be in flight
FIRST_WAIT = 1.0  # seconds, when a 429 names no delay; doubles for each one after
MAX_WAIT = 60.0  # a 429 that names no delay: never wait longer than this


class Waited(Exception):
    """The service's delay does not fit in what is left of --timeout."""


class Limiter:
    """How many calls to one model may be in flight, and when the next may start."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.limit: int | None = None  # None: as many as the callers' --jobs allow
        self.in_flight = 0
        self.peak = 0
        self._resume_at = 0.0  # time.monotonic() before which no call starts
        self._epoch = 0  # bumped by each halving
        self._streak = 0  # successes since the last 429
        self.said = ""  # the service's words with the last 429

    @contextmanager
    def slot(self, deadline: float) -> Iterator[Ticket]:
        """Hold one of the calls in flight, once the service's delay has passed."""
        with self._cond:
            while True:
                now = time.monotonic()
                wait = self._resume_at - now
                if wait <= 0 and (self.limit is None or self.in_flight < self.limit):
                    break
                if now >= deadline:
                    raise Waited("the deadline passed while waiting for a free call")
                if self._resume_at > deadline:
                    raise Waited(f"the service asked to wait {wait:.0f} s more ({self.said})")
                # Woken by a call leaving; a wait for the delay wakes itself.
                self._cond.wait(wait if wait > 0 else deadline - now)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            ticket = Ticket(self, self._epoch)
        try:
            yield ticket
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    def succeeded(self) -> None:
        with self._cond:
            self._streak += 1
            if self.limit is not None and self._streak >= GROW_AFTER:
                self._streak = 0
                self.limit += 1
                self._cond.notify_all()

    def rate_limited(self, ticket: Ticket, delay: float, said: str,
                     on_notice: Notice | None = None) -> None:
        """A 429: hold new calls for `delay` seconds; halve the calls in flight once a burst."""
        with self._cond:
            self.said = said
            self._streak = 0
            self._resume_at = max(self._resume_at, time.monotonic() + delay)
            if ticket.epoch != self._epoch:
                return  # this call started before the halving: same burst, told already
            self._epoch += 1
            self.limit = max(1, (self.in_flight if self.limit is None else self.limit) // 2)
            limit = self.limit
        word = "call" if limit == 1 else "calls"
        if on_notice is not None:
            on_notice(f"rate-limited: waiting {delay:g} s, as the service asked; "
                      f"{limit} {word} at a time now")


class Ticket:
    """One call's hold on the limiter: which halving it started after."""

    def __init__(self, limiter: Limiter, epoch: int) -> None:
        self.limiter, self.epoch = limiter, epoch


_limiters: dict[str, Limiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(model: str) -> Limiter:
    """The one limiter of `model` in this process."""
    with _limiters_lock:
        return _limiters.setdefault(model, Limiter())


def forget() -> None:
    """Drop every limiter (tests run many commands in one process; a command is one)."""
    with _limiters_lock:
        _limiters.clear()


def asked_delay(error: Any) -> float | None:
    """Seconds a 429 asks to wait: `Retry-After`, else RetryInfo's `retryDelay`; None if
    it names none (then the caller backs off on its own: FIRST_WAIT, doubling)."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        after = headers.get("retry-after")
    except Exception:  # noqa: BLE001 - a headers object we do not know: no header
        after = None
    if after is not None:
        try:
            return max(0.0, float(after))
        except ValueError:
            pass  # an HTTP date: Gemini sends seconds, so fall through to the body
    details = getattr(error, "details", None)
    body = details.get("error", details) if isinstance(details, dict) else None
    listed = body.get("details") if isinstance(body, dict) else None
    for detail in listed if isinstance(listed, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(
                "google.rpc.RetryInfo"):
            found = re.fullmatch(r"\s*([\d.]+)s\s*", str(detail.get("retryDelay", "")))
            if found:
                return float(found[1])
    return None


def backoff(tries: int) -> float:
    """Seconds to wait after the `tries`-th 429 that named no delay."""
    return float(min(MAX_WAIT, FIRST_WAIT * 2.0 ** max(0, tries - 1)))
