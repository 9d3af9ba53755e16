"""The requests of each mode, in the product's words: what the face asks the core for.

Each is immutable and typed; the face fills one from its flags (or the wizard from its
questions) and hands it with the context to the mode's core function.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from meta_prompting.chains.chainfile import Chain
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
