"""Ctrl+C: stop at once, end a streamed answer's line, and say how to finish the job.

Nothing half-made is kept (every result is published whole, or not at all), so the
command that finishes a run, a grade, a refine loop, a chain or a build is the same
command again: what is kept is not made again, and what was being made is made.
The wizard's questions are not resumed: while it runs or grades, it names the command
that finishes that work without them (`finishing`).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from meta_prompting.errors import EXIT_INTERRUPTED
from meta_prompting.face import streams


def stopped(argv: list[str], args: argparse.Namespace | None, want_json: bool,
            print_json: Callable[[dict[str, Any]], None]) -> int:
    """Say that the user stopped us, on a line of its own, and the command that resumes."""
    from meta_prompting.face.flags import prog
    from meta_prompting.face.show import printable

    streams.end_stream()
    work, _Work.command = _Work.command, None
    command = f"{prog()} {shlex.join(argv)}" if resumable(args) else work
    streams.say("Stopped by user")
    if command is not None:
        same = "this" if work is not None and command == work else "the same command again"
        streams.say(f"Nothing half-made was kept. To finish, run {same} (what is kept "
                    "is not made again):")
        streams.say(f"  {printable(command)}")
    if want_json:
        print_json({"ok": False, "error": "Stopped by user", "exit_code": EXIT_INTERRUPTED,
                    **({"command": command} if command else {})})
    return EXIT_INTERRUPTED


def resumable(args: argparse.Namespace | None) -> bool:
    """Was it work the same command finishes: a build, run, grade or chain from flags?

    Not the wizard (its questions are asked again, not resumed), and not a listing.
    """
    if args is None or getattr(args, "runs", None) is not None or any(
            getattr(args, f, None) for f in ("list", "check", "init", "report", "spent")):
        return False
    if args.chain is not None or args.generate_missing:
        return True
    return bool(args.goal and args.project)


class _Work:
    command: str | None = None  # what finishes the wizard's work under way


@contextmanager
def finishing(command: str) -> Iterator[None]:
    """While the wizard runs or grades: Ctrl+C names `command` (the flags that finish
    that work, asked nothing) instead of only "Stopped by user"."""
    _Work.command = command
    try:
        yield
    except KeyboardInterrupt:
        raise  # left set for stopped(), which says it and clears it
    except BaseException:
        _Work.command = None
        raise
    _Work.command = None
