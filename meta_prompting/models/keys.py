"""The API keys: which one the Gemini SDK will use, and keeping every trace of any key
out of sight.

The one place that knows the SDK's rule for picking a key, so that every message names
the variable actually used; and the scrub that everything shown or kept goes through.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any

from meta_prompting.errors import GenerationError

KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # the SDK's order: the first wins
# Every key any provider reads: all are scrubbed and refused alike, whichever provider
# a command uses (a key in the environment leaks the same through any of them).
SECRET_VARIABLES = (*KEY_VARIABLES, "OPENAI_API_KEY")
NO_KEY = "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)"
KEY_RUN = 8  # this many characters of a key in a row identify it, e.g. at a cut


def find_key() -> tuple[str, str] | None:
    """(variable, value) of the key the SDK will use, or None; the one place that knows.

    Exactly the SDK's rule (`_api_client.get_env_api_key`): the first variable that is
    set and not the empty string, unstripped, so a blank GOOGLE_API_KEY hides a good
    GEMINI_API_KEY. The SDK strips the value before sending it.
    """
    for name in KEY_VARIABLES:
        value = os.environ.get(name)
        if value:
            return name, value
    return None


def key_blocker() -> str | None:
    """Why the SDK has no usable key, naming the variable it reads; None when it has one
    or needs none (Vertex AI signs in with Google Cloud credentials instead)."""
    if use_vertex():
        return None  # missing credentials are told when the first call is made
    found = find_key()
    if found is None:
        return NO_KEY
    name, value = found
    if not value.strip():
        hides = " and is read before GEMINI_API_KEY" if name == "GOOGLE_API_KEY" else ""
        return f"{name} is set but blank{hides}: put the key in it, or unset it"
    return None


def use_vertex() -> bool:
    """Whether the SDK will talk to Vertex AI rather than the Gemini Developer API.

    The SDK's rule (`_api_client.BaseApiClient.__init__`): GOOGLE_GENAI_USE_ENTERPRISE,
    if set, wins over GOOGLE_GENAI_USE_VERTEXAI; "true" or "1" in any case means yes.
    """
    for name in ("GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_USE_VERTEXAI"):
        value = os.environ.get(name)
        if value is not None:
            return value.lower() in ("true", "1")
    return False


def access_note() -> str | None:
    """How the SDK will reach the model, in a few words; None when it has no way."""
    if use_vertex():
        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or "the credentials' project"
        return f"Vertex AI, {project}"
    found = find_key()
    return f"key in {found[0]}" if found else None


def scrub_secrets(text: str) -> str:
    """`text` with every trace of an API key replaced by ***; for anything shown or kept.

    A trace is a run of KEY_RUN or more characters of a key (a key cut short still
    counts) in any spelling the SDK or its transport may quote it in: plain, repr,
    bytes repr, JSON, URL-encoded.
    """
    spans = _key_spans(text)
    for start, end in reversed(spans):
        text = text[:start] + "***" + text[end:]
    return text


def check_no_key(text: str) -> None:
    """Refuse text that carries an API key (a model's answer): never save or show it."""
    if _key_spans(text):
        raise GenerationError("the answer contains the API key; refused")


def _key_spans(text: str) -> list[tuple[int, int]]:
    keys = _keys()
    if not keys or not text:
        return []
    key_runs = _key_runs(keys)
    # Most texts hold no key: str's own search for each run settles that ~10x sooner
    # than the window below (85 us against 750 us for 3 KB), which a batch's thousand
    # answers each pay; the window then finds exactly where.
    if not any(run in text for _, runs in key_runs for run in runs):
        return []
    covered = bytearray(len(text))
    for width, runs in key_runs:
        for i in range(len(text) - width + 1):
            if text[i:i + width] in runs:
                covered[i:i + width] = b"\1" * width
    spans: list[tuple[int, int]] = []
    for i, flag in enumerate(covered):
        if flag and spans and spans[-1][1] == i:
            spans[-1] = (spans[-1][0], i + 1)
        elif flag:
            spans.append((i, i + 1))
    return spans


@functools.lru_cache(maxsize=4)
def _key_runs(keys: tuple[str, ...]) -> tuple[tuple[int, frozenset[str]], ...]:
    """For each key: every run of KEY_RUN characters (the whole key if shorter), in
    every spelling of it."""
    from urllib.parse import quote, quote_plus

    found = []
    for key in keys:
        width = min(KEY_RUN, len(key))
        spellings = {key, repr(key)[1:-1], repr(key.encode("utf-8", "backslashreplace"))[2:-1],
                     json.dumps(key)[1:-1], json.dumps(key, ensure_ascii=False)[1:-1],
                     quote(key, safe=""), quote_plus(key, safe=""), quote(key)}
        found.append((width, frozenset(s[i:i + width] for s in spellings
                                       for i in range(len(s) - width + 1))))
    return tuple(found)


def holds_key(text: str) -> bool:
    """Whether `text` carries a trace of an API key (KEY_RUN characters of it, any
    spelling): for what a person supplies, refused before it is written or sent."""
    return bool(_key_spans(text))


def scrub_data(data: Any) -> Any:
    """`data` (a record, a JSON document) with any API key scrubbed from its strings."""
    if isinstance(data, str):
        return scrub_secrets(data)
    if isinstance(data, dict):
        return {k: scrub_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [scrub_data(v) for v in data]
    return data


class StreamScrubber:
    """scrub_secrets for text that arrives in pieces, as if it had come whole.

    A key cut across pieces is in no single piece (a run under KEY_RUN characters is
    not a trace), so each piece scrubbed alone lets a whole key through a piece at a
    time. Here the pieces are one text: what is passed on is exactly what
    scrub_secrets would make of everything so far, less a held-back tail that could
    still turn out to start a key (only as much as is a prefix of some run of a key's
    spelling, so under KEY_RUN characters, and mostly none). `close()` lets it out.
    """

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._runs = _key_runs(_keys())
        self._prefixes = _run_prefixes(self._runs)
        self._reach = max((width for width, _ in self._runs), default=1) - 1
        self._context = ""  # the last characters passed on: a run may start in them
        self._pending = ""
        self._in_span = False  # the last character passed on was part of a key

    def feed(self, text: str) -> None:
        if not self._runs:
            if text:
                self._write(text)
            return
        self._pending += text
        self._release(final=False)

    def close(self) -> None:
        if self._runs:
            self._release(final=True)

    def _release(self, final: bool) -> None:
        whole = self._context + self._pending
        start = len(self._context)
        covered = bytearray(len(whole))
        end = len(whole)
        for (width, runs), prefixes in zip(self._runs, self._prefixes, strict=True):
            for i in range(max(0, len(whole) - width + 1)):
                if whole[i:i + width] in runs:
                    covered[i:i + width] = b"\1" * width
            if not final:  # an unfinished run at the end may still become a key's
                for i in range(max(start, len(whole) - width + 1), end):
                    if whole[i:] in prefixes:
                        end = i
                        break
        out: list[str] = []
        for i in range(start, end):
            if not covered[i]:
                out.append(whole[i])
            elif not self._in_span:
                out.append("***")
            self._in_span = bool(covered[i])
        self._context = whole[max(0, end - self._reach):end]
        self._pending = whole[end:]
        if out:
            self._write("".join(out))


def _keys() -> tuple[str, ...]:
    return tuple(sorted({v.strip() for v in map(os.environ.get, SECRET_VARIABLES)
                         if v and v.strip()}))


@functools.lru_cache(maxsize=4)
def _run_prefixes(runs: tuple[tuple[int, frozenset[str]], ...]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(r[:n] for r in found for n in range(1, width))
                 for width, found in runs)
