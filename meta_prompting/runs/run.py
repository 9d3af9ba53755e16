"""Running a filled toolkit: each sample a fresh session, each answer kept whole.

A sample's run id is derived from everything that was sent (the system instruction,
the prompt, the model and settings) and its number, so the same command finds its
answers again and makes no call; change the task or the evidence and the next run is
a new one. A run folder (`runs/<id>/answer.md` + `run.json`) appears whole or not at
all. An answer a person edited is theirs: nothing overwrites, remakes or deletes it.
A record is a regular file in a real folder: a link, a FIFO or a device where one
belongs is refused, never read or written through; a run folder whose answer is gone
is an incomplete result, made again.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting import __version__
from meta_prompting.errors import GenerationError, UserError
from meta_prompting.runs import MAX_SAMPLES
from meta_prompting.runs.requests import keep_request
from meta_prompting.store import record as records
from meta_prompting.store.files import (
    RECORD_LIMIT,
    TOOLKIT_LIMIT,
    NotRegularFile,
    file_kind,
    is_temporary,
    os_reason,
    read_regular,
    sha256_bytes,
)

if TYPE_CHECKING:
    from meta_prompting.models.base import Model, Reply
    from meta_prompting.models.budget import Budget, Planned

RUNS = "runs"
ANSWER_FILE = "answer.md"
RUN_FILE = "run.json"
TOOL = "meta-prompting"

# The words of each status, as people read them (defined once, in store.record).
CACHED, RAN = records.word(records.ANSWER, records.KEPT), records.word(records.ANSWER, records.MADE)
FAILED = records.word(records.ANSWER, records.FAILED)
IMPORTED = records.word(records.ANSWER, records.WRITTEN)
PROVIDER = "gemini"


class Settings(NamedTuple):
    """What, besides the text, decides an answer: part of every run's key."""

    model: str
    max_tokens: int | None = None
    # --base-url: where an OpenAI-compatible model is asked; the same model elsewhere
    # answers alike, so it is not part of the key.
    base_url: str | None = None

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
    how: str = ""  # its status in store.record's words: how this run came by it

    @property
    def state(self) -> str:
        """The status in store.record's vocabulary (`how`, else read from the word)."""
        return self.how or records.status_of(records.ANSWER, self.status)

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
                "seconds": self.record.get("seconds"), "cost": self.record.get("cost"),
                "model_version": self.record.get("model_version")}


class RunReport(NamedTuple):
    out_dir: Path
    key: str
    samples: tuple[Sample, ...]
    command: str  # the command that finishes the job
    dry_run: bool = False
    sizes: dict[str, int] = {}  # characters sent and an estimate of tokens (dry run)
    estimate: dict[str, Any] = {}  # the calls a dry run would make, and their cost

    @property
    def outcome(self) -> str:
        """DONE when every sample asked for is kept, else INCOMPLETE."""
        return records.DONE if all(s.ok for s in self.samples) else records.INCOMPLETE

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "dry_run": self.dry_run, "command": self.command,
                "sizes": self.sizes, "samples": [s.to_dict() for s in self.samples],
                **({"estimate": self.estimate} if self.dry_run else {})}


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
    budget: Budget | None = None  # --budget: no call is sent past it
    lineage: dict[str, Any] | None = None  # a refined attempt's parent, kept in run.json
    on_notice: Callable[[str], None] | None = None  # retries and rate-limit waits
    fresh: tuple[int, ...] = ()  # --fresh: these samples' kept runs set aside, made anew
    fresh_stages: frozenset[str] = frozenset()  # --fresh-stage: a chain's stages made anew
    # A chain stage's state changed (name, state); None: said as a progress line.
    on_stage: Callable[[str, str], None] | None = None


def run_id(key: str, number: int) -> str:
    return f"{key[:12]}-{number}"


def run_lock(runs: Path, rid: str, what: str = "") -> Path:
    """The lock of run `rid` (or of `what` in it, e.g. ".scorecard"): in the toolkit's
    hidden .locks/, never among the runs people browse."""
    from meta_prompting.store.lock import lock_file

    return lock_file(runs.parent, f"run-{rid}{what}")


