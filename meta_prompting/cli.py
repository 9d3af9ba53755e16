"""The command line: parse flags, call the core, render its report, map errors to exits.

Only this module decides exit codes and prints errors; everything below it raises.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from meta_prompting import __version__, streams
from meta_prompting.build import DEFAULT_JOBS, DEFAULT_MODEL, DEFAULT_TIMEOUT, rerun_command
from meta_prompting.errors import (
    EXIT_INCOMPLETE,
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
    from meta_prompting.library import Library, Part
    from meta_prompting.prompt import Filling

MAX_JOBS = 64  # more threads than this only queue on the service and exhaust descriptors
MAX_TIMEOUT = 24 * 3600.0  # seconds; beyond it a thread wait overflows

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
  start your own library here from the built-in one, to edit and extend:
    %(prog)s --init
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
                width = int(os.environ.get("COLUMNS") or os.get_terminal_size().columns)
            except (ValueError, OSError):
                width = 80
            width = min(width if width > 0 else 80, 1000) - 2  # COLUMNS=0 or 100000
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
        allow_abbrev=False,  # --js must not quietly mean --json: flags are a contract
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
    mode.add_argument("--init", nargs="?", const=".", metavar="DIR",
                      help="copy the built-in library into DIR (default: here) to start "
                           "your own; never overwrites a file")
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
                        help="the project library: a folder with goal_map.json, "
                             "components/ and output/ (default: $META_PROMPTING_ROOT, else "
                             "the current folder if it has a goal_map.json). What it lacks "
                             "comes from $META_PROMPTING_HOME's library, then the built-in "
                             "one")
    parser.add_argument("--version", action="version", version=f"meta-prompting {__version__}")
    gen = parser.add_argument_group("generating missing parts (Gemini)")
    gen.add_argument("--no-generate", action="store_true",
                     help="never call the model; missing parts become placeholders")
    gen.add_argument("--model", metavar="NAME",
                     help=f"Gemini model (default: $META_PROMPTING_MODEL or {DEFAULT_MODEL})")
    gen.add_argument("--jobs", "-j", metavar="N", type=_jobs, default=DEFAULT_JOBS,
                     help=f"parts generated at once (default: {DEFAULT_JOBS})")
    gen.add_argument("--timeout", metavar="SECONDS", type=_timeout,
                     default=DEFAULT_TIMEOUT,
                     help=f"give up on a part after this long, retries included "
                          f"(default: {DEFAULT_TIMEOUT:g})")
    gen.add_argument("--describe", metavar="FILE=TEXT", action="append", default=[],
                     type=_description,
                     help="what a missing part is for, told to the model (repeatable)")
    gen.add_argument("--regenerate", metavar="FILE", action="append", default=[],
                     help="generate this part again even though it exists (repeatable)")
    run = parser.add_argument_group(
        "filling and running the toolkit (each run a fresh session)",
        "e.g. %(prog)s -g DEBUG -p crash --task-file bug.md --evidence src/ --run")
    run.add_argument("--task", metavar="TEXT",
                     help="fill the <task> block: what you want done (also writes 02_PROMPT.md)")
    run.add_argument("--task-file", metavar="FILE", help="the task from a file (- = stdin)")
    run.add_argument("--evidence", metavar="PATH", action="append", default=[],
                     help="a file or folder for the <evidence> block (repeatable; - = stdin)")
    run.add_argument("--run", action="store_true",
                     help="send the filled prompt to the model; keep the answer in runs/")
    run.add_argument("--samples", metavar="N", type=_positive_int,
                     help="make sure N independent answers exist (default 1; implies --run)")
    run.add_argument("--again", action="store_true",
                     help="one more answer beside those kept (implies --run)")
    run.add_argument("--max-tokens", metavar="N", type=_positive_int,
                     help="the longest answer the model may give (default: the model's)")
    grade = parser.add_argument_group(
        "grading answers with the scorecard (exit 4 when one fails)",
        "e.g. %(prog)s -g SIMULATE -p cache --task-file task.md --evidence src/ --grade")
    grade.add_argument("--grade", action="store_true",
                       help="grade every answer kept for this task (running it first if need "
                            "be): a PASS/FAIL per criterion")
    grade.add_argument("--answer", metavar="FILE",
                       help="grade this answer, made elsewhere, against the filled toolkit")
    grade.add_argument("--grade-with", metavar="GOAL", default="GRADE",
                       help="the goal whose protocol holds the rubric (default: GRADE)")
    grade.add_argument("--judges", metavar="K", type=_odd_int, default=1,
                       help="independent judgments per answer, verdicts by majority "
                            "(odd; default 1)")
    return parser


def _odd_int(text: str) -> int:
    value = _positive_int(text)
    if value % 2 == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be odd, so a majority always exists")
    return value


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


def _jobs(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most {MAX_JOBS}")
    return value


def _timeout(text: str) -> float:
    value = _positive_float(text)
    if value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most {MAX_TIMEOUT:g} seconds "
                                         "(24 hours)")
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
    streams.set_up()
    try:
        code = _run(argv)
        sys.stdout.flush()  # a full disk or a gone reader shows here, not at exit
    except OSError as e:
        if not streams.stdout_failed(e):
            raise  # not the output: a bug, with its traceback
        return streams.lost_stdout(e)
    return code


def _run(argv: list[str]) -> int:
    # Until the flags parse, a usage error is JSON if --json is among them.
    want_json = "--json" in argv[:argv.index("--")] if "--" in argv else "--json" in argv
    try:
        args = make_parser().parse_args(argv)
        want_json = args.json
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

    if args.init is not None:
        if args.goal or args.project or args.root:
            raise UsageError("--init only copies the built-in library; it takes no "
                             "--goal/--project/--root")
        from pathlib import Path

        from meta_prompting.layers import init_library

        made = init_library(Path(args.init))
        if args.json:
            _print_json(show.init_json(made))
        elif not args.quiet:
            show.init(made)
        return EXIT_OK
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
        from meta_prompting.wizard_run import Asked

        # The run flags answer the wizard's questions after the build, which it then
        # fills and runs itself: the build it starts with is a plain one.
        asked = Asked(**{name: getattr(args, name) for name in Asked._fields})
        vars(args).update(task=None, task_file=None, evidence=[], run=False, samples=None,
                          again=False, grade=False, answer=None)
        # The wizard checks the library itself, to show every problem before asking.
        return run_wizard(root, args.goal, args.project, _options(args), asked)
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
    options = _options(args)
    if args.run:
        return _run_toolkit(library, args, options)
    from meta_prompting.build import build

    with show.retries_told(_retrying(args)):
        report = build(library, args.goal, args.project, options)
    if args.json:
        _print_json({"ok": True, "exit_code": report.exit_code, **report.to_dict()})
    elif not args.quiet:
        show.build(report)
    elif report.exit_code:
        show.incomplete(report)
    return report.exit_code


def _run_toolkit(library: Library, args: argparse.Namespace, options: BuildOptions) -> int:
    from meta_prompting import show
    from meta_prompting.build import default_model
    from meta_prompting.run import RunOptions, Settings, run_toolkit

    quiet = args.quiet or args.json
    stream = None if quiet or args.dry_run or not sys.stdout.isatty() else _stream
    run_options = RunOptions(
        samples=args.samples or 1, again=args.again, jobs=args.jobs, timeout=args.timeout,
        dry_run=args.dry_run, command=rerun_command(options.command, args.goal, args.project)
        + options.suffix, on_text=stream, progress=None if quiet else _progress,
        on_wait=None if quiet else _waiting_run)
    settings = Settings(args.model or default_model(), args.max_tokens)
    if args.grade:
        from meta_prompting.scorecard import GradeOptions, grade_toolkit

        graded = grade_toolkit(library, args.goal, args.project, options, run_options,
                               settings, GradeOptions(args.grade_with, args.judges,
                                                      args.answer))
        if args.json:
            _print_json({"ok": True, "exit_code": graded.exit_code, **graded.built.to_dict(),
                         "run": graded.ran.to_dict() if graded.ran else None,
                         "grade": graded.to_dict()})
        elif not args.quiet:
            show.run(graded.built, graded.ran)
            show.grade(graded)
        return graded.exit_code
    built, ran = run_toolkit(library, args.goal, args.project, options, run_options, settings)
    code = ran.exit_code if ran is not None else max(built.exit_code, EXIT_INCOMPLETE)
    if args.json:
        _print_json({"ok": True, "exit_code": code, **built.to_dict(),
                     "run": ran.to_dict() if ran else None})
    elif not args.quiet:
        show.run(built, ran)
    return code


def _stream(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


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
    filling, suffix = _filling(args)
    return BuildOptions(
        filling=filling, suffix=suffix,
        force=args.force, dry_run=args.dry_run, command=base, generate=not args.no_generate,
        model=args.model, jobs=args.jobs, timeout=args.timeout, describe=dict(args.describe),
        regenerate=frozenset(args.regenerate),
        progress=None if quiet else _progress,
        on_wait=None if quiet else _waiting,
    )


def _filling(args: argparse.Namespace) -> tuple[Filling | None, str]:
    """The task and evidence the flags give, and the flags that say them again."""
    from meta_prompting.evidence import collect, read_task

    args.grade = args.grade or args.answer is not None
    args.run = args.run or bool(args.samples) or args.again or args.grade
    if args.task_file == "-" and "-" in args.evidence:
        raise UsageError("--task-file - and --evidence -: only one can read standard input")
    task = read_task(args.task, args.task_file)
    if args.run and args.no_generate:
        raise UsageError("--run and --no-generate: a run calls the model")
    if task is None:
        if args.run:
            flag = "--grade" if args.grade else "--run"
            raise UsageError(f"{flag} needs a task: give --task TEXT or --task-file FILE")
        if args.evidence:
            raise UsageError("--evidence fills the toolkit's evidence block: give --task "
                             "(or --task-file) too")
        return None, ""
    evidence = collect(args.evidence, task)
    for note in evidence.notes:
        if not (args.quiet or args.json):
            _progress(f"  {note}")
    flags = (f" --task {shlex.quote(args.task)}" if args.task is not None
             else f" --task-file {shlex.quote(args.task_file)}")
    flags += "".join(f" --evidence {shlex.quote(p)}" for p in args.evidence)
    if args.grade:
        flags += " --grade" + (f" --grade-with {args.grade_with}" if args.grade_with != "GRADE"
                               else "") + (f" --judges {args.judges}" if args.judges > 1 else "")
    elif args.run:
        flags += " --run"
    if args.run and args.max_tokens:
        flags += f" --max-tokens {args.max_tokens}"
    return evidence.filling, flags


def _progress(message: str) -> None:
    from meta_prompting.show import printable

    streams.say(printable(message))  # a reason may quote the model or the map


def _waiting(part: Part) -> None:
    _progress(f"  waiting: another run is generating {part.key}")


def _waiting_run(run_id: str) -> None:
    _progress(f"  waiting: another run is making {run_id}")


def _retrying(args: argparse.Namespace) -> Callable[[str], None] | None:
    return None if args.quiet or args.json else lambda note: _progress(f"  {note}")


def _fail(message: str, code: int, want_json: bool, prefix: str = "error: ") -> int:
    from meta_prompting.show import printable

    streams.say(f"{prefix}{printable(message)}")  # one line: a name cannot forge a second
    if want_json:  # the document alone on stdout; the line on stderr is for a person
        _print_json({"ok": False, "error": message, "exit_code": code})
    return code


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_scrubbed(data), indent=2) + "\n")
    sys.stdout.flush()


def _scrubbed(data: Any) -> Any:
    """`data` with any API key scrubbed from its strings; the real text otherwise."""
    from meta_prompting.generate import scrub_secrets

    if isinstance(data, str):
        return scrub_secrets(data)
    if isinstance(data, dict):
        return {k: _scrubbed(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_scrubbed(v) for v in data]
    return data


def _prog() -> str:
    """How the user invoked us, so hints name a command they can paste."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(argv0)
    if name == "meta-prompting":
        return "meta-prompting"
    if name == "__main__.py" and os.path.basename(os.path.dirname(argv0)) == "meta_prompting":
        return "python -m meta_prompting"
    return "python orchestrator.py"
