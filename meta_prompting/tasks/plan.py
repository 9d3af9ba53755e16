"""What each row needs, decided on the main thread from the store alone.

Deciding is kept apart from making. `read_fillings` reads every row's task and
evidence (refusing the file, before anything is written, when one cannot be read);
`plan_rows` lists runs/ once, finds each row's kept answers and scorecards, and says
what is missing as `Need`s: an answer (a sample, keyed by its run id) or a scorecard
of a kept or new answer. The runner makes the needs with interactive calls on one
bounded pool; a batch job could make them instead: `missing_work` lists each once
with the exact request an interactive call sends, and `runs.run.keep_answer` keeps
a reply made elsewhere as the same record, under the same lock.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.errors import LibraryError, UserError
from meta_prompting.runs import MAX_SAMPLES
from meta_prompting.runs.run import RUNS, Sample, Session, kept_sample, run_id
from meta_prompting.store.record import ANSWER, SCORECARD
from meta_prompting.tasks.taskfile import Row, TaskFile
from meta_prompting.toolkit.prompt import Document, Filling

if TYPE_CHECKING:
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.scorecard import Graded
    from meta_prompting.models.base import ModelRequest
    from meta_prompting.runs.run import Settings
    from meta_prompting.toolkit.build import Toolkit

_RUN_NAME = re.compile(r"([0-9a-f]{12})-(?:([1-9][0-9]{0,2})|(i[0-9a-f]{8}))")
WOULD_RUN = "would run"  # a sample not made yet, as run.py's dry run names it


class Grading(NamedTuple):
    """--grade's settings for every row: one rubric, read before any call."""

    rubric: Rubric
    judges: int
    judge: str  # the judges' model name (--judge-model, else the one that answers)
    judge_given: str | None  # --judge-model as given
    own: bool  # the goal's own rubric (scorecard.json), not --grade-with's
    timeout: float
    repair: bool = True  # a kept scorecard's .md a kill left aside is written (not dry runs)


class Need(NamedTuple):
    """One model result a row lacks: an answer (a sample), or an answer's scorecard."""

    row: int  # the row's index in the tasks file
    kind: str  # store.record's ANSWER or SCORECARD
    number: int  # the sample it is or grades (0: an answer imported with --answer)
    run_id: str  # the run it is, or grades: the key a batch request is known by


class RowPlan(NamedTuple):
    """A row's session and what the store holds for it."""

    position: int  # the row's index in the tasks file
    row: Row
    session: Session
    runs: Path
    key: str  # the session's key, made once (a sha256 of everything it sends)
    samples: tuple[Sample | None, ...]  # sample n at n - 1; None: not kept, to make
    imported: tuple[Sample, ...] = ()  # answers imported with --answer: graded too
    graded: dict[str, Graded] = {}  # run id -> its kept scorecard (with --grade)
    problem: str | None = None  # what stops the row (a FIFO where a run belongs)

    def request(self) -> ModelRequest:
        """What an answer need of this row sends: the same for every sample."""
        from meta_prompting.models.base import ModelRequest

        return ModelRequest(self.session.system, self.session.prompt,
                            max_tokens=self.session.settings.max_tokens)

    def sample_of(self, number: int) -> Sample:
        """Sample `number` as kept, or as it would be made."""
        found = self.samples[number - 1]
        rid = run_id(self.key, number)
        return found or Sample(number, rid, self.runs / rid, WOULD_RUN)

    def needs(self, grading: Grading | None) -> list[Need]:
        """What is missing: each answer not kept, and with --grade the scorecard of every
        answer (kept, imported or to be made) that has none."""
        if self.problem is not None:
            return []
        found: list[Need] = []
        for number, sample in enumerate(self.samples, 1):
            rid = run_id(self.key, number)
            if sample is None:
                found.append(Need(self.position, ANSWER, number, rid))
        if grading is not None:
            for sample in self.kept + tuple(self.sample_of(n) for n, s in enumerate(
                    self.samples, 1) if s is None):
                if sample.run_id not in self.graded:
                    found.append(Need(self.position, SCORECARD, sample.number, sample.run_id))
        return found

    @property
    def kept(self) -> tuple[Sample, ...]:
        return tuple(s for s in self.samples if s is not None) + self.imported


