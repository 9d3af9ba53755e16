"""The interactive wizard: asks what the flags would have said, then calls the same core.

It only asks and shows. Planning, supplying parts, writing and the report are build()'s;
each missing part is made by a `make` callback that the core calls under that part's
lock, so the wizard never writes a file itself. questionary and rich are imported only
here and in `ask`, which only the wizard uses: a plain build never pays for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.errors import EXIT_OK, EXIT_USER_ERROR
from meta_prompting.face import ask
from meta_prompting.face.existing import (
    CANCEL,
    OVERWRITE,
    REBUILD,
    RUN_LAST,
    RUN_NEW,
    a_goal,
    describe_rebuild,
)
from meta_prompting.face.exits import exit_of

if TYPE_CHECKING:

    from rich.console import Console

    from meta_prompting.core.build import BuildRequest
    from meta_prompting.core.context import Context
    from meta_prompting.face.wizard_run import Asked, Given
    from meta_prompting.library.goals import Goal, Library
    from meta_prompting.toolkit.build import BuildReport, Plan
    from meta_prompting.toolkit.prompt import Filling


class Chosen(NamedTuple):
    """The project a person named, and what to do with it."""

    project: str
    force: bool
    run: str | None = None  # RUN_NEW or RUN_LAST: its toolkit as it is, no rebuild asked
    last: Filling | None = None  # its last task and evidence, when RUN_LAST
    goal: str = ""  # its toolkit's goal, when run


def run_wizard(ctx: Context, goal: str | None, project: str | None, base: BuildRequest,
               said: Asked | None = None) -> int:
    """Ask for what the flags left out, build, show the report, offer to run it (and to
    grade the answer); return the exit code. `base` holds the build flags given."""
    from meta_prompting.core.build import build, supply_options
    from meta_prompting.face import show
    from meta_prompting.face.wizard_run import Asked, offer_run, read_flags
    from meta_prompting.parts.options import generation_blocker
    from meta_prompting.toolkit.assemble import project_dir, project_goal
    from meta_prompting.toolkit.build import plan_build

    out = show.console()
    library = _load_library(ctx.root, out)
    if library is None:
        return EXIT_USER_ERROR
    ctx = ctx._replace(library=library)
    # A flag answers its question before any is asked, so a bad one fails at once.
    given = library.goal(goal) if goal is not None else None
    said = said or Asked()  # the run and grade flags
    flags = read_flags(library, said, ctx)
    force = base.force
    if project is not None:
        _check_rebuild(library, project, force)
    else:
        # A run is offered only where the flags leave it open: not a dry run, and the
        # last task only when no --task names one.
        asked = _ask_project(library, force, out, None if base.dry_run else ctx, goal,
                             said.task is None and said.task_file is None)
        if asked is None:
            out.print("Cancelled: nothing written.")
            return EXIT_OK
        if asked.run is not None:
            return _run_as_it_is(out, ctx, base, asked, said, flags)
        project, force = asked.project, asked.force
    blocker = generation_blocker(supply_options(ctx, {}))
    chosen = _choose_goal(library, project, given, blocker is None, out)
    if chosen is None:
        out.print("Nothing written.")
        return EXIT_OK
    request = base._replace(goal=chosen.name, project=project, force=force,
                            # confirmed, or a new project
                            switch_goal=chosen.name != project_goal(project_dir(library,
                                                                                project)))
    plan = plan_build(library, chosen.name, project)
    _show_plan(out, plan, ctx, blocker)
    if request.dry_run:
        report = build(ctx, request)
    elif not ask.confirm("Build it?"):
        out.print("Nothing written.")
        return EXIT_OK
    else:
        from meta_prompting.face.partmaker import PartMaker

        maker = PartMaker(out, show.console(stderr=True), ctx, blocker,
                          _count_asked(plan, request.regenerate))
        # The core's progress lines ("generating N parts") are the person's choices here;
        # only "waiting for another run" is news.
        report = build(ctx._replace(events=ctx.events._replace(make_part=maker, progress=None)),
                       request)
    _show_result(out, report)
    if report.dry_run or not report.complete:
        return exit_of(report)
    code = offer_run(out, ctx, report, request, said, flags)
    return exit_of(report) or code


def _load_library(root: Path, out: Console) -> Library | None:
    """The library, or None after showing every problem in it: check before asking."""
    from meta_prompting.errors import LibraryError
    from meta_prompting.face.show import plural
    from meta_prompting.library.goals import load_jobs, load_library
    from meta_prompting.library.survey import check_library

    try:
        library = load_library(root)
        _, problems = load_jobs(root)
    except LibraryError:
        problems = ["the map"]
    if not problems:
        return library
    # Only the errors: --check's warnings (unused parts, ...) would bury them here.
    errors = [f.message for f in check_library(root).findings if f.level == "error"]
    for message in errors:
        out.print(f"[red]error:[/] {_escape(message)}")
    out.print(f"{plural(len(errors), 'problem')} to fix first; nothing was asked and "
              "nothing written.")
    return None


def _run_as_it_is(out: Console, ctx: Context, base: BuildRequest, chosen: Chosen,
                  said: Asked, flags: Given) -> int:
    """Run the project's toolkit as it is, on a new task or its last: the build that
    --task ... --run makes first changes nothing in a complete, unedited toolkit."""
    from meta_prompting.core.build import build
    from meta_prompting.face.wizard_run import offer_run

    request = base._replace(goal=chosen.goal, project=chosen.project, force=chosen.force)
    quiet = ctx._replace(events=ctx.events._replace(make_part=None, progress=None))
    report = build(quiet, request)
    if not report.complete:  # a part went missing since it was looked at
        _show_result(out, report)
        return exit_of(report)
    code = offer_run(out, ctx, report, request, said, flags, start=chosen.run,
                     last=chosen.last)
    return exit_of(report) or code


def _check_rebuild(library: Library, project: str, force: bool) -> None:
    """Refuse now, not after every question, a rebuild that would lose a person's edits."""
    from meta_prompting.toolkit.assemble import plan_writes, project_dir

    plan_writes(project_dir(library, project), None, force)


