"""The command line: parse flags, call the core, render its report, map errors to exits.

Only this module decides exit codes and prints errors; everything below it raises.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn

from meta_prompting import __version__
from meta_prompting.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_USER_ERROR,
    MetaPromptingError,
    UsageError,
)

EXAMPLES = """\
examples:
  build output/payments-review/ from the AUDIT goal's parts:
    %(prog)s --goal AUDIT --project payments-review
  show what a build would do, writing nothing:
    %(prog)s --goal debug --project crash --dry-run
  every goal and its parts; validate the whole library (for CI):
    %(prog)s --list
    %(prog)s --check

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
        description="Assemble a prompt toolkit for a goal from the parts bin.",
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
    parser.add_argument("--dry-run", action="store_true",
                        help="show what a build would do; write nothing")
    parser.add_argument("--force", action="store_true",
                        help="overwrite toolkit files edited by hand")
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON document on stdout")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print nothing but errors")
    parser.add_argument("--root", metavar="DIR",
                        help="folder with goal_map.json, components/ and output/ "
                             "(default: $META_PROMPTING_ROOT, else the current folder if "
                             "it has a goal_map.json, else this program's folder)")
    parser.add_argument("--version", action="version", version=f"meta-prompting {__version__}")
    return parser


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
        return _fail("Stopped by user", EXIT_INTERRUPTED, want_json)
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
    library = load_library(find_root(args.root))
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
    if args.goal is None or args.project is None:
        missing = " and ".join(f for f, v in (("--goal", args.goal), ("--project", args.project))
                               if v is None)
        raise UsageError(f"{missing} needed to build a toolkit")
    from meta_prompting.build import BuildOptions, build

    options = BuildOptions(force=args.force, dry_run=args.dry_run, command=_prog())
    report = build(library, args.goal, args.project, options)
    if args.json:
        _print_json({"ok": True, "exit_code": report.exit_code, **report.to_dict()})
    elif not args.quiet:
        show.build(report)
    return report.exit_code


def _fail(message: str, code: int, want_json: bool) -> int:
    if want_json:
        _print_json({"ok": False, "error": message, "exit_code": code})
    print(f"error: {message}", file=sys.stderr)
    return code


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def _prog() -> str:
    """How the user invoked us, so hints name a command they can paste."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if name == "orchestrator.py":
        return "python orchestrator.py"
    if name in ("meta-prompting", "__main__.py"):
        return "meta-prompting" if name == "meta-prompting" else "python -m meta_prompting"
    return "python orchestrator.py"
