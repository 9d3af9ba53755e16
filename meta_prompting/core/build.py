"""The build mode: a toolkit for a goal in output/<project>/, its missing parts made.

The mode every other one starts from (a run builds the filled toolkit first). What a
build needs is imported when it runs: --help loads none of it, a rebuild of a complete
toolkit no more than it uses. Nothing here prints, spells a flag, or decides an exit code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from meta_prompting.core.context import Context
    from meta_prompting.parts.options import SupplyOptions
    from meta_prompting.toolkit.build import BuildOptions, BuildReport
    from meta_prompting.toolkit.prompt import Filling


class BuildRequest(NamedTuple):
    """Build output/<project>/ for a goal, making its missing parts."""

    goal: str
    project: str
    filling: Filling | None = None  # a task and its evidence: also write 02_PROMPT.md
    again: str = ""  # what fills (and runs) it, said again in "run this again" hints
    force: bool = False  # overwrite a person's edits of the toolkit
    switch_goal: bool = False  # a person confirmed switching the project's goal
    dry_run: bool = False  # say what would be done; write nothing
    describe: Mapping[str, str] = {}  # what a missing part is for (part key or file name)
    regenerate: frozenset[str] = frozenset()  # parts made again though present


def supply_options(ctx: Context, describe: Mapping[str, str]) -> SupplyOptions:
    """How this command makes missing parts: the context's model, limits and events."""
    from meta_prompting.parts.options import SupplyOptions

    events = ctx.events
    return SupplyOptions(ctx.model, generate=ctx.generate, jobs=ctx.jobs, timeout=ctx.timeout,
                         describe=describe, make=events.make_part, progress=events.progress,
                         on_wait=events.part_waiting, on_notice=events.notice,
                         budget=ctx.budget)


def build_options(ctx: Context, request: BuildRequest) -> BuildOptions:
    from meta_prompting.toolkit.build import BuildOptions

    return BuildOptions(supply_options(ctx, request.describe), force=request.force,
                        change_goal=request.switch_goal, dry_run=request.dry_run,
                        command=ctx.command, regenerate=request.regenerate,
                        filling=request.filling, suffix=request.again)


def build(ctx: Context, request: BuildRequest) -> BuildReport:
    """Build output/<project>/ for a goal: plan, make the missing parts, assemble."""
    from meta_prompting.toolkit.build import build as build_toolkit

    return build_toolkit(ctx.lib, request.goal, request.project, build_options(ctx, request))
