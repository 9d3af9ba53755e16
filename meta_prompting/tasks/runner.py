"""Running a tasks file: each row the goal's toolkit filled with its task, in a fresh session.

The one core of --tasks. Everything is checked before anything is written: the
rubric, the file, every row's task and evidence. Then the toolkit is built once,
`plan.plan_rows` decides on the main thread what each row lacks, and the missing
answers and scorecards are made on one pool of at most --jobs workers across every
row (a row's scorecard is handed in as soon as its answer is kept). Each answer is a
run like --run's, in the same runs/, made once under its own lock: a row whose task
and evidence are a single --run's is that run. A failure keeps what was made; the
same command makes exactly what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.errors import UserError
from meta_prompting.store import record as records
from meta_prompting.store.record import ANSWER, SCORECARD
from meta_prompting.tasks.plan import WOULD_RUN, Grading, Need, RowPlan
from meta_prompting.tasks.taskfile import Row, TaskFile

if TYPE_CHECKING:
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.refine import RefineReport
    from meta_prompting.grading.scorecard import Graded, GradeOptions
    from meta_prompting.library.goals import Library
    from meta_prompting.models.base import Model
    from meta_prompting.models.budget import Planned
    from meta_prompting.runs.run import RunOptions, Sample, Settings
    from meta_prompting.toolkit.build import BuildOptions, BuildReport

# The core's model opener: the answering model (None) or a judge's, held to the budget.
Opener = Callable[[str | None], "Model"]

# A row's status: what this command did for it.
CACHED, RAN, FAILED, NOT_RUN = "cached", "ran", "failed", "not run"


class RowResult(NamedTuple):
    row: Row
    status: str  # CACHED, RAN, FAILED, WOULD_RUN or NOT_RUN (the toolkit is incomplete)
    samples: tuple[Sample, ...] = ()  # its answers, in sample order (imported last)
    graded: tuple[Graded, ...] = ()  # their scorecards, with --grade
    reason: str | None = None
    planned: tuple[Planned, ...] = ()  # a dry run: the calls it would make
    refined: RefineReport | None = None  # with --refine: its attempts

    @property
    def ok(self) -> bool:
        return self.status in (CACHED, RAN)

    # Decided once (`decided`): a thousand rows are counted, shown and written from them.
    verdicts: tuple[bool, ...] = ()  # each graded answer's verdict, in `cards` order
    passed: bool | None = None  # with --grade: every answer graded for it passes

    @property
    def cards(self) -> list[Graded]:
        return [g for g in self.graded if g.scorecard is not None]


def decided(result: RowResult) -> RowResult:
    """`result` with its verdicts: a refined row's is its result attempt's."""
    verdicts = tuple(bool(g.scorecard and g.scorecard.passed) for g in result.cards)
    if result.refined is not None:
        best = result.refined.result
        return result._replace(verdicts=verdicts,
                               passed=None if best is None else best.passed)
    return result._replace(verdicts=verdicts, passed=all(verdicts) if verdicts and result.ok
                           else None)


class TasksReport(NamedTuple):
    tasks: TaskFile
    built: BuildReport
    rows: tuple[RowResult, ...]  # in the file's order
    command: str  # the command that finishes the job
    graded: bool = False
    dry_run: bool = False
    model: str = ""
    notes: tuple[str, ...] = ()  # what the evidence walks left out, each once

    @property
    def out_dir(self) -> Path:
        return self.built.out_dir

    @property
    def outcome(self) -> str:
        """DONE, INCOMPLETE (a row not made) or FAILS (a graded row failed): the face
        maps it to an exit code."""
        if self.dry_run:
            return records.DONE
        if any(not r.ok for r in self.rows):
            return records.INCOMPLETE
        if any(r.passed is False for r in self.rows):
            return records.FAILS
        return records.DONE

    @property
    def estimate(self) -> dict[str, Any]:
        from meta_prompting.models.budget import estimate_plan

        worst = any(r.refined is not None and r.planned for r in self.rows)
        return {**estimate_plan(self.model, [c for r in self.rows for c in r.planned]),
                **({"worst_case": True} if worst else {})}

    @property
    def start_estimate(self) -> dict[str, Any]:
        """What --budget must hold for the rows to start: a refined row's next attempt,
        not its worst case (each loop stops at the budget on its own)."""
        from meta_prompting.models.budget import estimate_plan

        return estimate_plan(self.model, [c for r in self.rows for c in (
            r.planned if r.refined is None else r.refined.next_calls)])

    def counts(self) -> dict[str, int]:
        """Rows by status, and with --grade by verdict."""
        counts: dict[str, int] = {"rows": len(self.rows)}
        for r in self.rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        if self.graded:
            counts["passed"] = sum(r.passed is True for r in self.rows)
            counts["failed_grade"] = sum(r.passed is False for r in self.rows)
        return counts


class TasksOptions(NamedTuple):
    samples: int = 1
    grading: GradeOptions | None = None  # --grade (and its --judges, --grade-with...)
    refine: int = 0  # --refine N: each row's attempts refined from a failing scorecard


class Prepared(NamedTuple):
    """A tasks file checked, its toolkit built and each row's plan decided: what a
    run (or a batch job) starts from. `plans` is empty when the toolkit is incomplete."""

    report: TasksReport  # with no rows yet
    plans: tuple[RowPlan, ...]
    grading: Grading | None


def prepare_tasks(library: Library, goal: str, project: str, tasks: TaskFile,
                  build_options: BuildOptions, run_options: RunOptions, settings: Settings,
                  options: TasksOptions) -> Prepared:
    """Check everything, build the toolkit once and decide what each row lacks, on this
    thread, from the store alone: nothing is sent. `plan.missing_work(prepared.plans,
    prepared.grading)` lists that work with its requests."""
    from meta_prompting.tasks.plan import plan_rows, read_fillings
    from meta_prompting.tasks.results import check_results
    from meta_prompting.toolkit.assemble import project_dir
    from meta_prompting.toolkit.build import build

    grading = _grading(library, goal, settings, run_options, options.grading)
    fillings, notes = read_fillings(tasks, skip=(library.output,))
    if run_options.progress is not None:
        for note in notes:  # what the walks left out, each said once
            run_options.progress(f"  {note}")
    if not run_options.dry_run:
        check_results(project_dir(library, project))  # a link or a FIFO: before any call
    built = build(library, goal, project, build_options._replace(
        filling=None, dry_run=run_options.dry_run))
    report = TasksReport(tasks, built, (), run_options.command, grading is not None,
                         run_options.dry_run, settings.model, notes)
    if built.toolkit is None:  # incomplete: a placeholder must never reach a model
        return Prepared(report._replace(rows=tuple(RowResult(
            r, NOT_RUN, reason="the toolkit is incomplete") for r in tasks.rows),
            command=built.command), (), grading)
    return Prepared(report, plan_rows(tasks, fillings, built.toolkit, settings,
                                      built.out_dir, options.samples, grading), grading)


def run_tasks(library: Library, goal: str, project: str, tasks: TaskFile,
              build_options: BuildOptions, run_options: RunOptions, settings: Settings,
              options: TasksOptions, models: Opener) -> TasksReport:
    """Make sure every row's answers (and scorecards) exist; make only what is missing."""
    from meta_prompting.runs.run import larger_limit
    from meta_prompting.tasks.results import write_results

    report, plans, grading = prepare_tasks(library, goal, project, tasks, build_options,
                                           run_options, settings, options)
    if report.built.toolkit is None:
        return report
    if options.refine:
        from meta_prompting.tasks.refined import refine_rows

        assert grading is not None  # --refine implies --grade
        rows = refine_rows(plans, grading, run_options, settings, options.refine, models)
    elif run_options.dry_run:
        rows = tuple(_dry_row(p, grading) for p in plans)
    else:
        rows = make_rows(plans, grading, run_options, settings, models)
    rows = tuple(decided(r) for r in rows)
    report = report._replace(rows=rows, command=larger_limit(run_options.command, [
        s.reason for r in rows for s in r.samples if s.reason]))
    if not run_options.dry_run:
        write_results(report)
    return report


