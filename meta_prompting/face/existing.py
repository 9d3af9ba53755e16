"""An existing project, in the wizard: run it again, or what a rebuild will do to it.

A rebuild replaces the files this tool wrote; a person's edits to them are replaced
only when they say so (--force, or the choice here); other files are never deleted.
A complete toolkit nobody edited is offered a run first: a new task, or its last one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from meta_prompting.errors import ConflictError, LibraryError

if TYPE_CHECKING:
    from rich.console import Console

    from meta_prompting.core.context import Context
    from meta_prompting.library.goals import Library
    from meta_prompting.toolkit.prompt import Filling

REBUILD, RENAME, CANCEL = "Rebuild it", "Choose another name", "Cancel"
OVERWRITE = "Overwrite my edits (like --force)"
RUN_NEW, RUN_LAST = "Run a new task", "Run the last task again"


def runnable(library: Library, folder: Path, ctx: Context, goal: str | None) -> bool:
    """Can the toolkit in `folder` be run as it is: complete, unedited, of the goal
    --goal names (if any), with a model to call? Else only a rebuild is offered."""
    from meta_prompting.toolkit.assemble import project_goal
    from meta_prompting.toolkit.build import plan_build

    held = project_goal(folder)
    if held is None or held not in library.goals or goal not in (None, held):
        return False
    if not ctx.generate or ctx.model.access() is None or edits(library, folder.name):
        return False
    try:
        return not plan_build(library, held, folder.name).missing
    except LibraryError:  # a part that cannot be read: the rebuild says which
        return False


def last_task(folder: Path) -> Filling | None:
    """The task and evidence the toolkit was last run on, if they can be read back."""
    from meta_prompting.face.recall import read_last

    try:
        return read_last(folder)
    except OSError:
        return None


def say_last(last: Filling, out: Console, what: str = "Its last task") -> None:
    """"Its last task: <first line> (evidence: 1 document)", as --run says it."""
    from meta_prompting.face.show import plural
    from meta_prompting.runs.requests import first_line

    evidence = "" if what != "Its last task" else (
        f" (evidence: {plural(len(last.documents), 'document')})")
    out.print(f"{_escape(what)}: {_escape(first_line(last.task, 100))}{evidence}")


def ask_which_task(out: Console, last: Filling) -> str:
    """The last task first: Enter runs it again (with its evidence; kept answers found)."""
    from meta_prompting.face import ask

    say_last(last, out)
    return str(ask.select("Task:", [RUN_LAST, RUN_NEW], default=RUN_LAST))


def describe_rebuild(library: Library, folder: Path, force: bool, out: Console
                     ) -> list[str]:
    """Say what a rebuild of `folder` will do to each file a person edited; the choices."""
    from meta_prompting.face.show import nice_path
    from meta_prompting.toolkit.assemble import MANIFEST_FILE, TOOLKIT_FILES, project_goal

    where = _escape(f"{nice_path(folder)}/")
    held = project_goal(folder)
    holds = f"{where} holds {a_goal(held)} toolkit" if held else f"{where} already exists"
    edited = edits(library, folder.name)
    ours = [e for e in edited if e.split(" (")[0] in (*TOOLKIT_FILES, MANIFEST_FILE)]
    theirs = [e for e in edited if e not in ours]
    kept = _escape(f" {', '.join(theirs)} stay: files this tool did not write are never "
                   "deleted." if theirs else "")
    if not edited:
        out.print(f"{holds}. A rebuild replaces only the files this tool wrote.")
        return [REBUILD, RENAME, CANCEL]
    if not ours and not force:  # a person's own folder: keep the toolkit apart
        out.print(f"{holds}, with files this tool did not write: {_escape(', '.join(theirs))}."
                  " Choose another name (or pass --force to build beside them).")
        return [RENAME, CANCEL]
    if not ours:
        out.print(f"{holds}. With --force, the toolkit is written beside your files.{kept}")
        return [REBUILD, RENAME, CANCEL]
    names = _escape(", ".join(ours))
    if force:
        out.print(f"{holds}. [yellow]You edited {names}[/]: with --force, a rebuild "
                  f"overwrites your edits.{kept}")
        return [REBUILD, RENAME, CANCEL]
    out.print(f"{holds}. [yellow]You edited {names}[/]: a rebuild would overwrite your "
              f"edits. Overwrite them, or keep them by choosing another name.{kept}")
    return [OVERWRITE, RENAME, CANCEL]


def edits(library: Library, project: str) -> list[str]:
    """The files in output/<project> a rebuild would overwrite or mix with (--force's)."""
    from meta_prompting.toolkit.assemble import plan_writes, project_dir

    try:
        plan_writes(project_dir(library, project), None, force=False)
    except ConflictError as e:
        return e.paths
    return []


def a_goal(goal: str) -> str:
    return f"an {goal}" if goal[:1] in "AEIOU" else f"a {goal}"


def _escape(text: str) -> str:
    from meta_prompting.face.show import markup  # a path or name may hold anything, a key too

    return markup(text)
