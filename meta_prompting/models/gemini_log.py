"""The Gemini SDK's retries, told as notices: google-genai says so only in its log.

Part of the Gemini provider (`gemini.py`); nothing else reads the SDK's log.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from meta_prompting.models.base import Notice


@contextmanager
def sdk_retries(on_notice: Notice | None) -> Iterator[None]:
    """Meanwhile, tell `on_notice` of each retry the SDK makes for this thread's call.

    google-genai retries inside the SDK (tenacity) and takes no callback, but before
    each wait it logs one INFO line ("Retrying ... in 2.0 seconds as it raised
    ServerError: 503 UNAVAILABLE. ..."): that line, from this thread only, is the hook.
    """
    if on_notice is None:
        yield
        return
    thread, tell = threading.get_ident(), on_notice

    class Told(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == thread:
                note = retry_note(record.getMessage())
                if note:
                    tell(note)

    logger = logging.getLogger("google_genai._api_client")
    handler = Told(logging.INFO)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        # Left at INFO: calls on other threads may be listening too; with no handler of
        # the user's at INFO the lines go nowhere (logging's last resort shows WARNING+).
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)


_RETRY = re.compile(r"^Retrying .* in ([\d.]+) seconds as it raised (\w+): ?(.*)", re.DOTALL)


def retry_note(message: str) -> str | None:
    """Pure: "retrying in 2.0s (the service answered 503 UNAVAILABLE)" from the SDK's
    log line, or None for any other line."""
    found = _RETRY.match(message)
    if not found:
        return None
    seconds, kind, value = found.groups()
    status = re.match(r"(\d{3}) ([A-Z_]+)", value)
    cause = f"the service answered {status[1]} {status[2]}" if status else kind
    return f"retrying in {float(seconds):.1f}s ({cause})"
