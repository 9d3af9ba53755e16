"""Answers: run a filled toolkit (--run), grade its answers (--grade), refine after a FAIL.

Each builds the filled toolkit first (the same build as the build mode), then makes
only what is missing, and returns its reports as data. The model is opened here, from
the context, and nowhere else in a run or a grade.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.core.build import BuildRequest, build

if TYPE_CHECKING:
    from meta_prompting.core.context import Context
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.refine import RefineReport
    from meta_prompting.grading.scorecard import GradeReport
    from meta_prompting.runs.run import RunOptions, RunReport, Settings
    from meta_prompting.toolkit.build import BuildReport


class RunRequest(NamedTuple):
    """Make sure the filled toolkit's answers exist, each a fresh session."""

    build: BuildRequest  # with a filling: a run needs a task
    samples: int = 1  # answers that must exist
    one_more: bool = False  # one more beside those kept
    fresh: tuple[int, ...] = ()  # samples made anew, the kept ones set aside
    max_tokens: int | None = None  # the longest answer the model may give
    dry_run: bool = False  # send nothing: what would be asked, and its estimate
    command: str = ""  # what runs it again, without the count of samples


class GradeRequest(NamedTuple):
    """Grade the answers kept for a task (making what is missing first)."""

    run: RunRequest
    rubric: str | None = None  # the goal whose rubric grades; None: the goal's own
    judges: int = 1  # independent judgments per answer, verdicts by majority
    judge_model: str | None = None  # None: the model that answered
    answer: str | None = None  # an answer made elsewhere (a file), graded instead of running
    every_kept: bool = True  # every answer kept for the task, not only those asked for
    refine: int = 0  # after a FAIL, refined fresh sessions until a PASS: at most this many


def run_options(ctx: Context, request: RunRequest) -> RunOptions:
    from meta_prompting.runs.run import RunOptions

    events = ctx.events
    return RunOptions(samples=request.samples, again=request.one_more, jobs=ctx.jobs,
                      timeout=ctx.timeout, dry_run=request.dry_run, command=request.command,
                      on_text=events.text, progress=events.progress,
                      on_wait=events.run_waiting, budget=ctx.budget,
                      on_notice=events.notice, fresh=request.fresh)


def settings(ctx: Context, max_tokens: int | None) -> Settings:
    """What, besides the text, decides an answer: the model (resolved here, before
    anything is built) and its limit."""
    from meta_prompting.runs.run import Settings

    return Settings(ctx.model.name, max_tokens, ctx.model.base_url)


def run(ctx: Context, request: RunRequest) -> tuple[BuildReport, RunReport | None]:
    """Build the filled toolkit, then make sure its samples exist: the one core of --run."""
    from meta_prompting.runs.run import Session, run_samples

    chosen = settings(ctx, request.max_tokens)
    built = build(ctx, request.build)
    if built.filled is None:  # incomplete: a placeholder must never reach a model
        return built, None
    session = Session(built.filled[0], built.filled[1], chosen)
    return built, run_samples(built.out_dir, session, run_options(ctx, request),
                              ctx.open_model())


def rubric_for(ctx: Context, goal: str, rubric: str | None) -> Rubric:
    """The rubric that grades `goal`'s answers (`rubric`'s, else the goal's own); a
    LibraryError saying why when there is none it can use."""
    from meta_prompting.grading.grade import read_rubric
    from meta_prompting.grading.scorecard import rubric_goal

    return read_rubric(ctx.lib, rubric_goal(ctx.lib, goal, rubric))


def grade(ctx: Context, request: GradeRequest) -> GradeReport:
    """Build, run what is missing (or import an answer made elsewhere), then grade every
    answer kept for the current inputs: the one core of --grade."""
    from meta_prompting.grading.scorecard import GradeReport, grade_sample, planned_judgments
    from meta_prompting.runs.imported import import_answer, imported_samples, read_import
    from meta_prompting.runs.run import RUNS, Session, existing_numbers, run_samples
    from meta_prompting.store.step import run_all

    goal = request.run.build.goal
    # A rubric it cannot read, or none that fits: refused before any call.
    rubric = rubric_for(ctx, goal, request.rubric)
    imported = read_import(request.answer) if request.answer is not None else None
    chosen = settings(ctx, request.run.max_tokens)
    built = build(ctx, request.run.build)
    if built.filled is None:
        return GradeReport(built, None, (), request.judges)
    session = Session(built.filled[0], built.filled[1], chosen)
    options = run_options(ctx, request.run)
    if request.answer is not None:
        ran = import_answer(built.out_dir, session, request.answer, options.command, imported)
    else:
        if request.every_kept:
            have = existing_numbers(built.out_dir / RUNS, session.key)
            options = options._replace(samples=max(options.samples, *have, 1))
        ran = run_samples(built.out_dir, session, options, ctx.open_model())
        if request.every_kept:
            ran = ran._replace(samples=ran.samples + imported_samples(built.out_dir / RUNS,
                                                                      session.key))
    own = rubric.goal == ctx.lib.goal(goal).rubric
    judge_name = request.judge_model or chosen.model
    if options.dry_run:
        from meta_prompting.models.budget import estimate_plan
        from meta_prompting.runs.run import planned_answers

        plan = planned_answers(session, ran.samples) + [
            call for s in ran.samples for call in planned_judgments(
                s, session, rubric, request.judges, judge_name, own)]
        return GradeReport(built, ran, (), request.judges, estimate_plan(chosen.model, plan))
    judge_model = ctx.open_model(request.judge_model)
    say = ctx.events.progress
    if say:  # what the tool can check itself is said before a judge is paid
        from meta_prompting.grading.structure import lacks_line, missing_headings
        from meta_prompting.runs.run import read_answer

        for s in ran.samples:
            if s.ok and (missing := missing_headings(session.prompt, read_answer(s))):
                who = "imported answer" if s.number == 0 else f"sample {s.number}"
                say(f"  {who} {lacks_line(missing)}")
    tasks = [partial(grade_sample, s, session, rubric, request.judges, judge_name, judge_model,
                     ctx.timeout, own) for s in ran.samples if s.ok]
    return GradeReport(built, ran, tuple(run_all(ctx.jobs, tasks)), request.judges)


def refine(ctx: Context, request: GradeRequest) -> tuple[BuildReport, RefineReport | None]:
    """Build, then attempt and grade until a pass: the one core of --grade --refine N.
    Each next attempt's refinements go through `ctx.events.revise` when a person
    revises them (the wizard)."""
    from meta_prompting.grading.refine import refine as refine_loop
    from meta_prompting.runs.run import Session

    goal = request.run.build.goal
    # A rubric it cannot read, or none that fits: refused before any call.
    rubric = rubric_for(ctx, goal, request.rubric)
    chosen = settings(ctx, request.run.max_tokens)
    built = build(ctx, request.run.build)
    if built.filled is None:  # incomplete: a placeholder must never reach a model
        return built, None
    session = Session(built.filled[0], built.filled[1], chosen)
    own = rubric.goal == ctx.lib.goal(goal).rubric
    judge = (request.judge_model or chosen.model, ctx.open_model(request.judge_model))
    return built, refine_loop(built.out_dir, session, rubric, request.judges,
                              ctx.open_model(), run_options(ctx, request.run), request.refine,
                              own, ctx.events.revise, judge=judge)
