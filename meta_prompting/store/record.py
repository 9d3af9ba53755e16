"""One record header and one status vocabulary for every model-made result.

A part, an answer, a scorecard and a chain stage each keep a record (a part's
provenance beside it; run.json, scorecard.json and stage.json in their folders). Each
record holds the same header under "record": what kind of result it is, the key its
inputs make, the sha256 of each input, who made it (model, provider), what it cost
(tokens by kind, money once prices are known, seconds), when, by which version of
this tool, and its status. Records written before the header (0.2.0) have none: they
are read as kept, never made again for lacking one.

Statuses are decided once, here, in these words; the face turns them into the words
people read (`word`), which are today's output for each kind.
"""

from __future__ import annotations

from typing import Any

from meta_prompting import __version__

# The status vocabulary: each word defined once.
MADE = "made"  # this process asked the model (or a person) and kept the result
KEPT = "kept"  # found for the same inputs: nothing was locked or asked for
OTHER = "made by another process"  # made while this one waited for the lock
FAILED = "failed"  # not made now; the result carries the reason
EDITED = "edited by hand"  # a person changed the kept result: theirs, carried forward
WRITTEN = "written by hand"  # a person supplied it (an imported answer, a typed part)
SUBMITTED = "submitted"  # handed to a batch service, not yet collected
STATUSES = (MADE, KEPT, OTHER, FAILED, EDITED, WRITTEN, SUBMITTED)

PART, ANSWER, SCORECARD, STAGE = "part", "answer", "scorecard", "stage"

# A command's outcome, summed from its results (each report says its own); only the face
# turns it into an exit code. FAILS: a graded answer (or stage) failed its scorecard.
DONE, INCOMPLETE, FAILS = "done", "incomplete", "fails its scorecard"
HEADER = "record"  # the key the header is kept under in every record

# What people read for each kind and status: the output of 0.2.0, word for word. A
# result found kept, or made by another process, made no call here: never "ran".
_WORDS: dict[str, dict[str, str]] = {
    PART: {MADE: "generated", KEPT: "present", OTHER: "present", FAILED: "placeholder",
           WRITTEN: "written"},
    ANSWER: {MADE: "ran", KEPT: "cached", OTHER: "cached", FAILED: "failed",
             WRITTEN: "imported", SUBMITTED: "submitted"},
    SCORECARD: {MADE: "graded", KEPT: "cached", OTHER: "cached", FAILED: "failed",
                EDITED: "edited", SUBMITTED: "submitted"},
    STAGE: {MADE: "ran", KEPT: "cached", OTHER: "cached", FAILED: "failed"},
}


def word(kind: str, status: str) -> str:
    """The word people read for a `kind` result in `status`."""
    return _WORDS[kind][status]


def status_of(kind: str, shown: str) -> str:
    """The status behind a word people read (the first that maps to it)."""
    for status, said in _WORDS[kind].items():
        if said == shown:
            return status
    raise KeyError(f"{kind}: no status is shown as {shown!r}")


def header(kind: str, key: str, inputs: dict[str, str], *, status: str,
           model: str | None = None, provider: str | None = None,
           tokens: dict[str, int | None] | None = None,
           seconds: float | None = None, cost: dict[str, Any] | None = None,
           batch: str | None = None) -> dict[str, Any]:
    """The header of one record: `inputs` maps each input's name to its sha256; `cost`
    as models.prices.cost_of gives it (the caller prices: the store knows no prices).
    `batch`: the batch job (batches/ID) that made it, when a batch service did."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    made_by = {"batch": batch} if batch else {}
    return {
        "kind": kind, "key": key, "inputs": dict(inputs), "model": model,
        "provider": provider, "tokens": dict(tokens) if tokens else None,
        "cost": cost,
        "seconds": None if seconds is None else round(seconds, 3),
        "date": now(), "tool_version": __version__, "status": status, **made_by,
    }


def read_header(record: object) -> dict[str, Any] | None:
    """A record's header; None for a record without one (written by 0.2.0): kept."""
    if isinstance(record, dict) and isinstance(record.get(HEADER), dict):
        return record[HEADER]  # type: ignore[no-any-return]
    return None


def now() -> str:
    from datetime import datetime, timezone  # only a record being written needs it

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reason_of(error: BaseException, path: object = None) -> str:
    """Why a result was not made, in one line: the one failure-to-reason mapping.

    A model's refusal or a busy lock says so itself; a file the tool could not write
    names the file and the system's reason.
    """
    from meta_prompting.errors import GenerationError
    from meta_prompting.store.files import os_reason

    if isinstance(error, GenerationError):
        return str(error)
    if isinstance(error, OSError):
        where = path if path is not None else error.filename
        return f"cannot write {where}: {os_reason(error)}" if where else os_reason(error)
    return str(error)
