"""The command line: parse flags, call the core, render its report, map errors to exits.

Only this module decides exit codes and prints errors; everything below it raises.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.errors import (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_USER_ERROR,
    InteractiveSessionRequired,
    MetaPromptingError,
    UsageError,
)
from meta_prompting.face import streams
from meta_prompting.face.flags import check_ci_flags, make_parser
from meta_prompting.face.flags import prog as _prog

if TYPE_CHECKING:
    from meta_prompting.core.context import Context
    from meta_prompting.library.goals import Library

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
    args = None
    try:
        args = make_parser().parse_args(argv)
        want_json = args.json
        return _dispatch(args)
    except SystemExit as e:  # --help and --version print and exit 0
        return int(e.code or 0)
    except KeyboardInterrupt:
        from meta_prompting.face.interrupt import stopped

        return stopped(argv, args, want_json, _print_json)
    except UsageError as e:
        return _fail(f"{e} (see --help)", EXIT_USAGE, want_json)
    except MetaPromptingError as e:
        return _fail(str(e), e.exit_code, want_json)


def _dispatch(args: argparse.Namespace) -> int:
    from meta_prompting.face.exits import exit_of
    from meta_prompting.face.requests import build_request, context_of
    from meta_prompting.library.goals import find_root, load_library

    if args.init is not None:
        if args.goal or args.project or args.root:
            raise UsageError("--init only copies the built-in library; it takes no "
                             "--goal/--project/--root")
        from meta_prompting.core.library import InitRequest, init
        from meta_prompting.face import show

        made = init(InitRequest(Path(args.init)))
        if args.json:
            _print_json(show.init_json(made))
        elif not args.quiet:
            show.init(made)
        return EXIT_OK
    if args.check:
        if args.goal or args.project:
            raise UsageError("--check looks at the whole library; it takes no --goal/--project")
        from meta_prompting.core.library import CheckRequest, check
        from meta_prompting.face import show

        checked = check(_plain_context(find_root(args.root)), CheckRequest(args.chain))
        if args.json:
            _print_json(show.check_json(checked))
        elif not args.quiet or not checked.ok:
            show.check(checked)  # a result, so stdout, even when it finds problems
        return EXIT_OK if checked.ok else EXIT_USER_ERROR
    root = find_root(args.root)
    if args.spent:
        from meta_prompting.face.ledger import show_spent

        return show_spent(root, args)
    if args.runs is not None:
        from meta_prompting.face.history import show_runs

        return show_runs(root, args, _print_json)
    if args.report:
        from meta_prompting.face.report import report as make_report

        return make_report(root, args, _print_json)
    from meta_prompting.face.batch_gate import wants_batch

    if wants_batch(args, root):  # a batch job's work, or one an interactive run must not redo
        from meta_prompting.face.batch_cli import batch_cli
        from meta_prompting.face.requests import progress

        code = batch_cli(root, args, progress=progress, print_json=_print_json)
        if code is not None:
            return code
    if args.tasks is not None:
        from meta_prompting.face.tasks import run_tasks_cli

        return run_tasks_cli(root, args, _print_json)
    if args.chain is not None:
        from meta_prompting.face.answers import run_chain

        return run_chain(root, args, _print_json)
    wants_build = not (args.list or args.generate_missing)
    if wants_build and args.goal is None and args.project is not None:
        from meta_prompting.face.recall import recall_goal
        from meta_prompting.face.requests import progress

        recall_goal(root, args, progress)  # nothing retyped: the toolkit's own goal
    if wants_build and (args.goal is None or args.project is None):
        if args.fresh or args.fresh_stage:
            raise UsageError("--fresh names a kept run: give --goal and --project with it")
        _require_terminal(args)
        from meta_prompting.face.wizard import run_wizard
        from meta_prompting.face.wizard_run import Asked

        # The run flags answer the wizard's questions after the build, which it then
        # fills and runs itself: the build it starts with is a plain one.
        args.grade = args.grade or bool(args.refine)  # --refine N implies --grade
        asked = Asked(**{name: getattr(args, name) for name in Asked._fields})
        check_ci_flags(args, wizard=True)
        vars(args).update(task=None, task_file=None, evidence=[], run=False, samples=None,
                          again=False, grade=False, answer=None, refine=None)
        # The wizard checks the library itself, to show every problem before asking.
        ctx, _, _ = context_of(args, root, None)
        return run_wizard(ctx, args.goal, args.project, build_request(args), asked)
    library = load_library(root)
    if args.list:
        from meta_prompting.core.library import ListRequest, list_goals
        from meta_prompting.face import show

        listings = list_goals(_plain_context(root, library), ListRequest(args.goal))
        if args.project:  # what a person asking about a project wants: its goals' parts
            from meta_prompting.face.history import list_project

            return list_project(root, args, library, listings, _print_json)
        if args.json:
            _print_json(show.list_json(library, listings))
        else:
            show.listing(library, listings)
        return EXIT_OK
    ctx, filling, again = context_of(args, root, library)
    if args.generate_missing:
        from meta_prompting.core.library import FillRequest, fill
        from meta_prompting.face import show

        filled = fill(ctx, FillRequest(args.goal, dict(args.describe),
                                       frozenset(args.regenerate)))
        if args.json:
            _print_json({"ok": True, "exit_code": exit_of(filled), **filled.to_dict()})
        elif not args.quiet or exit_of(filled):
            show.fill(filled)
        return exit_of(filled)
    check_ci_flags(args)
    if args.run:
        from meta_prompting.face.answers import run_toolkit

        return run_toolkit(ctx, args, build_request(args, filling, again), _print_json)
    from meta_prompting.core.build import build
    from meta_prompting.face.costs import budget_json, budget_of, cost_lines, finishing, held_to

    limit, request = budget_of(args), build_request(args, filling, again)
    # Under --budget the parts' estimate is checked first: over it, nothing is written.
    model = ctx.model.name if limit is not None else ""  # a complete build loads no model
    report, held = held_to(limit, model, args.dry_run, lambda estimate, budget: build(
        ctx._replace(budget=budget), request._replace(dry_run=True) if estimate else request),
        lambda r: r.estimate)
    report = report._replace(command=finishing(report.command, limit, held))
    code = exit_of(report)
    if args.json:
        _print_json({"ok": True, "exit_code": code, **report.to_dict(),
                     **budget_json(limit, held)})
    elif not args.quiet:
        from meta_prompting.face import show

        show.build(report)
        cost_lines(report.estimate if args.dry_run and report.planned else None, held)
    elif code:
        from meta_prompting.face import show

        show.incomplete(report)
    return code


def _plain_context(root: Path, library: Library | None = None) -> Context:
    """The context of a mode that calls no model (--check reads the library itself)."""
    from meta_prompting.core.context import Context, ModelChoice

    return Context(root, library, ModelChoice())


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


def _fail(message: str, code: int, want_json: bool, prefix: str = "error: ") -> int:
    from meta_prompting.face.show import printable

    streams.say(f"{prefix}{printable(message)}")  # one line: a name cannot forge a second
    if want_json:  # the document alone on stdout; the line on stderr is for a person
        _print_json({"ok": False, "error": message, "exit_code": code})
    return code


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_scrubbed(data), indent=2) + "\n")
    sys.stdout.flush()


def _scrubbed(data: Any) -> Any:
    """`data` with any API key scrubbed from its strings; the real text otherwise."""
    from meta_prompting.models.keys import scrub_data

    return scrub_data(data)
