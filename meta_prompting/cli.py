"""The command line: parse flags, call the core, render its report, map errors to exits.

Only this module decides exit codes and prints errors; everything below it raises.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from meta_prompting import __version__
from meta_prompting.build import DEFAULT_JOBS, DEFAULT_MODEL, DEFAULT_TIMEOUT
from meta_prompting.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_USER_ERROR,
    InteractiveSessionRequired,
    MetaPromptingError,
    UsageError,
)

if TYPE_CHECKING:
    from meta_prompting.build import BuildOptions
    from meta_prompting.library import Part

EXAMPLES = """\
examples:
  build output/payments-review/ from the AUDIT goal's parts:
    %(prog)s --goal AUDIT --project payments-review
  show what a build would do, writing nothing:
    %(prog)s --goal debug --project crash --dry-run
  the interactive wizard:
    %(prog)s
  every goal and its parts; validate the whole library (for CI):
    %(prog)s --list
    %(prog)s --check
  generate every missing part of the library, five at a time:
    GEMINI_API_KEY=... %(prog)s --generate-missing --jobs 5

exit codes: 0 done, 1 error, 2 bad flags, 3 toolkit written but
incomplete, 130 interrupted.
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        # argparse makes a formatter for every add_argument() and, with no width, imports
        # shutil (~4 ms, 0.2x a bare start-up) to ask the terminal's. Ask it ourselves.
        if width is None:
            try:
                width = int(os.environ.get("COLUMNS") or os.get_terminal_size().columns) - 2
            except (ValueError, OSError):
                width = 78
        super().__init__(prog, indent_increment, max_help_position, max(width, 40))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One place maps errors to exits (and --json must report usage errors too).
        raise UsageError(message)


