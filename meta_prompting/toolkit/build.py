"""The one core both the flags and the wizard call: plan -> ensure parts -> assemble."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.errors import (
    ConflictError,
    GoalChangeError,
    LibraryError,
    UserError,
)
from meta_prompting.library.goals import Goal, Library, Part
from meta_prompting.library.parts import (
    NEEDS_TEXT,
    PRESENT,
    PartReport,
    PartState,
    inspect_parts,
    select_parts,
    source_of,
)
from meta_prompting.store.files import os_reason
from meta_prompting.toolkit.assemble import (
    PERSONA_FILE,
    PROMPT_FILE,
    TEMPLATE_FILE,
    FileAction,
    Filled,
    carried_blocks,
    kept_records,
    manifest_is,
    plan_writes,
    project_dir,
    project_goal,
    render_files,
    render_manifest,
    toolkit_texts,
    write_toolkit,
)

if TYPE_CHECKING:
    from meta_prompting.models.budget import Planned
    from meta_prompting.parts.options import SupplyOptions
    from meta_prompting.parts.supply import Outcome
    from meta_prompting.toolkit.prompt import Filling, Sections

class BuildOptions(NamedTuple):
    """How the core asks for one build (the toolkit's own options; the face never makes one)."""

    supply: SupplyOptions  # how missing parts are made, and who is told
    force: bool = False
    change_goal: bool = False  # the wizard's person confirmed switching the project's goal
    dry_run: bool = False
    command: str = "python orchestrator.py"  # how to run us again, for "run this" hints
    regenerate: frozenset[str] = frozenset()  # part keys or file names
    filling: Filling | None = None  # a task and evidence: also write 02_PROMPT.md
    suffix: str = ""  # the flags that fill (and run) it, for "run this again" hints
    stage: str | None = None  # a chain stage: build output/<project>/<stage>/


class Toolkit(NamedTuple):
    """A complete toolkit's persona and blocks: the prompt for any task, without a build
    (and a write of 02_PROMPT.md) per task. The same text a build filled with it makes."""

    persona: str
    sections: Sections

    def fill(self, filling: Filling) -> tuple[str, str]:
        """(persona, prompt) for one task and its evidence: pure."""
        from meta_prompting.toolkit.prompt import render_prompt

        return self.persona, render_prompt(self.sections, filling)


class BuildReport(NamedTuple):
    goal: str
    project: str
    out_dir: Path
    parts: tuple[PartReport, ...]
    files: tuple[FileAction, ...]
    complete: bool
    dry_run: bool = False
    notes: tuple[str, ...] = ()  # e.g. a --regenerate that failed (the old part was kept)
    command: str = ""  # the command that finishes an incomplete toolkit
    rebuild: str = ""  # the plain command that builds it again (what "Next:" builds on)
    filled: tuple[str, str] | None = None  # (persona, prompt) when a task filled it: a run
    toolkit: Toolkit | None = None  # a complete toolkit, to fill with many tasks (--tasks)
    planned: tuple[Planned, ...] = ()  # a dry run: the part calls it would make
    model: str = ""  # a dry run that would generate parts: the model they are priced at

    @property
    def outcome(self) -> str:
        """DONE, or INCOMPLETE: a part could not be made (or made again)."""
        from meta_prompting.store.record import DONE, INCOMPLETE

        return DONE if self.dry_run or (self.complete and not self.notes) else INCOMPLETE

    @property
    def estimate(self) -> dict[str, Any]:
        from meta_prompting.models.budget import estimate_plan

        return estimate_plan(self.model, self.planned)

    def to_dict(self) -> dict[str, Any]:
        # Spelled out: json would write the NamedTuples inside as arrays, not objects.
        return {
            "goal": self.goal,
            "project": self.project,
            "out_dir": str(self.out_dir),
            "complete": self.complete,
            "dry_run": self.dry_run,
            "parts": [p._asdict() for p in self.parts],
            "files": [{"name": f.name, "action": f.action} for f in self.files],
            "notes": list(self.notes),
            "command": self.command,
            **({"estimate": self.estimate} if self.dry_run and self.planned else {}),
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
    from shlex import quote

    return f"{base} --goal {goal} --project {quote(project)}"


def check_goal_change(plan: Plan, options: BuildOptions) -> None:
    """A project holds one goal's toolkit: switching it is a decision, never a side effect."""
    old = project_goal(plan.out)
    if old is None or old == plan.goal.name or options.force or options.change_goal:
        return
    raise GoalChangeError(
        f"{plan.out} holds a {old} toolkit; building {plan.goal.name} into it would switch "
        f"its goal. Choose another --project, or pass --force to switch it", old,
        plan.goal.name)


def plan_build(library: Library, goal_name: str, project: str,
               stage: str | None = None) -> Plan:
    """Resolve the goal and its parts; refuse what no build could fix."""
    goal = library.goal(goal_name)
    out = project_dir(library, project, stage)
    states = tuple(inspect_parts(library, goal.parts))
    for state in states:
        if state.status not in (PRESENT, *NEEDS_TEXT):
            raise LibraryError(
                f'goal {goal.name}: part {state.part.key} is {state.status}: '
                f"{state.path}: {state.reason}"
            )
    return Plan(goal, project, out, states)


def build(library: Library, goal_name: str, project: str, options: BuildOptions
          ) -> BuildReport:
    """Build output/<project>/ for a goal; the caller renders the report."""
    if options.filling is not None:
        check_filling(options.filling, options.stage)
    plan = plan_build(library, goal_name, project, options.stage)
    command = rerun_command(options.command, plan.goal.name, project) + options.suffix
    regenerate = select_parts(options.regenerate, plan.goal.parts, "--regenerate",
                              f"goal {plan.goal.name}")
    select_parts(frozenset(options.supply.describe), plan.goal.parts, "--describe",
                 f"goal {plan.goal.name}")
    check_goal_change(plan, options)
    if options.dry_run:
        return _dry_run(library, plan, options, command, regenerate)
    # No conflict check before the parts: a person's edits in the toolkit must never
    # stop the missing parts being made (the library needs them either way).
    outcomes: dict[Part, Outcome] = {}
    if plan.missing or regenerate:  # a complete goal never loads the supplying machinery
        from meta_prompting.parts.supply import supply_parts

        outcomes = supply_parts(library, plan.goal, plan.states, regenerate, options.supply)
    filled: list[Filled] = []
    reports: list[PartReport] = []
    notes: list[str] = []
    for state in plan.states:
        outcome = outcomes.get(state.part)
        if outcome is None or (outcome.status == "placeholder" and state.status == PRESENT):
            if outcome is not None:  # a --regenerate that failed: keep the part we have
                notes.append(f"could not regenerate {state.part.key} ({outcome.reason}); "
                             "kept the existing part")
            filled.append(Filled(state.part, state.text,
                                 source_of(library, state.part, state.sha256),
                                 sha256=state.sha256))
            reports.append(PartReport(state.part.kind, state.part.key, PRESENT))
        elif outcome.status == "placeholder":
            filled.append(Filled(state.part, None, "placeholder", reason=outcome.reason))
            reports.append(PartReport(state.part.kind, state.part.key, "placeholder",
                                      outcome.reason))
        else:
            filled.append(Filled(state.part, outcome.text,
                                 source_of(library, state.part, outcome.sha256),
                                 sha256=outcome.sha256))
            reports.append(PartReport(state.part.kind, state.part.key, outcome.status))
    failed = sorted(o.part.key for o in outcomes.values()
                    if o.status == "placeholder" and o.part in regenerate)
    rebuild = command
    command += "".join(f" --regenerate {key}" for key in failed)
    made = [o.part.key for o in outcomes.values() if o.status in ("generated", "written")]
    try:
        files, actions = assemble(library, plan, filled, command, options)
    except ConflictError as e:
        if not made:
            raise
        raise ConflictError(f"made {', '.join(made)} in the parts bin, but did not write the "
                            f"toolkit: {e}", e.paths) from e
    complete = all(f.text is not None for f in filled)
    return BuildReport(plan.goal.name, project, plan.out, tuple(reports), tuple(actions),
                       complete, notes=tuple(notes), command=command, rebuild=rebuild,
                       filled=_filled(files) if complete else None,
                       toolkit=Toolkit(*toolkit_texts(plan.goal, filled, command))
                       if complete else None)


def check_filling(filling: Filling, stage: str | None = None) -> None:
    """Refuse a task or document that holds the API key, before anything is written or
    sent: 02_PROMPT.md, runs/ and the request would all carry it.

    A person pastes a log with the environment in it, or types the key into a task by
    mistake; scrubbing it instead would send a prompt that is not the one they wrote.
    """
    from meta_prompting.models.keys import holds_key

    where = f"stage {stage}: " if stage else ""
    after = "(or part of it); take it out: nothing was written or sent"
    if holds_key(filling.task):
        raise UserError(f"{where}the task holds the API key {after}")
    for doc in filling.documents:
        if holds_key(doc.name):
            raise UserError(f"{where}the name of an evidence document holds the API key "
                            f"{after}")
        if holds_key(doc.text):
            raise UserError(f"{where}evidence document {doc.name} holds the API key {after}")


def _filled(files: dict[str, bytes]) -> tuple[str, str] | None:
    if PROMPT_FILE not in files:
        return None
    return files[PERSONA_FILE].decode("utf-8"), files[PROMPT_FILE].decode("utf-8")


def assemble(library: Library, plan: Plan, filled: list[Filled], command: str,
             options: BuildOptions) -> tuple[dict[str, bytes], list[FileAction]]:
    """Write the toolkit, whole, under the project's lock: one build at a time per project.

    A rebuild that changes nothing takes no lock. Otherwise the project is locked and
    everything is decided again under the lock: a build of another goal that got there
    first is a goal change now, not a manifest naming one goal over the other's files.
    """
    def decide() -> tuple[dict[str, bytes], list[FileAction], bytes]:
        carried = carried_blocks(plan.out)
        files = render_files(plan.goal, filled, command, options.filling, carried)
        actions = plan_writes(plan.out, files, options.force,
                              frozenset({TEMPLATE_FILE}) if carried else frozenset())
        return files, actions, render_manifest(plan.goal, filled, files,
                                               kept_records(plan.out, files))

    files, actions, manifest = decide()  # a conflict is reported at once, without a lock
    if all(a.action == "unchanged" for a in actions) and manifest_is(plan.out, manifest):
        return files, actions
    from meta_prompting.store.lock import StepFailed, lock_file, locked

    try:
        with locked(lock_file(plan.out, "toolkit"), timeout=options.supply.timeout + 30,
                    what=f"the project {plan.project}"):
            check_goal_change(plan, options)
            files, actions, manifest = decide()
            write_toolkit(plan.out, files, manifest, actions)
    except StepFailed as e:
        raise UserError(f"{plan.out}: {e.reason}") from e
    except OSError as e:
        where = e.filename or plan.out
        raise UserError(f"{where}: cannot write: {os_reason(e)}") from e
    return files, actions


def _dry_run(library: Library, plan: Plan, options: BuildOptions, command: str,
             regenerate: set[Part]) -> BuildReport:
    """What a build would do, from the parts as they are now; nothing is written."""
    from meta_prompting.parts.options import generation_blocker

    will = generation_blocker(options.supply)
    planned: list[Planned] = []
    if will is None and options.supply.make is None:  # the model would make them
        from meta_prompting.parts.supply import planned_parts

        planned = planned_parts(library, plan.goal, [
            s.part for s in plan.states if s.status in NEEDS_TEXT or s.part in regenerate],
            options.supply)
    will = f"will be a placeholder: {will}" if will else "will be generated"
    parts = tuple(PartReport(s.part.kind, s.part.key, s.status,
                             will if s.status in NEEDS_TEXT else None) for s in plan.states)
    filled = [Filled(s.part, s.text, "library") if s.status == PRESENT
              else Filled(s.part, None, "placeholder", reason=will) for s in plan.states]
    files = render_files(plan.goal, filled, command, options.filling)
    actions = plan_writes(plan.out, files, options.force)
    return BuildReport(plan.goal.name, plan.project, plan.out, parts, tuple(actions),
                       not plan.missing, dry_run=True, command=command, rebuild=command,
                       filled=_filled(files) if not plan.missing else None,
                       toolkit=None if plan.missing else Toolkit(*toolkit_texts(
                           plan.goal, filled, command)), planned=tuple(planned),
                       model=options.supply.model.name if planned else "")