def _grading(library: Library, goal: str, settings: Settings, run_options: RunOptions,
             options: GradeOptions | None) -> Grading | None:
    """The rubric every row is graded with, read before any call (or None)."""
    if options is None:
        return None
    from meta_prompting.grading.grade import read_rubric
    from meta_prompting.grading.scorecard import rubric_goal

    rubric: Rubric = read_rubric(library, rubric_goal(library, goal, options.rubric))
    own = rubric.goal == library.goal(goal).rubric
    return Grading(rubric, options.judges, options.judge_model or settings.model,
                   options.judge_model, own, run_options.timeout,
                   repair=not run_options.dry_run)


def _dry_row(plan: RowPlan, grading: Grading | None) -> RowResult:
    """What a row would make, and its estimate: nothing locked, written or sent."""
    from meta_prompting.grading.scorecard import planned_judgments
    from meta_prompting.runs.run import planned_answers

    if plan.problem is not None:
        return RowResult(plan.row, FAILED, reason=plan.problem)
    samples = tuple(plan.sample_of(n) for n in range(1, len(plan.samples) + 1))
    samples += plan.imported
    planned = planned_answers(plan.session, samples)
    if grading is not None:
        planned += [call for s in samples if s.run_id not in plan.graded
                    for call in planned_judgments(s, plan.session, grading.rubric,
                                                  grading.judges, grading.judge, grading.own)]
    return RowResult(plan.row, WOULD_RUN if planned else CACHED, samples,
                     tuple(plan.graded[s.run_id] for s in samples if s.run_id in plan.graded),
                     planned=tuple(planned))


