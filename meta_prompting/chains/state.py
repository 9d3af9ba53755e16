"""A stage's own record: stage.json in its folder, so a chain's state is read from records.

It names the answer the stage hands on and the scorecard that passed it, under the one
record header (its key is the session's, its inputs the system instruction, the prompt
and each answer it was handed). It is written when what it says changes, never because
a rerun looked at it: a kept stage leaves it as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.store import record as records
from meta_prompting.store.files import (
    RECORD_LIMIT,
    read_regular,
    remove_stale_temporaries,
    sha256_bytes,
    write_atomic,
)

if TYPE_CHECKING:
    from meta_prompting.chains.chain import StageResult
    from meta_prompting.chains.chainfile import Stage
    from meta_prompting.runs.run import RunOptions, Sample

STAGE_FILE = "stage.json"


def read_stage(folder: Path) -> dict[str, Any] | None:
    """The stage's record; None when there is none (0.2.0 kept none) or it is unreadable."""
    try:
        data = json.loads(read_regular(folder / STAGE_FILE, RECORD_LIMIT, follow_links=False))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def keep_stage(result: StageResult, upstream: dict[str, StageResult] | None = None) -> None:
    """Write the stage's record if what it says changed; a failure to write is not the
    stage's (its answer is kept): the next run writes it."""
    from meta_prompting.chains.chain import RAN

    sample, out = result.sample, result.out_dir
    if out is None or sample is None and result.graded is None:
        return
    record = sample.record if sample is not None else {}
    inputs = dict(record.get("sha256") or {})
    said: dict[str, Any] = {
        "stage": result.stage.name, "goal": result.stage.goal,
        # Whether it passed, not this run's word for it: a rerun finding it kept says
        # "cached" and must leave the record as it was ("made" in its header).
        "ok": result.ok,
        "answer": _relative(sample.answer_path, out) if sample else None,
        "answer_sha256": answer_sha256(sample) if sample else None,
        "scorecard": _relative(result.graded.path, out)
        if result.graded is not None and result.graded.path else None,
        "passed": None if result.graded is None or result.graded.scorecard is None
        else result.graded.scorecard.passed,
        "sessions": result.sessions,
        # What the stages it comes after handed on is in its prompt: the key covers it.
        "after": [a.stage for a in result.stage.after],
        # Their answers as handed: a dry run can tell "upstream changed" from the rest.
        "handed": {name: answer_sha256(r.sample) if r.sample is not None else None
                   for name, r in (upstream or {}).items()},
    }
    # A run killed mid-write left its temporary file, and nothing else clears it; only
    # a dead process's go, as another chain may be writing this record now.
    remove_stale_temporaries(out, STAGE_FILE)
    old = read_stage(out)
    if old is not None and {k: old.get(k) for k in said} == said:
        return
    status = records.MADE if result.status == RAN else records.KEPT
    said[records.HEADER] = records.header(
        records.STAGE, str(record.get("inputs") or ""),
        {k: v for k, v in inputs.items() if k in ("system", "prompt")}, status=status,
        model=record.get("model"), provider=(record.get(records.HEADER) or {}).get("provider"),
        tokens=record.get("tokens"), seconds=record.get("seconds"), cost=record.get("cost"))
    try:
        from meta_prompting.models.keys import scrub_data

        write_atomic(out / STAGE_FILE,
                     (json.dumps(scrub_data(said), indent=2) + "\n").encode("utf-8"))
    except OSError:
        pass


def answer_sha256(sample: Sample) -> str | None:
    """The answer as handed on (a person's edit included); None if it went meanwhile."""
    from meta_prompting.errors import UserError
    from meta_prompting.runs.run import read_answer

    try:
        return sha256_bytes(read_answer(sample).encode("utf-8"))
    except UserError:
        return None


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def fresh_stage(out_dir: Path, session: Any, stage: Stage, options: RunOptions
                ) -> RunOptions:
    """--fresh-stage: every kept session of this stage set aside (kept, renamed), so it
    is asked again; a dry run moves nothing and counts them as to be made."""
    from meta_prompting.runs.fresh import set_aside
    from meta_prompting.runs.run import RUNS, existing_numbers, run_id

    if options.dry_run:
        return options._replace(fresh=(1,))
    runs = out_dir / RUNS
    for n in existing_numbers(runs, session.key):
        set_aside(runs, run_id(session.key, n), options.progress)
    return options
