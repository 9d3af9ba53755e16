"""Running a filled toolkit: each sample a fresh session, each answer kept whole.

A sample's run id is derived from everything that was sent (the system instruction,
the prompt, the model and settings) and its number, so the same command finds its
answers again and makes no call; change the task or the evidence and the next run is
a new one. A run folder (`runs/<id>/answer.md` + `run.json`) appears whole or not at
all. An answer a person edited is theirs: nothing overwrites, remakes or deletes it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting import __version__
from meta_prompting.errors import EXIT_INCOMPLETE, EXIT_OK, GenerationError, UserError
from meta_prompting.files import RECORD_LIMIT, TOOLKIT_LIMIT, read_regular, sha256_bytes

if TYPE_CHECKING:
    from meta_prompting.build import BuildOptions, BuildReport
    from meta_prompting.generate import Answer
    from meta_prompting.library import Library

RUNS = "runs"
ANSWER_FILE = "answer.md"
RUN_FILE = "run.json"
TOOL = "meta-prompting"

CACHED, RAN, FAILED, IMPORTED = "cached", "ran", "failed", "imported"

# The model call: (system, prompt, *, max_tokens, json_schema, on_text) -> Answer, one
# fresh session; raises GenerationError.
Call = Callable[..., "Answer"]


class Settings(NamedTuple):
    """What, besides the text, decides an answer: part of every run's key."""

    model: str
    max_tokens: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "max_output_tokens": self.max_tokens}


class Session(NamedTuple):
    """What one fresh session is sent: the persona and the filled prompt."""

    system: str
    prompt: str
    settings: Settings

    @property
    def key(self) -> str:
        blob = json.dumps({"system": self.system, "prompt": self.prompt,
                           "settings": self.settings.as_dict()}, sort_keys=True)
        return sha256_bytes(blob.encode("utf-8"))


class Sample(NamedTuple):
    number: int  # 0 for an imported answer
    run_id: str
    folder: Path
    status: str  # CACHED, RAN, FAILED or IMPORTED
    reason: str | None = None  # why it failed
    record: dict[str, Any] = {}  # run.json
    edited: bool = False  # answer.md differs from what the model (or import) wrote

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    @property
    def answer_path(self) -> Path:
        return self.folder / ANSWER_FILE

    def to_dict(self) -> dict[str, Any]:
        return {"sample": self.number, "run_id": self.run_id, "status": self.status,
                "edited": self.edited, "answer": str(self.answer_path) if self.ok else None,
                "reason": self.reason, "tokens": self.record.get("tokens"),
                "seconds": self.record.get("seconds"),
                "model_version": self.record.get("model_version")}


class RunReport(NamedTuple):
    out_dir: Path
    key: str
    samples: tuple[Sample, ...]
    command: str  # the command that finishes the job
    dry_run: bool = False
    sizes: dict[str, int] = {}  # characters sent and an estimate of tokens (dry run)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if all(s.ok for s in self.samples) else EXIT_INCOMPLETE

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "dry_run": self.dry_run, "command": self.command,
                "sizes": self.sizes, "samples": [s.to_dict() for s in self.samples]}


class RunOptions(NamedTuple):
    samples: int = 1
    again: bool = False
    jobs: int = 8
    timeout: float = 120.0
    dry_run: bool = False
    command: str = ""  # the command that ran us, without --samples/--again
    on_text: Callable[[str], None] | None = None  # stream one sample's answer here
    progress: Callable[[str], None] | None = None
    on_wait: Callable[[str], None] | None = None


def run_id(key: str, number: int) -> str:
    return f"{key[:12]}-{number}"


def existing_numbers(runs: Path, key: str) -> list[int]:
    """The sample numbers already kept for these inputs (one listing of runs/)."""
    pattern = re.compile(rf"{re.escape(key[:12])}-(\d+)")
    try:
        names = os.listdir(runs)
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := pattern.fullmatch(n)))


