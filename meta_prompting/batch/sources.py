"""Where a command's missing work comes from: one task (--run, --samples, --grade) or a
tasks file, each decided from the store alone, as the interactive path decides it.

A `Source` builds the toolkit once and then, each time it is asked (`make_work`),
plans again from what is kept: after a job's results are kept, the next plan is the
next wave (the scorecards of answers just kept).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.batch.work import Work, plan_work

if TYPE_CHECKING:
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.library.goals import Library
    from meta_prompting.models.base import Model
    from meta_prompting.runs.run import RunOptions, Settings
    from meta_prompting.tasks.plan import Grading
    from meta_prompting.tasks.runner import Opener
    from meta_prompting.tasks.taskfile import TaskFile
    from meta_prompting.toolkit.build import BuildOptions


class Source(NamedTuple):
    out: Path  # the project's folder: its jobs are kept in out/.batches/
    make_work: Callable[[], Work] | None  # None: the toolkit is incomplete (no model work)


def tasks_source(library: Library, goal: str, project: str, tasks: TaskFile,
                 build_options: BuildOptions, run_options: RunOptions, settings: Settings,
                 samples: int, grading: GradeOptions | None, models: Opener) -> Source:
    """A tasks file's rows: what each lacks, planned as --tasks plans it."""
    from meta_prompting.tasks.runner import TasksOptions, prepare_tasks

    options = TasksOptions(samples, grading)
    prepared = prepare_tasks(library, goal, project, tasks, build_options, run_options,
                             settings, options)
    out = prepared.report.out_dir
    if prepared.report.built.toolkit is None:
        return Source(out, None)
    quiet = run_options._replace(progress=None)
    built = build_options._replace(supply=build_options.supply._replace(progress=None))
    judge = _judge(grading, models)
    first: list[Work] = [plan_work(prepared.plans, prepared.grading, run_options, judge)]

    def make_work() -> Work:
        if first:
            return first.pop()
        again = prepare_tasks(library, goal, project, tasks, built, quiet, settings, options)
        return plan_work(again.plans, again.grading, run_options, judge)

    return Source(out, make_work)


def session_source(library: Library, goal: str, project: str, build_options: BuildOptions,
                   run_options: RunOptions, settings: Settings, samples: int,
                   grading: GradeOptions | None, models: Opener) -> Source:
    """One task's samples (and with --grade their scorecards), as --run plans them."""
    from meta_prompting.runs.run import RUNS, Session
    from meta_prompting.tasks.plan import plan_session
    from meta_prompting.toolkit.build import build

    rubric = _grading(library, goal, settings, run_options, grading)
    built = build(library, goal, project, build_options._replace(dry_run=run_options.dry_run))
    if built.filled is None:
        return Source(built.out_dir, None)
    session = Session(built.filled[0], built.filled[1], settings)
    runs = built.out_dir / RUNS
    judge = _judge(grading, models)

    def make_work() -> Work:
        plan = plan_session(session, runs, samples, rubric)
        return plan_work((plan,), rubric, run_options, judge)

    return Source(built.out_dir, make_work)


def _grading(library: Library, goal: str, settings: Settings, run_options: RunOptions,
             options: GradeOptions | None) -> Grading | None:
    """--grade's rubric and judges, read before anything is sent (as --tasks reads it)."""
    if options is None:
        return None
    from meta_prompting.grading.grade import read_rubric
    from meta_prompting.grading.scorecard import rubric_goal
    from meta_prompting.tasks.plan import Grading

    rubric = read_rubric(library, rubric_goal(library, goal, options.rubric))
    return Grading(rubric, options.judges, options.judge_model or settings.model,
                   options.judge_model, rubric.goal == library.goal(goal).rubric,
                   run_options.timeout, repair=not run_options.dry_run)


def _judge(grading: GradeOptions | None, models: Opener) -> Callable[[], Model] | None:
    """Opens the interactive judge, once, for a judgment that must be asked again."""
    if grading is None:
        return None
    opened: list[Model] = []

    def judge() -> Model:
        if not opened:
            opened.append(models(grading.judge_model))
        return opened[0]

    return judge
