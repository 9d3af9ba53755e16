"""The library's own modes: fill (--generate-missing), list, check and init.

Each takes the context and its request and returns a report as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from meta_prompting.core.context import Context
    from meta_prompting.library.goals import Library
    from meta_prompting.library.layers import InitReport
    from meta_prompting.library.survey import CheckReport, Finding, GoalListing
    from meta_prompting.parts.fill import FillReport


class FillRequest(NamedTuple):
    """Make every missing part the map names (or one goal's), building no toolkit."""

    goal: str | None = None
    describe: Mapping[str, str] = {}
    regenerate: frozenset[str] = frozenset()


class ListRequest(NamedTuple):
    """Every goal (or one) with the state of each of its parts."""

    goal: str | None = None


class CheckRequest(NamedTuple):
    """Every problem in the library (and in a chain file), not just the first."""

    chain: str | None = None  # a chain file's path, checked against the library


class InitRequest(NamedTuple):
    """Copy the built-in library into a folder, to start one's own."""

    folder: Path


def fill(ctx: Context, request: FillRequest) -> FillReport:
    """Make every missing part the map names (or one goal's), building no toolkit."""
    from meta_prompting.core.build import supply_options
    from meta_prompting.parts.fill import fill_library

    return fill_library(ctx.lib, request.goal, request.regenerate,
                        supply_options(ctx, request.describe))


def list_goals(ctx: Context, request: ListRequest) -> list[GoalListing]:
    """Every goal (or the one asked for) with the state of each of its parts."""
    from meta_prompting.library.survey import list_goals as survey

    listings = survey(ctx.lib)
    if request.goal:
        wanted = ctx.lib.goal(request.goal).name
        listings = [x for x in listings if x.goal.name == wanted]
    return listings


def check(ctx: Context, request: CheckRequest) -> CheckReport:
    """Every problem in every layer, the rubrics and (if named) a chain file."""
    from meta_prompting.library.survey import check_library

    def more(library: Library) -> list[Finding]:
        found = _rubric_findings(library)
        if request.chain is not None:
            found += _chain_findings(library, request.chain)
        return found

    return check_library(ctx.root, more)


def init(request: InitRequest) -> InitReport:
    """Copy the built-in library into a folder; never overwrite a file. (No context:
    there is no library yet.)"""
    from meta_prompting.library.layers import init_library

    return init_library(request.folder)


def _rubric_findings(library: Library) -> list[Finding]:
    """Every goal named as a rubric must be one --grade can read its criteria from."""
    from meta_prompting.grading.grade import criteria_of
    from meta_prompting.library.parts import inspect_part
    from meta_prompting.library.survey import ERROR, Finding

    named = sorted({g.rubric for g in library.goals.values() if g.rubric} & set(library.goals))
    findings: list[Finding] = []
    for name in named:
        goal = library.goals[name]
        state = inspect_part(library, goal.protocol)
        if state.text is None:
            continue  # already reported as missing or unreadable
        _, _, problem = criteria_of(state.text)
        if problem:
            findings.append(Finding(ERROR, f"{goal.protocol.key}: the {name} rubric's "
                                           f"criteria cannot be read: {problem}"))
    return findings


def _chain_findings(library: Library, chain: str) -> list[Finding]:
    """Every problem in a chain file (--check --chain FILE), before it is ever run."""
    from meta_prompting.chains.chainfile import load_chain
    from meta_prompting.errors import LibraryError
    from meta_prompting.library.survey import ERROR, Finding

    try:
        load_chain(Path(chain), library)
    except LibraryError as e:
        return [Finding(ERROR, p) for p in e.problems]
    return []
