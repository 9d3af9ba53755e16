"""Answers made elsewhere (--answer FILE), kept in runs/ beside the samples: graded like
them, and found again by every grade of the same task."""

from __future__ import annotations

import os
import re
from pathlib import Path

from meta_prompting import __version__
from meta_prompting.errors import UserError
from meta_prompting.runs.requests import keep_request
from meta_prompting.runs.run import (
    FAILED,
    IMPORTED,
    RUNS,
    TOOL,
    RunReport,
    Sample,
    Session,
    _clean,
    _complete,
    _look,
    check_runs,
    keep,
    run_lock,
)
from meta_prompting.store import record as records
from meta_prompting.store.files import sha256_bytes


def imported_samples(runs: Path, key: str) -> tuple[Sample, ...]:
    """The answers imported (--answer) for these inputs: kept like the samples, so
    grading every answer kept for the task grades them too."""
    pattern = re.compile(rf"{re.escape(key[:12])}-i[0-9a-f]{{8}}")
    try:
        names = sorted(os.listdir(runs))
    except OSError:
        return ()
    found = (_look(runs / n, 0) for n in names if pattern.fullmatch(n) and _complete(runs / n))
    return tuple(s for s in found if s is not None)


def read_import(given: str) -> str:
    """--answer FILE's text, refused (empty, binary, holding the key) before the toolkit
    is built: an answer that cannot be kept must not leave anything behind."""
    from meta_prompting.evidence.read import read_text
    from meta_prompting.models.keys import holds_key

    text = read_text(given, "--answer")
    if not text.strip():
        raise UserError(f"--answer {given}: the file is empty")
    if holds_key(text):  # it would be kept in runs/ and sent to the judge
        raise UserError(f"--answer {given}: the answer holds the API key (or part of it); "
                        "take it out: nothing was written or sent")
    return text


def import_answer(out_dir: Path, session: Session, given: str, command: str,
                  text: str | None = None) -> RunReport:
    """An answer made elsewhere (pasted from a chat), kept in runs/ like any other.

    Its run id joins the inputs it answers with its own text, so importing the same
    answer twice keeps it once, and a different answer is a run of its own.
    """
    from meta_prompting.store.step import StepFailed, ensure

    text = read_import(given) if text is None else text
    digest = sha256_bytes(text.encode("utf-8"))
    rid = f"{session.key[:12]}-i{digest[:8]}"
    runs = out_dir / RUNS
    check_runs(runs)
    folder = runs / rid

    def make() -> Sample:
        sha = {"system": sha256_bytes(session.system.encode("utf-8")),
               "prompt": sha256_bytes(session.prompt.encode("utf-8"))}
        record = {"tool": TOOL, "version": __version__, "run_id": rid, "sample": 0,
                  "imported": True, "source": Path(given).name, "inputs": session.key,
                  "sha256": {**sha, "answer": digest}, "date": records.now(),
                  "request": keep_request(out_dir, session),
                  records.HEADER: records.header(records.ANSWER, session.key, sha,
                                                 status=records.WRITTEN)}
        keep(folder, text, record)
        return Sample(0, rid, folder, IMPORTED, record=record, how=records.WRITTEN)

    try:
        how, sample = ensure(run_lock(runs, rid), lambda: _look(folder, 0), make,
                             timeout=30, what=f"run {rid}", clean=lambda: _clean(runs, folder))
        sample = sample._replace(how=records.OTHER) if how == records.OTHER else sample
    except (StepFailed, OSError) as e:
        sample = Sample(0, rid, folder, FAILED, f"cannot keep the answer: {e}")
    from shlex import quote

    return RunReport(out_dir, session.key, (sample,), command + f" --answer {quote(given)}")
