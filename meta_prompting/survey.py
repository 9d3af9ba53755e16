"""Looking over the whole library: `--list` and `--check`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from meta_prompting.errors import LibraryError
from meta_prompting.files import is_temporary
from meta_prompting.library import (
    FOLDERS,
    JOBS_FILE,
    MAP_FILE,
    Goal,
    Library,
    Part,
    load_jobs,
    parse_goal_map,
)
from meta_prompting.parts import MISSING, PRESENT, PartState, inspect_part

ERROR = "error"
WARNING = "warning"


class GoalListing(NamedTuple):
    goal: Goal
    states: tuple[PartState, ...]

    @property
    def complete(self) -> bool:
        return all(s.status == PRESENT for s in self.states)


class Finding(NamedTuple):
    level: str  # ERROR or WARNING
    message: str


class CheckReport(NamedTuple):
    root: Path
    goals: int
    parts: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not any(f.level == ERROR for f in self.findings)


def list_goals(library: Library) -> list[GoalListing]:
    """Every goal with the state of each of its parts (each part read once)."""
    states = {part: inspect_part(library, part) for part in library.all_parts()}
    return [GoalListing(goal, tuple(states[p] for p in goal.parts))
            for goal in library.goals.values()]


def check_library(root: Path) -> CheckReport:
    """Every problem in the library, not just the first: made for CI."""
    findings: list[Finding] = []
    try:
        text = (root / MAP_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LibraryError(f"{root / MAP_FILE}: cannot read: {e}") from e
    goals, problems = parse_goal_map(text)
    findings += [Finding(ERROR, p) for p in problems]
    library = Library(root, goals)
    used: dict[Part, list[str]] = {}
    for goal in goals.values():
        for part in goal.parts:
            used.setdefault(part, []).append(goal.name)
    for part, users in used.items():
        state = inspect_part(library, part)
        if state.status != PRESENT:
            detail = f"expected at {state.path}" if state.status == MISSING else (
                state.reason or str(state.path))
            findings.append(Finding(
                ERROR, f"{part.key} is {state.status} ({detail}); needed by {', '.join(users)}"))
    findings += [Finding(WARNING, f"{key} is in the parts bin but no goal uses it")
                 for key in _unused(library, set(used))]
    jobs, job_problems = load_jobs(root)
    findings += [Finding(ERROR, p) for p in job_problems]
    keys = {p.key for p in used}
    findings += [Finding(WARNING, f"{JOBS_FILE}: \"{key}\" is not a part any goal uses")
                 for key in jobs if key not in keys]
    return CheckReport(root, len(goals), len(used), tuple(findings))


def _unused(library: Library, used: set[Part]) -> list[str]:
    names = {p.key for p in used}
    found: list[str] = []
    for folder in FOLDERS.values():
        try:
            entries = sorted(os.listdir(library.components / folder))
        except OSError:
            continue
        for name in entries:
            # Hidden files are ours (locks, provenance, interrupted writes) or a
            # person's dotfiles; neither is a part.
            if name.startswith(".") or is_temporary(name):
                continue
            if f"{folder}/{name}" not in names:
                found.append(f"{folder}/{name}")
    return found
