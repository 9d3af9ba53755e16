"""Nothing retyped: a project's goal and last task, taken from what it keeps.

`-p review --run` (or `--grade`) with no --goal and no --task runs the goal of the
toolkit in output/review/ on the task and evidence its 02_PROMPT.md was last filled
with, and says so on stderr; `-p review` where no question may be asked rebuilds it.
In a terminal, `-p review` alone still starts the wizard, which offers the last task
(read_last) first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from meta_prompting.errors import UsageError
from meta_prompting.toolkit.prompt import Filling

RUN_FLAGS = ("run", "grade", "samples", "again", "fresh", "refine", "answer")


def wants_run(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag, None) for flag in RUN_FLAGS)


def nobody_to_ask(args: argparse.Namespace) -> bool:
    """No question may be asked: the wizard would refuse to start."""
    return bool(args.non_interactive or args.json or os.environ.get("CI")
                or not (sys.stdin.isatty() and sys.stdout.isatty()))


def project_folder(root: Path, project: str) -> Path:
    from meta_prompting.errors import UnsafeNameError
    from meta_prompting.library.layers import OUTPUT
    from meta_prompting.store.files import check_project_name

    if why := check_project_name(project):
        raise UnsafeNameError(f"--project: {why}")
    return root / OUTPUT / project


def recall_goal(root: Path, args: argparse.Namespace, say: Callable[[str], None]) -> None:
    """Fill args.goal from the project's toolkit when it is not given and nobody is
    asked for it (run flags given, or no terminal); leave it None otherwise."""
    if args.goal is not None or args.project is None:
        return
    if not (wants_run(args) or nobody_to_ask(args)):
        return  # the wizard asks, starting its list at the project's goal
    goal = toolkit_goal(project_folder(root, args.project))
    if goal is None:
        return  # no toolkit there: "--goal needed", as before
    args.goal = goal
    if not (args.quiet or args.json):
        say(f"Using the goal of project {args.project}: {goal}")


def toolkit_goal(folder: Path) -> str | None:
    """The goal output/<project>/manifest.json names, if it can be read."""
    from meta_prompting.store.files import RECORD_LIMIT, read_regular

    try:
        data = json.loads(read_regular(folder / "manifest.json", RECORD_LIMIT,
                                       follow_links=False))
    except (OSError, ValueError, RecursionError):
        return None
    goal = data.get("goal") if isinstance(data, dict) else None
    return goal if isinstance(goal, str) and goal else None


def last_filling(root: Path, args: argparse.Namespace, say: Callable[[str], None]
                 ) -> Filling:
    """The task and evidence the project's 02_PROMPT.md was last filled with, said on
    screen; UsageError naming --task when there is none to take."""
    from meta_prompting.runs.requests import PROMPT_FILE, first_line

    flag = "--grade" if args.grade else "--run"
    folder = project_folder(root, args.project)
    try:
        filling = read_last(folder)
    except OSError:
        raise UsageError(f"{flag} needs a task: give --task TEXT or --task-file FILE "
                         f"(project {args.project} has no task yet)") from None
    if filling is None:
        raise UsageError(f"{flag} needs a task: give --task TEXT or --task-file FILE "
                         f"({folder / PROMPT_FILE} cannot be read back as a task and "
                         "evidence: edited by hand?)")
    if not (args.quiet or args.json):
        docs = len(filling.documents)
        evidence = ("" if args.evidence or args.evidence_diff else
                    f" (with its evidence: {docs} document{'s' if docs != 1 else ''})")
        say(f"Using the last task of project {args.project}: "
            f"{first_line(filling.task, 100)}{evidence}")
    return filling


def read_last(folder: Path) -> Filling | None:
    """The task and evidence `folder`'s 02_PROMPT.md was last filled with (the task as
    --task would give it, so the request is the same and kept answers are found); None
    when it cannot be read back; OSError when there is none."""
    from meta_prompting.runs.requests import PROMPT_FILE
    from meta_prompting.store.files import TOOLKIT_LIMIT, read_regular
    from meta_prompting.toolkit.prompt import read_filling

    prompt = read_regular(folder / PROMPT_FILE, TOOLKIT_LIMIT, follow_links=False)
    filling = read_filling(prompt.decode("utf-8", "replace"))
    return None if filling is None else filling._replace(
        task=filling.task.strip("\n") + "\n")