class Work(NamedTuple):
    """One piece of model work these rows lack, with the request an interactive call
    sends for it: what a batch job would be asked. `request` is None for the scorecard
    of an answer not made yet (it waits for the answer: a later wave)."""

    need: Need
    plan: RowPlan
    request: ModelRequest | None


def missing_work(plans: tuple[RowPlan, ...], grading: Grading | None = None) -> list[Work]:
    """The model work `plans` lack, once each (rows that ask the same share one).

    An answer's request is the row's session; a scorecard's is one judge's request
    (`grading.judges` of them make it). A reply made elsewhere is handed back with
    `runs.run.keep_answer(plan.runs, plan.session, need.number, reply, seconds, ...)`.
    """
    from meta_prompting.grading.grade import judge_prompt, schema
    from meta_prompting.models.base import ModelRequest
    from meta_prompting.runs.run import read_answer

    found: list[Work] = []
    seen: set[tuple[str, str]] = set()
    for plan in plans:
        kept = {s.run_id: s for s in plan.kept}
        for need in plan.needs(grading):
            if (need.kind, need.run_id) in seen:
                continue
            seen.add((need.kind, need.run_id))
            request = plan.request() if need.kind == ANSWER else None
            sample = kept.get(need.run_id)
            if need.kind == SCORECARD and sample is not None and grading is not None:
                prompt = judge_prompt(grading.rubric, plan.session.system,
                                      plan.session.prompt, read_answer(sample))
                request = ModelRequest(grading.rubric.system, prompt,
                                       json_schema=schema(grading.rubric))
            found.append(Work(need, plan, request))
    return found


def read_fillings(tasks: TaskFile, skip: tuple[Path, ...] = ()
                  ) -> tuple[tuple[Filling, ...], tuple[str, ...]]:
    """Each row's task and evidence, read and checked, and the notes of the walks (each
    once). Any row that cannot be read refuses the file, before anything is written."""
    from meta_prompting.evidence.read import collect, read_task
    from meta_prompting.toolkit.build import check_filling

    fillings: list[Filling] = []
    problems: list[str] = []
    notes: dict[str, None] = {}
    read: dict[tuple[Path, ...], tuple[Document, ...]] = {}  # rows often share evidence
    for row in tasks.rows:
        try:
            task = read_task(row.task, str(row.task_file) if row.task_file else None)
            assert task is not None  # the file gives a task or a task file
            check_filling(Filling(task))
            documents = read.get(row.evidence)
            if documents is None:
                # Named relative to the tasks file: the same prompt from any folder, and
                # the prompt a single --run from that folder sends for the same files.
                evidence = collect([str(p) for p in row.evidence], task, base=tasks.folder,
                                   skip=skip)
                check_filling(Filling("", evidence.filling.documents))  # once, not a row
                documents = read[row.evidence] = evidence.filling.documents
                notes.update(dict.fromkeys(evidence.notes))
            filling = Filling(task, documents)
        except UserError as e:
            problems.append(f"{tasks.where(row)}: {_unflagged(str(e))}")
            continue
        fillings.append(filling)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LibraryError(problems[0] + more, problems)
    return tuple(fillings), tuple(notes)


def _unflagged(message: str) -> str:
    """A reader's message about a row's file, in the tasks file's words, not the flags'."""
    for flag, field in (("--task-file ", "task_file "), ("--evidence ", "evidence "),
                        ("--evidence: ", "evidence: "), ("--task: ", "task: ")):
        if message.startswith(flag):
            return field + message[len(flag):]
    return message