def make_rows(plans: tuple[RowPlan, ...], grading: Grading | None, run_options: RunOptions,
              settings: Settings, models: Opener) -> tuple[RowResult, ...]:
    """Make every row's needs on one pool of at most --jobs workers; kept rows cost a look."""
    needs = [n for p in plans for n in p.needs(grading)]
    if not needs:
        return tuple(_row_result(p, {}, {}) for p in plans)
    model = models(None)
    judge_model = models(grading.judge_given) if grading is not None else None
    say = run_options.progress
    if say:  # rows that ask the same are one run: counted once
        answers = len({n.run_id for n in needs if n.kind == ANSWER})
        grades = len({n.run_id for n in needs if n.kind == SCORECARD})
        rows = len({n.row for n in needs})
        say(f"Running {answers} answer(s)" + (f" and {grades} grade(s)" if grades else "")
            + f" for {rows} row(s) with {settings.model} (each a fresh session)...")
    made: dict[tuple[int, int], Sample] = {}
    cards: dict[tuple[int, str], Graded] = {}
    quiet = run_options._replace(progress=None, on_text=None, lineage=None)
    from meta_prompting.store.step import Workers

    workers: Workers[Need, Any] = Workers(run_options.jobs)

    def hand_in(need: Need, sample: Sample | None = None) -> None:
        plan = plans[need.row]
        if need.kind == ANSWER:
            from meta_prompting.runs.run import ensure_sample

            workers.submit(need, partial(ensure_sample, plan.runs, plan.session, need.number,
                                         quiet, model, None))
        elif sample is not None and grading is not None:
            from meta_prompting.grading.scorecard import grade_sample

            workers.submit(need, partial(grade_sample, sample, plan.session, grading.rubric,
                                         grading.judges, grading.judge, judge_model,
                                         grading.timeout, grading.own))

    kept = {s.run_id: s for p in plans for s in p.kept}
    # Rows with the same task and evidence are one run: it is made once, for all of them.
    alike: dict[tuple[str, str], list[Need]] = {}
    for need in needs:
        alike.setdefault((need.kind, need.run_id), []).append(need)
    for (kind, rid), same in alike.items():  # a new answer's scorecard waits for it
        if kind == ANSWER or rid in kept:
            hand_in(same[0], kept.get(rid))
    errors: list[BaseException] = []
    try:
        while workers.busy:
            need, value, error = workers.next_done()
            plan = plans[need.row]
            if isinstance(error, UserError):  # in the way since it was looked at
                from meta_prompting.runs.run import FAILED as NOT_MADE

                value, error = _failed(plan, need, str(error), NOT_MADE), None
            if error is not None:
                if not errors:
                    workers.close()  # what has not started never will; what has, finishes
                errors.append(error)
                continue
            assert value is not None
            for each in alike.get((need.kind, need.run_id), [need]):
                if need.kind == ANSWER:
                    made[(each.row, each.number)] = value
                else:
                    cards[(each.row, each.run_id)] = value
            if need.kind == ANSWER and value.ok and grading is not None:
                hand_in(Need(need.row, SCORECARD, need.number, value.run_id), value)
            if say:
                say(_progress_line(plan.row, need, value))
    finally:
        workers.close()
    if errors:
        raise errors[0]
    return tuple(_row_result(p, made, cards) for p in plans)


