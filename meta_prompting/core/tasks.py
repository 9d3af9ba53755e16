"""The tasks mode (--tasks FILE): the goal's toolkit run over every row of a tasks file.

The same context and requests as a single run: the build is the build mode's, each
row's answers are runs like --run's, and the models come from the context (held to its
budget). The rows' work itself is tasks.runner's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from meta_prompting.core.build import BuildRequest
    from meta_prompting.core.context import Context
    from meta_prompting.tasks.runner import TasksReport
    from meta_prompting.tasks.taskfile import TaskFile


class TasksRequest(NamedTuple):
    """Make sure every row's answers (and scorecards) exist, each a fresh session."""

    build: BuildRequest  # the goal's toolkit, unfilled: each row fills it
    tasks: TaskFile  # read and checked whole
    samples: int = 1  # answers per row
    grade: bool = False  # grade every row's answers
    rubric: str | None = None  # the goal whose rubric grades; None: the goal's own
    judges: int = 1
    judge_model: str | None = None  # None: the model that answered
    refine: int = 0  # each row refined after a FAIL, at most this many attempts
    max_tokens: int | None = None
    dry_run: bool = False
    command: str = ""  # what runs it again


def run_tasks(ctx: Context, request: TasksRequest) -> TasksReport:
    from meta_prompting.core.answers import RunRequest, run_options, settings
    from meta_prompting.core.build import build_options
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.tasks.runner import TasksOptions
    from meta_prompting.tasks.runner import run_tasks as run_rows

    options = run_options(ctx, RunRequest(request.build, dry_run=request.dry_run,
                                          command=request.command))
    grading = (GradeOptions(request.rubric, request.judges, judge_model=request.judge_model)
               if request.grade else None)
    return run_rows(ctx.lib, request.build.goal, request.build.project, request.tasks,
                    build_options(ctx, request.build), options,
                    settings(ctx, request.max_tokens),
                    TasksOptions(request.samples, grading, request.refine), ctx.open_model)
