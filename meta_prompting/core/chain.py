"""A chain (--chain FILE): each stage a filled toolkit run in a fresh session, in graph
order, making only what is missing; the face loads and checks the chain file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.core.build import BuildRequest

if TYPE_CHECKING:
    from meta_prompting.chains.chain import ChainReport
    from meta_prompting.chains.chainfile import Chain
    from meta_prompting.core.context import Context


class ChainRequest(NamedTuple):
    """Run a chain's stages into output/<project>/<stage>/, making what is missing."""

    chain: Chain
    project: str
    rubric: str | None = None
    judges: int = 1
    judge_model: str | None = None
    fresh_stages: frozenset[str] = frozenset()  # stages asked again in fresh sessions
    max_tokens: int | None = None
    dry_run: bool = False
    force: bool = False
    describe: Mapping[str, str] = {}
    regenerate: frozenset[str] = frozenset()
    command: str = ""  # what runs the chain again


def chain(ctx: Context, request: ChainRequest) -> ChainReport:
    """Run every stage whose inputs are ready, at most ctx.jobs at once; keep what exists."""
    from meta_prompting.chains.chain import run_chain
    from meta_prompting.core.answers import settings
    from meta_prompting.core.build import build_options
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.runs.run import RunOptions

    events = ctx.events
    # Each stage's build fills in its own goal, filling and stage.
    options = build_options(ctx, BuildRequest(
        "", request.project, force=request.force, dry_run=request.dry_run,
        describe=request.describe, regenerate=request.regenerate))
    run_options = RunOptions(jobs=ctx.jobs, timeout=ctx.timeout, dry_run=request.dry_run,
                             command=request.command, progress=events.progress,
                             on_wait=events.run_waiting, on_notice=events.notice,
                             fresh_stages=request.fresh_stages, budget=ctx.budget,
                             on_stage=events.stage)
    grading = GradeOptions(request.rubric, request.judges, judge_model=request.judge_model)
    chosen = settings(ctx, request.max_tokens)
    return run_chain(ctx.lib, request.chain, request.project, options, run_options, chosen,
                     grading, ctx.open_model(), ctx.open_model(request.judge_model))