def make_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog or _prog(),
        description="Assemble a prompt toolkit for a goal from the parts bin, generating "
                    "missing parts with Gemini. With no --goal/--project, in a terminal, "
                    "a wizard asks what it needs.",
        epilog=EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--goal", "-g", metavar="GOAL",
                        help="the goal to build, e.g. AUDIT (any case)")
    parser.add_argument("--project", "-p", metavar="NAME",
                        help="the toolkit's folder name under output/")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true",
                      help="list every goal, its parts and their status")
    mode.add_argument("--check", action="store_true",
                      help="validate goal_map.json and every part; exit 1 on a problem")
    mode.add_argument("--generate-missing", action="store_true",
                      help="generate every missing part the map names (or --goal's), "
                           "without building a toolkit")
    parser.add_argument("--dry-run", action="store_true",
                        help="show what a build would do; write nothing")
    parser.add_argument("--force", action="store_true",
                        help="overwrite toolkit files edited by hand")
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON document on stdout")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print nothing but errors")
    parser.add_argument("--non-interactive", action="store_true",
                        help="never ask questions (also when CI is set or there is no "
                             "terminal); --goal and --project are then required")
    parser.add_argument("--root", metavar="DIR",
                        help="folder with goal_map.json, components/ and output/ "
                             "(default: $META_PROMPTING_ROOT, else the current folder if "
                             "it has a goal_map.json, else this program's folder)")
    parser.add_argument("--version", action="version", version=f"meta-prompting {__version__}")
    gen = parser.add_argument_group("generating missing parts (Gemini)")
    gen.add_argument("--no-generate", action="store_true",
                     help="never call the model; missing parts become placeholders")
    gen.add_argument("--model", metavar="NAME",
                     help=f"Gemini model (default: $META_PROMPTING_MODEL or {DEFAULT_MODEL})")
    gen.add_argument("--jobs", "-j", metavar="N", type=_positive_int, default=DEFAULT_JOBS,
                     help=f"parts generated at once (default: {DEFAULT_JOBS})")
    gen.add_argument("--timeout", metavar="SECONDS", type=_positive_float,
                     default=DEFAULT_TIMEOUT,
                     help=f"give up on a part after this long, retries included "
                          f"(default: {DEFAULT_TIMEOUT:g})")
    gen.add_argument("--describe", metavar="FILE=TEXT", action="append", default=[],
                     type=_description,
                     help="what a missing part is for, told to the model (repeatable)")
    gen.add_argument("--regenerate", metavar="FILE", action="append", default=[],
                     help="generate this part again even though it exists (repeatable)")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def _description(text: str) -> tuple[str, str]:
    name, sep, description = text.partition("=")
    if not sep or not name.strip() or not description.strip():
        raise argparse.ArgumentTypeError(f"{text!r} must look like FILE=TEXT, e.g. "
                                         "'protocols/x.txt=what it is for'")
    return name.strip(), " ".join(description.split())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (tests call this in-process)."""
    argv = sys.argv[1:] if argv is None else argv
    want_json = "--json" in argv
    try:
        args = make_parser().parse_args(argv)
        return _dispatch(args)
    except SystemExit as e:  # --help and --version print and exit 0
        return int(e.code or 0)
    except KeyboardInterrupt:
        return _fail("Stopped by user", EXIT_INTERRUPTED, want_json, prefix="")
    except UsageError as e:
        return _fail(f"{e} (see --help)", EXIT_USAGE, want_json)
    except MetaPromptingError as e:
        return _fail(str(e), e.exit_code, want_json)


def _dispatch(args: argparse.Namespace) -> int:
    from meta_prompting import show
    from meta_prompting.library import find_root, load_library

    if args.check:
        if args.goal or args.project:
            raise UsageError("--check looks at the whole library; it takes no --goal/--project")
        from meta_prompting.survey import check_library

        checked = check_library(find_root(args.root))
        if args.json:
            _print_json(show.check_json(checked))
        elif not args.quiet or not checked.ok:
            show.check(checked)  # a result, so stdout, even when it finds problems
        return EXIT_OK if checked.ok else EXIT_USER_ERROR
    root = find_root(args.root)
    wants_build = not (args.list or args.generate_missing)
    if wants_build and (args.goal is None or args.project is None):
        _require_terminal(args)
        from meta_prompting.wizard import run_wizard

        # The wizard checks the library itself, to show every problem before asking.
        return run_wizard(root, args.goal, args.project, _options(args))
    library = load_library(root)
    if args.list:
        from meta_prompting.survey import list_goals

        listings = list_goals(library)
        if args.goal:
            wanted = library.goal(args.goal).name
            listings = [x for x in listings if x.goal.name == wanted]
        if args.json:
            _print_json(show.list_json(library, listings))
        else:
            show.listing(library, listings)
        return EXIT_OK
    if args.generate_missing:
        from meta_prompting.build import fill_library

        with show.retries_told(_retrying(args)):
            filled = fill_library(library, args.goal, _options(args))
        if args.json:
            _print_json({"ok": True, **filled.to_dict()})
        elif not args.quiet or filled.exit_code:
            show.fill(filled)
        return filled.exit_code
    from meta_prompting.build import build

    with show.retries_told(_retrying(args)):
        report = build(library, args.goal, args.project, _options(args))
    if args.json:
        _print_json({"ok": True, "exit_code": report.exit_code, **report.to_dict()})
    elif not args.quiet:
        show.build(report)
    elif report.exit_code:
        show.incomplete(report)
    return report.exit_code


def _require_terminal(args: argparse.Namespace) -> None:
    """The wizard only where a person can answer: never prompt a pipe, CI or a harness."""
    missing = " and ".join(f for f, v in (("--goal", args.goal), ("--project", args.project))
                           if v is None)
    why = None
    if args.non_interactive:
        why = "--non-interactive"
    elif args.json:
        why = "--json"
    elif os.environ.get("CI"):
        why = "CI is set"
    elif not (sys.stdin.isatty() and sys.stdout.isatty()):
        why = "no terminal"
    if why:
        raise InteractiveSessionRequired(
            f"{missing} needed ({why}, so no questions are asked): e.g. "
            f"{_prog()} --goal AUDIT --project demo")


def _options(args: argparse.Namespace) -> BuildOptions:
    from meta_prompting.build import BuildOptions

    base = _prog()
    if args.root:
        base += f" --root {shlex.quote(args.root)}"
    if args.model:
        base += f" --model {shlex.quote(args.model)}"
    quiet = args.quiet or args.json
    return BuildOptions(
        force=args.force, dry_run=args.dry_run, command=base, generate=not args.no_generate,
        model=args.model, jobs=args.jobs, timeout=args.timeout, describe=dict(args.describe),
        regenerate=frozenset(args.regenerate),
        progress=None if quiet else _progress,
        on_wait=None if quiet else _waiting,
    )


_PROGRESS_LOCK = threading.Lock()


def _progress(message: str) -> None:
    # Parts are generated on several threads: one whole write per line, one at a time,
    # or two lines land on one (print() writes the text and its newline separately).
    with _PROGRESS_LOCK:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def _waiting(part: Part) -> None:
    _progress(f"  waiting: another run is generating {part.key}")


def _retrying(args: argparse.Namespace) -> Callable[[str], None] | None:
    return None if args.quiet or args.json else lambda note: _progress(f"  {note}")


def _fail(message: str, code: int, want_json: bool, prefix: str = "error: ") -> int:
    if want_json:
        _print_json({"ok": False, "error": message, "exit_code": code})
    print(f"{prefix}{message}", file=sys.stderr)
    return code


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def _prog() -> str:
    """How the user invoked us, so hints name a command they can paste."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(argv0)
    if name == "meta-prompting":
        return "meta-prompting"
    if name == "__main__.py" and os.path.basename(os.path.dirname(argv0)) == "meta_prompting":
        return "python -m meta_prompting"
    return "python orchestrator.py"
