"""The one core both the flags and the wizard call: plan -> ensure parts -> assemble."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from meta_prompting.errors import EXIT_INCOMPLETE, EXIT_OK, LibraryError, UserError
from meta_prompting.files import os_reason
from meta_prompting.library import Goal, Library
from meta_prompting.parts import NEEDS_TEXT, PRESENT, PartState, inspect_parts
from meta_prompting.toolkit import (
    FileAction,
    Filled,
    plan_writes,
    project_dir,
    render_files,
    render_manifest,
    write_toolkit,
)


class BuildOptions(NamedTuple):
    force: bool = False
    dry_run: bool = False
    command: str = "python orchestrator.py"  # how the user runs us, for "run this" hints


class PartReport(NamedTuple):
    kind: str
    file: str  # relative to components/, e.g. "protocols/x.txt"
    status: str  # "present", "generated", "placeholder", or in a dry run "missing"/"empty"
    reason: str | None = None


class BuildReport(NamedTuple):
    goal: str
    project: str
    out_dir: Path
    parts: tuple[PartReport, ...]
    files: tuple[FileAction, ...]
    complete: bool
    dry_run: bool = False
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.complete or self.dry_run else EXIT_INCOMPLETE

    def to_dict(self) -> dict[str, Any]:
        # Spelled out: json would write the NamedTuples inside as arrays, not objects.
        return {
            "goal": self.goal,
            "project": self.project,
            "out_dir": str(self.out_dir),
            "complete": self.complete,
            "dry_run": self.dry_run,
            "parts": [p._asdict() for p in self.parts],
            "files": [f._asdict() for f in self.files],
            "notes": list(self.notes),
        }


class Plan(NamedTuple):
    """What a build of `goal` into `out` starts from, checked before anything is written."""

    goal: Goal
    project: str
    out: Path
    states: tuple[PartState, ...]

    @property
    def missing(self) -> list[PartState]:
        return [s for s in self.states if s.status in NEEDS_TEXT]


def rerun_command(base: str, goal: str, project: str) -> str:
    return f"{base} --goal {goal} --project {project}"


def plan_build(library: Library, goal_name: str, project: str) -> Plan:
    """Resolve the goal and its parts; refuse what no build could fix."""
    goal = library.goal(goal_name)
    out = project_dir(library, project)
    states = tuple(inspect_parts(library, goal.parts))
    for state in states:
        if state.status not in (PRESENT, *NEEDS_TEXT):
            raise LibraryError(
                f'goal {goal.name}: part {state.part.key} is {state.status}: '
                f"{state.path}: {state.reason}"
            )
    return Plan(goal, project, out, states)


def build(library: Library, goal_name: str, project: str,
          options: BuildOptions | None = None) -> BuildReport:
    """Build output/<project>/ for a goal; the caller renders the report."""
    options = options or BuildOptions()
    plan = plan_build(library, goal_name, project)
    command = rerun_command(options.command, plan.goal.name, project)
    if plan.missing and not options.dry_run:
        first = plan.missing[0]
        others = f" (and {len(plan.missing) - 1} more)" if len(plan.missing) > 1 else ""
        raise LibraryError(
            f"goal {plan.goal.name} needs {first.part.key}, which is {first.status}: "
            f"expected at {first.path}{others}"
        )
    filled = [_filled(s) for s in plan.states]
    files = render_files(plan.goal, filled, command)
    actions = plan_writes(plan.out, files, options.force)
    parts = tuple(PartReport(s.part.kind, s.part.key, s.status) for s in plan.states)
    if not options.dry_run:
        manifest = render_manifest(plan.goal, filled, files)
        try:
            write_toolkit(plan.out, files, manifest, actions)
        except OSError as e:
            where = e.filename or plan.out
            raise UserError(f"{where}: cannot write: {os_reason(e)}") from e
    return BuildReport(
        goal=plan.goal.name,
        project=project,
        out_dir=plan.out,
        parts=parts,
        files=tuple(actions),
        complete=not plan.missing,
        dry_run=options.dry_run,
    )


def _filled(state: PartState) -> Filled:
    if state.status == PRESENT:
        return Filled(state.part, state.text, "library", sha256=state.sha256)
    return Filled(state.part, None, "placeholder", reason=f"the part is {state.status}")