def existing_numbers(runs: Path, key: str) -> list[int]:
    """The sample numbers already kept for these inputs (one listing of runs/).

    Only this tool's complete records count: a folder (not a link) holding run.json and
    answer.md, numbered within MAX_SAMPLES. A stray `<id>-999999999` or an empty file
    named like a run must not decide how many sessions the next command makes.
    """
    pattern = re.compile(rf"{re.escape(key[:12])}-([1-9][0-9]{{0,2}})")
    try:
        names = os.listdir(runs)
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := pattern.fullmatch(n))
                  and int(m.group(1)) <= MAX_SAMPLES and _complete(runs / n))


def _complete(folder: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(folder).st_mode) and all(
            stat.S_ISREG(os.lstat(folder / name).st_mode) for name in (RUN_FILE, ANSWER_FILE))
    except OSError:
        return False


def check_runs(runs: Path) -> None:
    """Refuse a runs/ that is not a real folder: answers are never written through a link."""
    from meta_prompting.store.files import check_own

    check_own(runs, folder=True, keeps="its answers (a folder of its own)")


def run_samples(out_dir: Path, session: Session, options: RunOptions, model: Model
                ) -> RunReport:
    """Make sure the samples asked for exist for this session; make only what is missing."""
    runs = out_dir / RUNS
    check_runs(runs)
    key = session.key
    have = existing_numbers(runs, key)
    if options.fresh and not options.dry_run:
        from meta_prompting.runs.fresh import set_aside

        for n in options.fresh:
            if n in have:
                set_aside(runs, run_id(key, n), options.progress)
        have = existing_numbers(runs, key)
    else:  # a dry run moves nothing: it says what --fresh would make
        have = [n for n in have if n not in options.fresh]
    target = max(options.samples, (max(have, default=0) + 1) if options.again else 0,
                 max(options.fresh, default=0))
    if target > MAX_SAMPLES:
        raise UserError(f"--again: {MAX_SAMPLES} samples are kept for this task, the most "
                        "this tool makes for one; change the task or the evidence for more")
    command = options.command + (f" --samples {target}" if target > 1 else "")
    numbers = range(1, target + 1)
    if options.dry_run:
        from meta_prompting.models.budget import estimate_plan

        sizes = {"system_chars": len(session.system), "prompt_chars": len(session.prompt),
                 "estimated_tokens": (len(session.system) + len(session.prompt)) // 4}
        samples = tuple((None if n in options.fresh else _look(runs / run_id(key, n), n))
                        or Sample(n, run_id(key, n), runs / run_id(key, n), "would run")
                        for n in numbers)
        return RunReport(out_dir, key, samples, command, dry_run=True, sizes=sizes,
                         estimate=estimate_plan(session.settings.model,
                                                planned_answers(session, samples)))
    missing = [n for n in numbers if n not in have]
    for n in missing:  # what is in the way is said before "Running", not after
        _look(runs / run_id(key, n), n)
    if missing and options.progress:
        options.progress(f"Running {_count(len(missing), 'sample')} with "
                         f"{session.settings.model} (each a fresh session)...")
    stream = options.on_text if len(missing) == 1 else None
    tasks = [partial(ensure_sample, runs, session, n, options, model,
                     stream if n in missing else None) for n in numbers]
    from meta_prompting.store.step import run_all

    made = tuple(run_all(options.jobs, tasks))
    # An answer cut off at --max-tokens is finished by asking again with room for it.
    return RunReport(out_dir, key, made, larger_limit(command, [
        s.reason for s in made if s.status == FAILED and s.reason]))


def ensure_sample(runs: Path, session: Session, number: int, options: RunOptions,
                  model: Model, on_text: Callable[[str], None] | None) -> Sample:
    """One sample, made at most once across every run that needs it."""
    def ask() -> tuple[Reply, float]:
        from meta_prompting.models.base import ModelRequest

        start = time.monotonic()
        answer = model.complete(ModelRequest(session.system, session.prompt,
                                             max_tokens=session.settings.max_tokens),
                                on_text=on_text)
        return answer, time.monotonic() - start

    return _ensure_run(runs, session, number, options, ask, said=on_text is not None)


def keep_answer(runs: Path, session: Session, number: int, reply: Reply,
                seconds: float | None, options: RunOptions,
                made_by: dict[str, Any] | None = None, *, batch: str | None = None) -> Sample:
    """A reply made elsewhere (a batch job's) kept as sample `number`, as an interactive
    call's is, under the same lock: unless one is kept already, which then stands (the
    reply is dropped). `made_by` is added to run.json; `batch` names the batch job
    (batches/ID) that made it: in the record's header, and priced at the batch rate."""
    return _ensure_run(runs, session, number, options, lambda: (reply, seconds),
                       said=True, made_by=made_by, batch=batch)


def _ensure_run(runs: Path, session: Session, number: int, options: RunOptions,
                ask: Callable[[], tuple[Reply, float | None]], said: bool,
                made_by: dict[str, Any] | None = None, batch: str | None = None) -> Sample:
    from meta_prompting.store.step import StepFailed, ensure

    rid = run_id(session.key, number)
    folder = runs / rid

    def make() -> Sample:
        try:
            answer, seconds = ask()
        except GenerationError as e:
            return Sample(number, rid, folder, FAILED, records.reason_of(e))
        record = _record(session, rid, number, answer, seconds, batch)
        if options.lineage:
            record["refined_from"] = options.lineage
        if made_by:
            record.update(made_by)
        try:
            record["request"] = keep_request(runs.parent, session)
            keep(folder, answer.text, record)
        except OSError as e:
            return Sample(number, rid, folder, FAILED, records.reason_of(e, folder))
        if options.progress and not said:
            options.progress(f"  ran sample {number} ({record['seconds']:.1f}s, "
                             f"{record['tokens'].get('answer') or '?'} answer tokens)")
        return Sample(number, rid, folder, RAN, record=record, how=records.MADE)

    waiting = options.on_wait
    try:
        how, sample = ensure(run_lock(runs, rid), lambda: _look(folder, number), make,
                             timeout=options.timeout + 30, what=f"run {rid}",
                             clean=lambda: _clean(runs, folder),
                             on_wait=(lambda: waiting(rid)) if waiting else None)
    except StepFailed as e:
        return Sample(number, rid, folder, FAILED, records.reason_of(e))
    return sample._replace(how=records.OTHER) if how == records.OTHER else sample


def planned_answers(session: Session, samples: tuple[Sample, ...]) -> list[Planned]:
    """The answer calls a dry run's samples would make: one for each not kept."""
    from meta_prompting.models.budget import ANSWER, Planned

    size = len(session.system) + len(session.prompt)
    return [Planned(ANSWER, size, session.settings.max_tokens)
            for s in samples if s.status == "would run"]


def keep(folder: Path, text: str, record: dict[str, Any]) -> None:
    """Write the run folder whole: answer.md (literal) and run.json."""
    from meta_prompting.models.keys import scrub_data
    from meta_prompting.store.step import publish_folder

    record = scrub_data(record)  # a record is kept and shared: never a key in it
    folder.parent.mkdir(parents=True, exist_ok=True)
    publish_folder(folder, {ANSWER_FILE: text.encode("utf-8"),
                            RUN_FILE: (json.dumps(record, indent=2) + "\n").encode("utf-8")})


def _record(session: Session, rid: str, number: int, answer: Reply,
            seconds: float | None, batch: str | None = None) -> dict[str, Any]:
    """run.json. `seconds` is None for a batch's answer: the service says how long the
    job took, not each request."""
    from meta_prompting.models.prices import cost_of

    sha = {"system": sha256_bytes(session.system.encode("utf-8")),
           "prompt": sha256_bytes(session.prompt.encode("utf-8"))}
    cost = cost_of(session.settings.model, [(answer.usage, answer.model_version)],
                   batch=batch is not None)
    return {
        "tool": TOOL, "version": __version__, "run_id": rid, "sample": number,
        "inputs": session.key, "model": session.settings.model,
        "model_version": answer.model_version, "provider": answer.provider,
        **({"endpoint": answer.endpoint} if answer.endpoint else {}),
        "settings": session.settings.as_dict(),
        "tokens": answer.usage, "cost": cost,
        "finish_reason": answer.finish_reason,
        "seconds": None if seconds is None else round(seconds, 3),
        "sha256": {**sha, "answer": sha256_bytes(answer.text.encode("utf-8"))},
        "date": records.now(),
        records.HEADER: records.header(
            records.ANSWER, session.key, sha, status=records.MADE,
            model=answer.model_version, provider=answer.provider, tokens=answer.usage,
            seconds=seconds, cost=cost, batch=batch),
    }


def kept_sample(folder: Path, number: int) -> Sample | None:
    """The run kept in `folder`, or None (see _look): for a caller that lists runs/ once
    for many sessions (--tasks) instead of once for each."""
    return _look(folder, number)


def _look(folder: Path, number: int) -> Sample | None:
    """A kept run, if there is one: the folder exists only once it is whole.

    None when there is none, or only an incomplete one (its answer gone: made again);
    UserError for what is not this tool's to read or replace (a link, a FIFO).
    """
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UserError(f"{folder}: cannot be read: {os_reason(e)}") from e
    if not stat.S_ISDIR(mode):
        raise UserError(f"{folder}: is {file_kind(mode)}, where this tool keeps a run "
                        "(a folder of its own); move it away")
    answer = _answer_bytes(folder)
    if answer is None:
        return None
    try:
        record = json.loads(read_regular(folder / RUN_FILE, RECORD_LIMIT, follow_links=False))
    except FileNotFoundError:
        record = None
    except NotRegularFile as e:
        raise UserError(f"{folder / RUN_FILE}: {e.strerror}; records are this tool's regular "
                        "files: remove it to make the run again") from None
    except (OSError, ValueError, RecursionError):
        record = None
    if not isinstance(record, dict):
        raise UserError(f"{folder}: holds an answer but no record this tool can read "
                        f"({RUN_FILE}); move the folder away to make the run again")
    recorded = record.get("sha256")
    edited = not isinstance(recorded, dict) or recorded.get("answer") != sha256_bytes(answer)
    # A record without a header (0.2.0's) is read as kept like any other.
    return Sample(number, folder.name, folder, IMPORTED if record.get("imported") else CACHED,
                  record=record, edited=edited, how=records.EDITED if edited else records.KEPT)


def _answer_bytes(folder: Path) -> bytes | None:
    """answer.md's bytes; None when it is gone; UserError when it is not a regular file."""
    path = folder / ANSWER_FILE
    try:
        return read_regular(path, TOOLKIT_LIMIT, follow_links=False)
    except FileNotFoundError:
        return None
    except NotRegularFile as e:
        raise UserError(f"{path}: {e.strerror}; a kept answer is a regular file: put the "
                        "text there, or move the folder away to make the run again"
                        ) from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read: {os_reason(e)}") from e


def _clean(runs: Path, folder: Path) -> None:
    """Under the run's lock: clear what killed writes left, and an incomplete run folder
    (its answer gone) holding nothing but this tool's own files, so it is made again."""
    import shutil

    from meta_prompting.store.step import remove_dead_folders

    remove_dead_folders(runs, folder.name)
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode) or os.path.lexists(folder / ANSWER_FILE):
            return
        names = os.listdir(folder)
    except OSError:
        return
    if all(n == RUN_FILE or n.startswith("scorecard") or is_temporary(n) for n in names):
        shutil.rmtree(folder, ignore_errors=True)


def read_answer(sample: Sample) -> str:
    """The answer's text as it stands now: a person's edit included."""
    data = _answer_bytes(sample.folder)
    if data is None:
        raise UserError(f"{sample.answer_path}: gone; run the same command again to make "
                        "the answer again")
    return data.decode("utf-8", errors="replace")


def larger_limit(command: str, reasons: list[str]) -> str:
    """Pure: `command` asking for the larger --max-tokens a cut-off answer's reason
    names (given or not before): following it must not be cut off again."""
    from meta_prompting.models.base import suggested_limit

    wanted = max((n for r in reasons if (n := suggested_limit(r))), default=None)
    if wanted is None:
        return command
    given = re.search(r" --max-tokens (\d+)", command)
    if given is None:
        return f"{command} --max-tokens {wanted}"
    larger = max(wanted, int(given[1]))
    return command[:given.start()] + f" --max-tokens {larger}" + command[given.end():]


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