def plan_rows(tasks: TaskFile, fillings: tuple[Filling, ...], toolkit: Toolkit,
              settings: Settings, out_dir: Path, samples: int,
              grading: Grading | None = None) -> tuple[RowPlan, ...]:
    """Each row's session and kept results: runs/ listed once for every row.

    With --grade every answer kept for a row is graded, as --grade does for one task:
    samples beyond `samples` and answers imported with --answer included.
    """
    from meta_prompting.runs.run import check_runs

    runs = out_dir / RUNS
    check_runs(runs)
    kept = _listing(runs)
    plans: list[RowPlan] = []
    for position, (row, filling) in enumerate(zip(tasks.rows, fillings, strict=True)):
        session = Session(*toolkit.fill(filling), settings)
        key = session.key
        numbers, imported = kept.get(key[:12], ((), ()))
        try:
            found = _samples(runs, key, numbers, samples, grading is not None)
            plan = RowPlan(position, row, session, runs, key, found)
            if grading is not None:
                plan = _with_grades(plan._replace(imported=_imported(runs, imported)),
                                    grading)
        except UserError as e:
            plan = RowPlan(position, row, session, runs, key, (None,) * samples,
                           problem=str(e))
        plans.append(plan)
    return tuple(plans)


def _listing(runs: Path) -> dict[str, tuple[tuple[int, ...], tuple[str, ...]]]:
    """Key prefix -> (sample numbers, imported run names) of the names in runs/."""
    try:
        names = os.listdir(runs)
    except OSError:
        return {}
    numbers: dict[str, list[int]] = {}
    imported: dict[str, list[str]] = {}
    for name in names:
        m = _RUN_NAME.fullmatch(name)
        if m is None:
            continue
        if m.group(2) is not None:
            if int(m.group(2)) <= MAX_SAMPLES:
                numbers.setdefault(m.group(1), []).append(int(m.group(2)))
        else:
            imported.setdefault(m.group(1), []).append(name)
    return {key: (tuple(numbers.get(key, ())), tuple(sorted(imported.get(key, ()))))
            for key in numbers.keys() | imported.keys()}


def _samples(runs: Path, key: str, numbers: tuple[int, ...], samples: int,
             every: bool) -> tuple[Sample | None, ...]:
    """Samples 1..N as kept (None: to make). `every`: N reaches the highest sample kept
    (--grade grades every answer kept, and makes the ones missing below it)."""
    found: dict[int, Sample | None] = {}
    target = samples
    if every:
        for n in sorted((n for n in numbers if n > samples), reverse=True):
            try:
                found[n] = kept_sample(runs / run_id(key, n), n)
            except UserError:
                found[n] = None  # not a complete run of ours: it decides nothing
            if found[n] is not None:
                target = n
                break
    wanted = set(numbers)
    return tuple(found[n] if n in found else
                 kept_sample(runs / run_id(key, n), n) if n in wanted else None
                 for n in range(1, target + 1))


def _imported(runs: Path, names: tuple[str, ...]) -> tuple[Sample, ...]:
    found = []
    for name in names:
        try:
            sample = kept_sample(runs / name, 0)
        except UserError:
            continue
        if sample is not None:
            found.append(sample)
    return tuple(found)


def _with_grades(plan: RowPlan, grading: Grading) -> RowPlan:
    """The plan with each kept answer's kept scorecard (read, never locked or asked)."""
    from meta_prompting.grading.scorecard import grade_sample

    graded: dict[str, Graded] = {}
    for sample in plan.kept:
        card = grade_sample(sample, plan.session, grading.rubric, grading.judges,
                            grading.judge, None, grading.timeout, grading.own,
                            look_only=True, repair=grading.repair)
        if card is not None:
            graded[sample.run_id] = card
    return plan._replace(graded=graded)


def plan_session(session: Session, runs: Path, samples: int,
                 grading: Grading | None = None) -> RowPlan:
    """One task's plan (--run, --samples, --grade), decided as a row's is: for a caller
    that hands the work elsewhere (a batch job) instead of making it."""
    from meta_prompting.runs.run import check_runs

    check_runs(runs)
    key = session.key
    numbers, imported = _listing(runs).get(key[:12], ((), ()))
    plan = RowPlan(0, Row("task", 0, None, None, ()), session, runs, key,
                   _samples(runs, key, numbers, samples, grading is not None))
    if grading is not None:
        plan = _with_grades(plan._replace(imported=_imported(runs, imported)), grading)
    return plan