def _failed(plan: RowPlan, need: Need, reason: str, word: str) -> Any:
    from meta_prompting.grading.scorecard import NOT_GRADED, Graded

    sample = plan.sample_of(need.number) if need.number else next(
        s for s in plan.imported if s.run_id == need.run_id)
    if need.kind == ANSWER:
        return sample._replace(status=word, reason=reason)
    return Graded(sample, NOT_GRADED, reason=reason)


def _progress_line(row: Row, need: Need, value: Any) -> str:
    """"  ran a1 (sample 1, 3.2s)", "  graded a1: PASS", "  failed a1: why"."""
    sample = f"sample {need.number}" if need.number else "imported answer"
    if need.kind == ANSWER:
        if not value.ok:
            return f"  failed {row.id} ({sample}): {value.reason}"
        seconds = value.record.get("seconds")
        took = f", {seconds:.1f}s" if isinstance(seconds, (int, float)) else ""
        return f"  {value.status} {row.id} ({sample}{took})"
    if value.scorecard is None:
        return f"  not graded {row.id} ({sample}): {value.reason}"
    verdict = "PASS" if value.scorecard.passed else "FAIL"
    return f"  {value.status} {row.id} ({sample}): {verdict}"


def _row_result(plan: RowPlan, made: dict[tuple[int, int], Sample],
                cards: dict[tuple[int, str], Graded]) -> RowResult:
    """A row's answers and scorecards, kept or made now, and so its status."""
    if plan.problem is not None:
        return RowResult(plan.row, FAILED, reason=plan.problem)
    samples = tuple(made.get((plan.position, n)) or plan.sample_of(n)
                    for n in range(1, len(plan.samples) + 1)) + plan.imported
    graded = tuple(g for s in samples if s.ok
                   and (g := cards.get((plan.position, s.run_id)) or plan.graded.get(s.run_id))
                   is not None)
    failed = [s for s in samples if not s.ok]
    if failed:
        return RowResult(plan.row, FAILED, samples, graded, failed[0].reason)
    from meta_prompting.grading.scorecard import GRADED, NOT_GRADED

    ungraded = [g for g in graded if g.status == NOT_GRADED]
    if ungraded:
        return RowResult(plan.row, FAILED, samples, graded,
                         f"its grade could not be made: {ungraded[0].reason}")
    fresh = any(s.status == "ran" for s in samples) or any(g.status == GRADED for g in graded)
    return RowResult(plan.row, RAN if fresh else CACHED, samples, graded)
