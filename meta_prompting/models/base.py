"""The one model seam: what every caller asks of a model, and what it gets back.

A provider is one module implementing `Model`; nothing above this seam imports a
provider's SDK or knows which provider answered, beyond the `Reply.provider` name
kept in records. Everything here is pure and cheap to import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# One line for a person, e.g. "retrying in 2.0s (the service answered 503 UNAVAILABLE)":
# retries and rate-limit waits are told through it, never through logging.
Notice = Callable[[str], None]
TextSink = Callable[[str], None]

# Token counts by kind, as every record keeps them; None where a provider does not say.
USAGE_KINDS = ("prompt", "answer", "thinking", "cached", "total")
# A limit to try after an answer cut off at the model's own default whose size it did
# not say: larger than most local servers' default, within every hosted model's.
FALLBACK_LIMIT = 8192
_TRY = re.compile(r"give a larger --max-tokens \([^)]*?try (\d+)\)")


@dataclass(frozen=True)
class ModelRequest:
    """One fresh session: a system text, one user turn, no history."""

    system: str
    user: str
    json_schema: dict[str, Any] | None = None  # the answer must be JSON of this schema
    max_tokens: int | None = None


@dataclass(frozen=True)
class Reply:
    """A model's whole answer to one request, with what is worth recording about it."""

    text: str
    finish_reason: str  # in Gemini's words: "STOP" for a whole answer
    usage: dict[str, int | None] = field(default_factory=dict)  # by USAGE_KINDS
    model_version: str = ""  # the model version that answered
    provider: str = "gemini"
    endpoint: str | None = None  # the base URL's host (never a key or URL credentials)

    @property
    def named_version(self) -> str:
        """The version as records name it: a bare name is Gemini's, others prefixed."""
        return self.model_version if self.provider == "gemini" else (
            f"{self.provider}:{self.model_version}")


class Model(Protocol):
    """A model of one provider; `complete` raises GenerationError with one line."""

    name: str  # the model's name as the provider knows it (no provider prefix)
    provider: str

    def complete(self, request: ModelRequest, *, on_text: TextSink | None = None,
                 on_notice: Notice | None = None) -> Reply:
        """One fresh session. With `on_text`, the answer streams to it, scrubbed of
        keys, as it comes; a stream that ends without a whole answer is refused."""
        ...


def usage_of(**counts: int | None) -> dict[str, int | None]:
    """Pure: counts in the record's order, every kind present (None: not said)."""
    return {kind: counts.get(kind) for kind in USAGE_KINDS}


def cut_off_advice(limit: int | None, used: int | None) -> str:
    """Pure: what follows "cut off at the token limit (MAX_TOKENS)": a larger limit,
    filled in, so the command that finishes the job is not cut off again.

    `used` is the answer and thinking tokens the model spent before it stopped: with no
    --max-tokens, the model's default limit is about that, so twice it is larger.
    """
    if limit:
        now, larger = f"now {limit}", limit * 2
    elif used:
        now, larger = f"now the model's default, reached at {used:,} tokens", used * 2
    else:
        now, larger = "now the model's default", FALLBACK_LIMIT
    # A thinking model spends the limit on thoughts first (python-genai #811).
    return ("; thinking tokens count toward the limit too: give a larger --max-tokens "
            f"({now}; try {larger}), or ask for a shorter answer")


def suggested_limit(reason: str) -> int | None:
    """Pure: the larger --max-tokens a reason from `cut_off_advice` names, if any."""
    found = _TRY.search(reason)
    return int(found.group(1)) if found else None
