"""Ctrl+C: stop at once, end a streamed answer's line, and say how to finish the job.

Nothing half-made is kept (every result is published whole, or not at all), so the
command that finishes a run, a grade, a refine loop, a chain or a build is the same
command again: what is kept is not made again, and what was being made is made.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any

from meta_prompting.errors import EXIT_INTERRUPTED
from meta_prompting.face import streams


def stopped(argv: list[str], args: argparse.Namespace | None, want_json: bool,
            print_json: Callable[[dict[str, Any]], None]) -> int:
    """Say that the user stopped us, on a line of its own, and the command that resumes."""
    from meta_prompting.face.flags import prog
    from meta_prompting.face.show import printable

    streams.end_stream()
    command = f"{prog()} {shlex.join(argv)}" if resumable(args) else None
    streams.say("Stopped by user")
    if command is not None:
        streams.say("Nothing half-made was kept. To finish, run the same command again "
                    "(what is kept is not made again):")
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