def run_toolkit(library: Library, goal: str, project: str, build_options: BuildOptions,
                options: RunOptions, settings: Settings
                ) -> tuple[BuildReport, RunReport | None]:
    """Build the filled toolkit, then make sure its samples exist: the one core of --run."""
    from meta_prompting.build import build

    report = build(library, goal, project, build_options)
    if report.filled is None:  # incomplete: a placeholder must never reach a model
        return report, None
    session = Session(report.filled[0], report.filled[1], settings)
    return report, run_samples(report.out_dir, session, options,
                               LazyCall(settings.model, options.timeout))


class LazyCall:
    """The model, connected on the first call: cached answers never import the SDK."""

    def __init__(self, model: str, timeout: float) -> None:
        self.model, self.timeout = model, timeout
        self._lock = threading.Lock()
        self._call: Call | None = None
        self._why: str | None = None

    def __call__(self, system: str, prompt: str, **options: Any) -> Answer:
        with self._lock:
            if self._call is None and self._why is None:
                self._call, self._why = make_call(self.model, self.timeout)
        if self._call is None:
            raise GenerationError(self._why or "no model")
        return self._call(system, prompt, **options)


def run_samples(out_dir: Path, session: Session, options: RunOptions, call: Call
                ) -> RunReport:
    """Make sure the samples asked for exist for this session; make only what is missing."""
    runs = out_dir / RUNS
    key = session.key
    have = existing_numbers(runs, key)
    target = max(options.samples, (max(have, default=0) + 1) if options.again else 0)
    command = options.command + (f" --samples {target}" if target > 1 else "")
    numbers = range(1, target + 1)
    if options.dry_run:
        sizes = {"system_chars": len(session.system), "prompt_chars": len(session.prompt),
                 "estimated_tokens": (len(session.system) + len(session.prompt)) // 4}
        samples = tuple(_look(runs / run_id(key, n), n) or Sample(
            n, run_id(key, n), runs / run_id(key, n), "would run") for n in numbers)
        return RunReport(out_dir, key, samples, command, dry_run=True, sizes=sizes)
    missing = [n for n in numbers if n not in have]
    if missing and options.progress:
        options.progress(f"Running {_count(len(missing), 'sample')} with "
                         f"{session.settings.model} (each a fresh session)...")
    stream = options.on_text if len(missing) == 1 else None
    tasks = [partial(ensure_sample, runs, session, n, options, call,
                     stream if n in missing else None) for n in numbers]
    from meta_prompting.generate import larger_limit
    from meta_prompting.step import run_all

    made = tuple(run_all(options.jobs, tasks))
    # An answer cut off at --max-tokens is finished by asking again with room for it.
    return RunReport(out_dir, key, made, larger_limit(command, [
        s.reason for s in made if s.status == FAILED and s.reason]))


def ensure_sample(runs: Path, session: Session, number: int, options: RunOptions,
                  call: Call, on_text: Callable[[str], None] | None) -> Sample:
    """One sample, made at most once across every run that needs it."""
    from meta_prompting.step import StepFailed, ensure, remove_dead_folders

    rid = run_id(session.key, number)
    folder = runs / rid

    def make() -> Sample:
        start = time.monotonic()
        try:
            answer = call(session.system, session.prompt,
                          max_tokens=session.settings.max_tokens, on_text=on_text)
        except GenerationError as e:
            return Sample(number, rid, folder, FAILED, str(e))
        record = _record(session, rid, number, answer, time.monotonic() - start)
        try:
            keep(folder, answer.text, record)
        except OSError as e:
            return Sample(number, rid, folder, FAILED, f"cannot write {folder}: {e.strerror}")
        if options.progress and on_text is None:
            options.progress(f"  ran sample {number} ({record['seconds']:.1f}s, "
                             f"{record['tokens'].get('answer') or '?'} answer tokens)")
        return Sample(number, rid, folder, RAN, record=record)

    waiting = options.on_wait
    try:
        return ensure(runs / f".{rid}.lock", lambda: _look(folder, number), make,
                      timeout=options.timeout + 30, what=f"run {rid}",
                      clean=lambda: remove_dead_folders(runs, rid),
                      on_wait=(lambda: waiting(rid)) if waiting else None)[1]
    except StepFailed as e:
        return Sample(number, rid, folder, FAILED, e.reason)


def read_import(given: str) -> str:
    """--answer FILE's text, refused (empty, binary, holding the key) before the toolkit
    is built: an answer that cannot be kept must not leave anything behind."""
    from meta_prompting.evidence import read_text
    from meta_prompting.keys import holds_key

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
    from meta_prompting.step import StepFailed, ensure, remove_dead_folders

    text = read_import(given) if text is None else text
    digest = sha256_bytes(text.encode("utf-8"))
    rid = f"{session.key[:12]}-i{digest[:8]}"
    runs = out_dir / RUNS
    folder = runs / rid

    def make() -> Sample:
        record = {"tool": TOOL, "version": __version__, "run_id": rid, "sample": 0,
                  "imported": True, "source": Path(given).name, "inputs": session.key,
                  "sha256": {"system": sha256_bytes(session.system.encode("utf-8")),
                             "prompt": sha256_bytes(session.prompt.encode("utf-8")),
                             "answer": digest},
                  "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        keep(folder, text, record)
        return Sample(0, rid, folder, IMPORTED, record=record)

    try:
        sample = ensure(runs / f".{rid}.lock", lambda: _look(folder, 0), make, timeout=30,
                        what=f"run {rid}", clean=lambda: remove_dead_folders(runs, rid))[1]
    except (StepFailed, OSError) as e:
        sample = Sample(0, rid, folder, FAILED, f"cannot keep the answer: {e}")
    from shlex import quote

    return RunReport(out_dir, session.key, (sample,), command + f" --answer {quote(given)}")


def keep(folder: Path, text: str, record: dict[str, Any]) -> None:
    """Write the run folder whole: answer.md (literal) and run.json."""
    from meta_prompting.keys import scrub_data
    from meta_prompting.step import publish_folder

    record = scrub_data(record)  # a record is kept and shared: never a key in it
    folder.parent.mkdir(parents=True, exist_ok=True)
    publish_folder(folder, {ANSWER_FILE: text.encode("utf-8"),
                            RUN_FILE: (json.dumps(record, indent=2) + "\n").encode("utf-8")})


def _record(session: Session, rid: str, number: int, answer: Answer,
            seconds: float) -> dict[str, Any]:
    return {
        "tool": TOOL, "version": __version__, "run_id": rid, "sample": number,
        "inputs": session.key, "model": session.settings.model,
        "model_version": answer.model, "settings": session.settings.as_dict(),
        "tokens": answer.usage, "finish_reason": answer.finish_reason,
        "seconds": round(seconds, 3),
        "sha256": {"system": sha256_bytes(session.system.encode("utf-8")),
                   "prompt": sha256_bytes(session.prompt.encode("utf-8")),
                   "answer": sha256_bytes(answer.text.encode("utf-8"))},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _look(folder: Path, number: int) -> Sample | None:
    """A kept run, if there is one: the folder exists only once it is whole."""
    try:
        record = json.loads(read_regular(folder / RUN_FILE, RECORD_LIMIT, follow_links=False))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    return Sample(number, folder.name, folder, IMPORTED if record.get("imported") else CACHED,
                  record=record, edited=is_edited(folder, record))


def is_edited(folder: Path, record: dict[str, Any]) -> bool:
    """Whether a person changed answer.md since it was kept (its sha256 tells)."""
    try:
        current = sha256_bytes(read_regular(folder / ANSWER_FILE, TOOLKIT_LIMIT))
    except OSError:
        return True  # gone or unreadable: certainly not what was kept
    recorded = record.get("sha256")
    return not isinstance(recorded, dict) or recorded.get("answer") != current


def read_answer(sample: Sample) -> str:
    """The answer's text as it stands now: a person's edit included."""
    return read_regular(sample.answer_path, TOOLKIT_LIMIT).decode("utf-8", errors="replace")


def make_call(model: str, timeout: float) -> tuple[Call | None, str | None]:
    """The model, bounded by --timeout; or None and why runs cannot be made now."""
    from meta_prompting.generate import GeminiGenerator
    from meta_prompting.keys import key_blocker
    from meta_prompting.step import with_deadline

    blocker = key_blocker()
    if blocker:
        return None, blocker
    try:
        generator = GeminiGenerator(model, timeout)
    except GenerationError as e:
        return None, str(e)

    return with_deadline(generator.complete, timeout), None


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