def _ask_project(library: Library, force: bool, out: Console, ctx: Context | None,
                 goal: str | None, recall: bool) -> Chosen | None:
    """The project's name, whether a person chose to overwrite their edits in it, and
    at a toolkit that can run as it is (`ctx`: runs may be offered), whether to run it."""
    from meta_prompting.errors import UnsafeNameError
    from meta_prompting.face.existing import last_task, runnable, say_last
    from meta_prompting.store.files import check_project_name
    from meta_prompting.toolkit.assemble import project_dir, project_goal

    wrong = ""
    while True:
        # Checked after Enter, with the reason printed right below the answer: checked
        # as one types, questionary shows it at the bottom of the screen, which in a
        # tall terminal is far from the prompt. A wrong name stays, to be corrected.
        typed = ask.text("Project name (its folder under output/):", default=wrong).strip()
        why = check_project_name(typed)
        wrong = typed if why else ""
        if why:
            out.print(f"[red]{_escape(why)}[/]")
            continue
        try:
            folder = project_dir(library, typed)
        except UnsafeNameError as e:  # output/<name> is a link that leads out of output/
            out.print(f"[red]{_escape(str(e))}[/]")
            continue
        if not folder.exists():
            return Chosen(typed, force)
        choices = describe_rebuild(library, folder, force, out)
        last = None
        if ctx is not None and runnable(library, folder, ctx, goal):
            last = last_task(folder) if recall else None
            if last is not None:
                say_last(last, out)
            choices = [RUN_NEW, *([RUN_LAST] if last else []), *choices]
        pick = ask.select("What now?", choices)
        if pick in (RUN_NEW, RUN_LAST):
            return Chosen(typed, force, pick, last if pick == RUN_LAST else None,
                          project_goal(folder) or "")
        if pick in (REBUILD, OVERWRITE):
            return Chosen(typed, force or pick == OVERWRITE)
        if pick == CANCEL:
            return None


def _choose_goal(library: Library, project: str, given: Goal | None, can_generate: bool,
                 out: Console) -> Goal | None:
    """The goal to build; a switch of the project's goal only once a person confirms it."""
    from meta_prompting.face.show import nice_path
    from meta_prompting.toolkit.assemble import project_dir, project_goal

    folder = project_dir(library, project)
    current = project_goal(folder)
    while True:
        goal = given or _ask_goal(library, can_generate, out, current)
        if current is None or goal.name == current:
            return goal
        # Said by rich, which wraps at words; the question stays short. A default of No:
        # pressing Enter through the questions must never switch it.
        out.print(f"{_escape(nice_path(folder))}/ holds {a_goal(current)} toolkit.")
        if ask.confirm(f"Switch it to {goal.name}?", default=False):
            return goal
        if given is not None:  # --goal said it: there is no list to go back to
            return None


