"""Running a chain: each stage a filled toolkit, run in a fresh session, in graph order.

A stage's answer is a run keyed by everything its session was sent, the answers of
the stages it comes after included. So running the chain again runs exactly what is
missing or whose inputs changed, make-like: a failed stage and its dependants, or the
stages downstream of an edited evidence file or a hand-edited answer. Nothing kept
is ever asked for again; an answer a person edited is handed on as it now stands.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.chains.chainfile import CHAIN_FILE, Chain, Stage
from meta_prompting.errors import EXIT_INCOMPLETE, EXIT_OK, UserError
from meta_prompting.models.base import ModelRequest, Notice, Reply, TextSink
from meta_prompting.store.files import (
    os_reason,
    read_regular,
    remove_stale_temporaries,
    write_atomic,
)
from meta_prompting.toolkit.prompt import Filling

if TYPE_CHECKING:
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.scorecard import Graded, GradeOptions
    from meta_prompting.library.goals import Library
    from meta_prompting.models.base import Model
    from meta_prompting.models.budget import Planned
    from meta_prompting.runs.run import RunOptions, Sample, Settings
    from meta_prompting.toolkit.build import BuildOptions

CACHED, RAN, FAILED, BLOCKED, FAILED_GRADE = "cached", "ran", "failed", "blocked", "failed grade"
WOULD_RUN = "would run"


class StageResult(NamedTuple):
    stage: Stage
    status: str  # CACHED, RAN, FAILED, BLOCKED, FAILED_GRADE or WOULD_RUN
    reason: str | None = None
    sample: Sample | None = None  # the answer handed on (the first passing, if graded)
    graded: Graded | None = None
    out_dir: Path | None = None
    sessions: int = 0  # fresh sessions kept for it (attempts made)
    missing_section: bool = False  # blocked: an answer it needs lacks the section asked for
    planned: tuple[Planned, ...] = ()  # a dry run: the calls it would make
    attempts: tuple[Any, ...] = ()  # a refined stage's attempts (grading.refine.Attempt)

    @property
    def ok(self) -> bool:
        return self.status in (CACHED, RAN)

    def to_dict(self) -> dict[str, Any]:
        record = self.sample.record if self.sample else {}
        card = self.graded.scorecard if self.graded else None
        return {"stage": self.stage.name, "goal": self.stage.goal, "status": self.status,
                "reason": self.reason, "edited": bool(self.sample and self.sample.edited),
                "answer": str(self.sample.answer_path) if self.sample else None,
                "scorecard": str(self.graded.path) if self.graded and self.graded.path
                else None, "grade": None if card is None else card.passed,
                "verdict_edited": bool(self.graded and self.graded.edited),
                "tokens": record.get("tokens"), "seconds": record.get("seconds"),
                "cost": record.get("cost"),
                "sessions": self.sessions}


class ChainReport(NamedTuple):
    chain: Chain
    out_dir: Path
    results: tuple[StageResult, ...]  # in the chain's order
    command: str
    dry_run: bool = False
    model: str | None = None  # --model as given: a dry run says why it has none
    base_url: str | None = None

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            return EXIT_OK
        # A stage blocked behind a failed one needs no word of its own: the cause does.
        if any(r.status == FAILED or r.missing_section for r in self.results):
            return EXIT_INCOMPLETE
        if any(r.status == FAILED_GRADE for r in self.results):
            from meta_prompting.grading.scorecard import EXIT_FAILS_SCORECARD

            return EXIT_FAILS_SCORECARD
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"chain": str(self.chain.path), "out_dir": str(self.out_dir),
                "dry_run": self.dry_run, "command": self.command,
                "stages": [r.to_dict() for r in self.results],
                **({"estimate": self.estimate} if self.dry_run else {})}

    @property
    def estimate(self) -> dict[str, Any]:
        from meta_prompting.models.budget import estimate_plan

        return estimate_plan(self.model or "", [c for r in self.results for c in r.planned])


def run_chain(library: Library, chain: Chain, project: str, build_options: BuildOptions,
              run_options: RunOptions, settings: Settings, grading: GradeOptions
              ) -> ChainReport:
    """Run every stage whose inputs are ready, at most --jobs at once; keep what exists."""
    from meta_prompting.grading.grade import read_rubric
    from meta_prompting.models import open_model
    from meta_prompting.toolkit.assemble import project_dir

    out = project_dir(library, project)
    check_fillings(chain)
    if not run_options.dry_run:
        check_index(out / CHAIN_FILE)  # before any stage: a bad one is not a late surprise
    from meta_prompting.grading.scorecard import open_judge, rubric_goal

    # Each graded stage is held to its own goal's rubric (or --grade-with's), every one
    # read before any call so that a rubric it cannot use stops nothing half-way.
    rubrics = {s.name: read_rubric(library, rubric_goal(library, s.goal, grading.rubric))
               for s in chain.stages if s.grade}
    from meta_prompting.models.budget import budgeted

    model = budgeted(open_model(settings.model, timeout=run_options.timeout,
                                on_notice=run_options.on_notice, base_url=settings.base_url),
                     run_options.budget)
    judge_model = budgeted(open_judge(settings, grading, run_options), run_options.budget)
    refuse = Refusing(model.name, model.provider)
    results: dict[str, StageResult] = {}

    def one(stage: Stage, probe: bool) -> StageResult:
        upstream = {a.stage: results[a.stage] for a in stage.after}
        result = run_stage(library, stage, project, chain.folder, upstream, build_options,
                           run_options, settings, grading, rubrics.get(stage.name),
                           refuse if probe else model, refuse if probe else judge_model)
        if not run_options.dry_run and (result.ok or result.status == FAILED_GRADE):
            from meta_prompting.chains.state import keep_stage

            keep_stage(result)  # the stage's own record, rewritten only when it changes
        if run_options.progress and result.status in (RAN, FAILED, FAILED_GRADE):
            why = f": {result.reason}" if result.reason else ""
            run_options.progress(f"  {result.status} {stage.name}{why}")
        return result

    schedule(chain, one, results, run_options.jobs)
    report = ChainReport(chain, out, tuple(results[s.name] for s in chain.stages),
                         run_options.command, run_options.dry_run, settings.model,
                         settings.base_url)
    if not run_options.dry_run:
        write_index(report)
    return report


def check_fillings(chain: Chain) -> None:
    """Refuse the chain before any stage runs when a task or evidence it names holds the
    API key: the chain file is the person's, like --task and --evidence.

    Any other fault of a stage's filling is that stage's own, reported when it runs.
    """
    from meta_prompting.evidence.read import collect, read_task
    from meta_prompting.toolkit.build import check_filling

    for stage in chain.stages:
        try:
            task = read_task(stage.task, str(stage.task_file) if stage.task_file else None)
            documents = collect([str(p) for p in stage.evidence], task or "",
                                base=chain.folder).filling.documents
        except UserError:
            continue
        check_filling(Filling(task or "", documents), stage.name)


def run_stage(library: Library, stage: Stage, project: str, base: Path,
              upstream: dict[str, StageResult], build_options: BuildOptions,
              run_options: RunOptions, settings: Settings, grading: GradeOptions,
              rubric: Rubric | None, model: Model, judge_model: Model) -> StageResult:
    """One stage: its toolkit filled (upstream answers as evidence), then its sessions."""
    from meta_prompting.chains.stage import stage_session
    from meta_prompting.grading.scorecard import grade_sample
    from meta_prompting.runs.run import run_samples

    found = stage_session(library, stage, project, base, upstream, build_options,
                          run_options, settings)
    if isinstance(found, StageResult):
        return found
    built, session, later = found
    if stage.refine:
        from meta_prompting.chains.refined import run_refined

        assert rubric is not None  # refine needs grade: its rubric was read before any call
        return run_refined(library, stage, built.out_dir, session, run_options, grading,
                           rubric, model, judge_model)
    if stage.name in run_options.fresh_stages:
        from meta_prompting.runs.fresh import fresh_stage

        run_options = fresh_stage(built.out_dir, session, stage, run_options)
    graded = None
    from meta_prompting.grading.refine import Attempt

    tried: list[Attempt] = []  # every graded session, linked in CHAIN.md with its answer
    for attempt in range(1, stage.attempts + 1):
        ran = run_samples(built.out_dir, session, run_options._replace(
            samples=attempt, again=False, on_text=None, progress=None), model)
        sample = ran.samples[-1]
        if run_options.dry_run:
            from meta_prompting.grading.scorecard import planned_judgments
            from meta_prompting.runs.run import planned_answers

            status = CACHED if sample.ok and sample.status != WOULD_RUN else WOULD_RUN
            planned = planned_answers(session, (sample,))
            if stage.grade:
                assert rubric is not None  # read, before any call, for every graded stage
                planned += planned_judgments(sample, session, rubric, grading.judges,
                                             grading.judge_model or settings.model,
                                             rubric.goal == library.goal(stage.goal).rubric)
            return StageResult(stage, status, later,
                               sample=sample if status == CACHED else None,
                               out_dir=built.out_dir, planned=tuple(planned))
        if not sample.ok:
            return StageResult(stage, FAILED, sample.reason, out_dir=built.out_dir,
                               sessions=attempt - 1)
        fresh = sample.status == "ran"
        if not stage.grade:
            return StageResult(stage, RAN if fresh else CACHED, sample=sample,
                               out_dir=built.out_dir, sessions=attempt)
        assert rubric is not None  # read, before any call, for every graded stage
        graded = grade_sample(sample, session, rubric, grading.judges,
                              grading.judge_model or settings.model, judge_model,
                              run_options.timeout,
                              rubric.goal == library.goal(stage.goal).rubric)
        if graded.scorecard is None:
            return StageResult(stage, FAILED, f"its grade could not be made: {graded.reason}",
                               sample=None, graded=graded, out_dir=built.out_dir,
                               sessions=attempt)
        tried.append(Attempt(attempt, sample, graded))
        fresh = fresh or graded.status == "graded"  # a judge was paid: never "cached"
        if graded.scorecard.passed:
            # A grade made now is work done now: never "cached" after a call.
            from meta_prompting.grading.scorecard import CACHED as KEPT_CARD
            from meta_prompting.grading.scorecard import EDITED

            made = fresh or graded.status not in (KEPT_CARD, EDITED)
            return StageResult(stage, RAN if made else CACHED, sample=sample, graded=graded,
                               out_dir=built.out_dir, sessions=attempt,
                               attempts=tuple(tried) if attempt > 1 else ())
    return StageResult(stage, FAILED_GRADE, f"no answer passed the scorecard in "
                       f"{stage.attempts} fresh session(s)", graded=graded,
                       out_dir=built.out_dir, sessions=stage.attempts, attempts=tuple(tried))


class NeedsModel(Exception):
    """Raised by the model call of a stage looked at on the main thread: hand it to a
    worker. Nothing is written before a model call, so the worker starts clean."""


class Refusing:
    """The `Model` of a stage looked at on the main thread: any call is NeedsModel."""

    def __init__(self, name: str, provider: str) -> None:
        self.name, self.provider = name, provider

    def complete(self, request: ModelRequest, *, on_text: TextSink | None = None,
                 on_notice: Notice | None = None) -> Reply:
        raise NeedsModel


def schedule(chain: Chain, one: Any, results: dict[str, StageResult], jobs: int) -> None:
    """Run each stage once all it comes after are done; stages that call the model run
    side by side, at most `jobs` at once.

    Each ready stage is first looked at on the main thread with a model call that
    refuses (NeedsModel): a stage whose answer is kept finishes right there. Eight
    threads taking turns at the interpreter lock over 50 kept stages cost more than
    the stages themselves. Only a stage that needs the model goes to a worker: daemon
    threads, waited on in short waits so that Ctrl+C leaves at once (whatever a stage
    was writing is atomic).
    """
    waiting = {s.name: {a.stage for a in s.after} for s in chain.stages}
    by_name = {s.name: s for s in chain.stages}
    ready = [s.name for s in chain.stages if not waiting[s.name]]
    todo: queue.Queue[str | None] = queue.Queue()
    done: queue.Queue[tuple[str, StageResult, BaseException | None]] = queue.Queue()
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []
    running = 0

    def attempt(name: str, probe: bool) -> tuple[StageResult, BaseException | None]:
        try:
            return one(by_name[name], probe), None
        except NeedsModel:
            raise
        except UserError as e:  # bad evidence, an unwritable folder: this stage's
            return StageResult(by_name[name], FAILED, str(e)), None
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            return StageResult(by_name[name], FAILED, repr(e)), e

    def worker() -> None:
        while (name := todo.get()) is not None:
            done.put((name, *attempt(name, probe=False)))

    def finish(name: str, result: StageResult, error: BaseException | None) -> None:
        results[name] = result
        if error is not None:
            errors.append(error)
        for child in chain.children(name):
            waiting[child].discard(name)
            if not waiting[child]:
                ready.append(child)

    while len(results) < len(chain.stages):
        while ready:
            name = ready.pop(0)
            try:
                finish(name, *attempt(name, probe=True))
            except NeedsModel:
                if len(threads) < max(1, jobs) and len(threads) <= running:
                    threads.append(threading.Thread(target=worker, daemon=True))
                    threads[-1].start()
                todo.put(name)
                running += 1
        if len(results) < len(chain.stages):
            while True:
                try:
                    item = done.get(timeout=0.1)  # short waits: Ctrl+C stays responsive
                    break
                except queue.Empty:
                    continue
            running -= 1
            finish(*item)
    for _ in threads:
        todo.put(None)
    if errors:
        raise errors[0]


def write_index(report: ChainReport) -> None:
    """output/<project>/CHAIN.md: each stage's answer and scorecard, in order."""
    lines = [f"# Chain: {report.chain.description or report.chain.path.name}", "",
             f"From `{report.chain.path}`. Re-run: `{report.command}`", "",
             "| # | Stage | Goal | Status | Answer | Scorecard |",
             "| --- | --- | --- | --- | --- | --- |"]
    for i, r in enumerate(report.results, 1):
        answer = scorecard = ""
        if r.sample is not None:
            answer = f"[answer]({_relative(r.sample.answer_path, report.out_dir)})"
            if r.sample.edited:
                answer += " (edited by hand)"
        if r.graded is not None and r.graded.path is not None and r.graded.scorecard:
            verdict = "PASS" if r.graded.scorecard.passed else "FAIL"
            card = _relative(r.graded.path.with_suffix(".md"), report.out_dir)
            scorecard = f"[{verdict}]({card})"
            if r.graded.edited:
                from meta_prompting.grading.scorecard import EDITED_WORDS

                scorecard += f" ({EDITED_WORDS})"
        status = r.status + (f": {r.reason}" if r.reason else "")
        lines.append(f"| {i} | {r.stage.name} | {r.stage.goal} | {status.replace('|', '/')} "
                     f"| {answer} | {scorecard} |")
    if any(r.attempts for r in report.results):
        from meta_prompting.chains.refined import attempt_lines

        lines += attempt_lines(report)
    from meta_prompting.models.keys import scrub_secrets  # a reason or command may quote it

    data = (scrub_secrets("\n".join(lines)) + "\n").encode("utf-8")
    path = report.out_dir / CHAIN_FILE
    # A run killed mid-write left its temporary file, and nothing else ever clears it;
    # only a dead process's are removed, as another chain may be writing the index now.
    remove_stale_temporaries(report.out_dir, CHAIN_FILE)
    try:
        if read_regular(path, len(data), follow_links=False) == data:
            return
    except OSError:
        pass  # none yet, or not ours to keep (check_index refused the rest): replaced
    try:
        report.out_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as e:
        raise UserError(f"{path}: cannot write the chain's index: {os_reason(e)} (every "
                        "stage's answer is kept; run the same command again once fixed)"
                        ) from e


def check_index(path: Path) -> None:
    """Refuse a CHAIN.md that is not a regular file: it is this tool's, written whole."""
    from meta_prompting.store.files import check_own

    check_own(path, folder=False, keeps="the chain's index")


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