def _ask_goal(library: Library, can_generate: bool, out: Console,
              current: str | None = None) -> Goal:
    import questionary

    from meta_prompting.errors import LibraryError
    from meta_prompting.library.parts import NEEDS_TEXT, PRESENT
    from meta_prompting.library.survey import list_goals

    width = max(len(g) for g in library.goals) + 2
    room = max(out.width - width - 5, 10)  # the pointer, and a margin
    choices = []
    for item in list_goals(library):
        missing = sum(s.status in NEEDS_TEXT for s in item.states)
        broken = [s for s in item.states if s.status not in (PRESENT, *NEEDS_TEXT)]
        note = "" if not missing else (
            f"({missing} to generate) " if can_generate else f"({missing} missing) ")
        # A list line is cut at the window's edge: cut it ourselves, visibly (the plan
        # shows the whole description).
        text = note + _printable(item.goal.description)
        if len(text) > room:
            text = text[:room - 1].rstrip() + "…"
        choices.append(questionary.Choice(
            f"{item.goal.name:<{width}}{text}", value=item.goal.name,
            disabled=f"{broken[0].part.key} is {broken[0].status}" if broken else None))
    if all(c.disabled for c in choices):
        raise LibraryError("no goal can be built: each has a part that cannot be read "
                           "(see --check)")
    # The list starts at the project's goal: Enter keeps it. Answered, it shows the name.
    start = current if current in library.goals else None
    return library.goal(str(ask.select("Goal:", choices, default=start,
                                       nothing="no goal matches")))


def _show_plan(out: Console, plan: Plan, ctx: Context, blocker: str | None) -> None:
    from rich.table import Table

    from meta_prompting.face.show import STATUS_STYLE, nice_path
    from meta_prompting.library.parts import NEEDS_TEXT

    out.print()
    out.print(f"[bold]{plan.goal.name}[/]: {_escape(plan.goal.description)}")
    verb = "rebuild" if plan.out.exists() else "build"
    out.print(f"Will {verb} {_escape(nice_path(plan.out))}/ from these parts:")
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 2, 0, 0))
    table.add_column("kind", style="dim", no_wrap=True)
    table.add_column("file", no_wrap=True)  # names stay whole; the status wraps instead
    table.add_column("status")
    for s in plan.states:
        status, style = s.status, STATUS_STYLE.get(s.status, "")
        if s.status in NEEDS_TEXT and blocker is None:
            status, style = "will be generated", "cyan"
        table.add_row(s.part.kind, s.part.name, f"[{style}]{status}[/]")
    out.print(table)
    if not plan.missing:
        return
    access = ctx.model.access()
    if blocker is None and access:
        out.print(f"Model: {_escape(ctx.model.name)} ({access}); you "
                  "review each generated part before it is saved.")
    else:
        out.print(f"[yellow]No model[/] — {_escape(blocker or 'unavailable')}. You can "
                  "write each missing part yourself, or leave a placeholder.")


def _show_result(out: Console, report: BuildReport) -> None:
    """What was written and made, what is left to do, and how to use the toolkit."""
    from meta_prompting.face.show import ACTION_WORD, WOULD, nice_path

    where = _escape(f"{nice_path(report.out_dir)}/")
    out.print()
    if report.dry_run:
        out.print("Dry run: nothing written. A build would:")
        for f in report.files:
            out.print(f"  {WOULD[f.action]} {where}{f.name}")
        return
    state = "[green]complete[/]" if report.complete else "[yellow]INCOMPLETE[/]"
    out.print(f"[bold]Built {where}[/] for goal {report.goal} ({state})")
    for f in report.files:
        out.print(f"  {f.name:<23}{ACTION_WORD[f.action]}")
    for status, label in (("generated", "Generated"), ("written", "Written by you")):
        files = [p.file for p in report.parts if p.status == status]
        if files:
            out.print(f"{label}: {', '.join(files)}")
    for p in report.parts:
        if p.status == "placeholder":
            out.print(f"[yellow]Placeholder[/] for {p.file}: {_escape(p.reason or '')}")
    for note in report.notes:
        out.print(f"Note: {_escape(note)}")
    if exit_of(report):  # what comes next for a complete one is offer_run's
        out.print("To finish, run again (leave out --goal to be asked again):")
        out.print(f"  {_escape(report.command)}", soft_wrap=True)  # whole, to paste


def _count_asked(plan: Plan, again: frozenset[str]) -> int:
    from meta_prompting.library.parts import NEEDS_TEXT

    return sum(s.status in NEEDS_TEXT or s.part.key in again or s.part.name in again
               for s in plan.states)


def _escape(text: str) -> str:
    from meta_prompting.face.show import markup

    return markup(text)


def _printable(text: str, lines: bool = False) -> str:
    from meta_prompting.face.show import printable

    return printable(text, lines)
