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
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from meta_prompting.face import streams
from meta_prompting.face.costs import budget_json, cost_lines
from meta_prompting.face.flags import (
    check_base_url,
    check_ci_flags,
    check_model,
    ci_suffix,
    make_parser,
)
from meta_prompting.face.flags import prog as _prog
from meta_prompting.toolkit.build import rerun_command

if TYPE_CHECKING:
    from meta_prompting.library.goals import Library, Part
    from meta_prompting.toolkit.build import BuildOptions
    from meta_prompting.toolkit.prompt import Filling

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
    from meta_prompting.face import show
    from meta_prompting.library.goals import find_root, load_library

    if args.init is not None:
        if args.goal or args.project or args.root:
            raise UsageError("--init only copies the built-in library; it takes no "
                             "--goal/--project/--root")
        from pathlib import Path

        from meta_prompting.library.layers import init_library

        made = init_library(Path(args.init))
        if args.json:
            _print_json(show.init_json(made))
        elif not args.quiet:
            show.init(made)
        return EXIT_OK
    if args.check:
        if args.goal or args.project:
            raise UsageError("--check looks at the whole library; it takes no --goal/--project")
        from meta_prompting.library.survey import check_library

        checked = check_library(find_root(args.root), args.chain)
        if args.json:
            _print_json(show.check_json(checked))
        elif not args.quiet or not checked.ok:
            show.check(checked)  # a result, so stdout, even when it finds problems
        return EXIT_OK if checked.ok else EXIT_USER_ERROR
    root = find_root(args.root)
    if args.spent:
        from meta_prompting.face.ledger import show_spent

        return show_spent(root, args)
    if args.report:
        from meta_prompting.report.face import report as make_report

        return make_report(root, args, _print_json)
    from meta_prompting.face.batch_cli import batch_cli, wants_batch

    if wants_batch(args, root):  # a batch job's work, or one an interactive run must not redo
        code = batch_cli(root, args, lambda fill: _options(args, fill), progress=_progress,
                         print_json=_print_json)
        if code is not None:
            return code
    if args.tasks is not None:
        from meta_prompting.tasks.face import run_tasks_cli

        return run_tasks_cli(root, args, _options(args, fill=False), progress=_progress,
                             on_wait=_waiting_run, notice=_retrying(args),
                             print_json=_print_json)
    if args.chain is not None:
        return _run_chain(root, args)
    wants_build = not (args.list or args.generate_missing)
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
        return run_wizard(root, args.goal, args.project, _options(args), asked)
    library = load_library(root)
    if args.list:
        from meta_prompting.library.survey import list_goals

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
        from meta_prompting.parts.fill import fill_library

        filled = fill_library(library, args.goal, _options(args))
        if args.json:
            _print_json({"ok": True, **filled.to_dict()})
        elif not args.quiet or filled.exit_code:
            show.fill(filled)
        return filled.exit_code
    options = _options(args)
    check_ci_flags(args)
    if args.run:
        return _run_toolkit(library, args, options)
    from meta_prompting.toolkit.build import build

    report = build(library, args.goal, args.project, options)
    if args.json:
        _print_json({"ok": True, "exit_code": report.exit_code, **report.to_dict()})
    elif not args.quiet:
        show.build(report)
    elif report.exit_code:
        show.incomplete(report)
    return report.exit_code


def _run_toolkit(library: Library, args: argparse.Namespace, options: BuildOptions) -> int:
    from meta_prompting.face import show, show_runs
    from meta_prompting.models import default_model
    from meta_prompting.runs.run import RunOptions, Settings, run_toolkit

    quiet = args.quiet or args.json
    stream = None if quiet or args.dry_run or not sys.stdout.isatty() else _stream
    run_options = RunOptions(
        samples=args.samples or 1, again=args.again, jobs=args.jobs, timeout=args.timeout,
        dry_run=args.dry_run, command=rerun_command(options.command, args.goal, args.project)
        + options.suffix, on_text=stream, progress=None if quiet else _progress,
        on_wait=None if quiet else _waiting_run, on_notice=_retrying(args),
        fresh=(args.fresh,) if args.fresh else ())
    settings = Settings(args.model or default_model(), args.max_tokens, args.base_url)
    if args.refine:
        # Not yet joined: refusing is better than a budget or a JUnit file silently ignored.
        clash = [f for f, v in (("--budget", args.budget), ("--junit", args.junit),
                                ("--min-pass-rate", args.min_pass_rate)) if v is not None]
        if clash:
            raise UsageError(f"--refine with {' and '.join(clash)}: not supported yet; "
                             "refine first, then grade the kept answers with them")
        from meta_prompting.face.show_refine import refine_toolkit_cli

        return refine_toolkit_cli(library, args, options, run_options, settings,
                                  _retrying(args), _print_json)
    from meta_prompting.face.costs import budget_of, finishing, held_to

    limit = budget_of(args)
    if args.grade:
        from meta_prompting.grading.scorecard import GradeOptions, grade_toolkit

        graded, held = held_to(limit, settings.model, run_options, lambda o: grade_toolkit(
            library, args.goal, args.project, options, o, settings,
            GradeOptions(args.grade_with, args.judges, args.answer, args.judge_model)),
            lambda g: g.estimate)
        if graded.ran is not None:
            graded = graded._replace(ran=graded.ran._replace(
                command=finishing(graded.ran.command, limit, held)))
        from meta_prompting.grading.threshold import gated_exit, grade_pass_rate

        rate = grade_pass_rate(graded)
        code = gated_exit(graded.exit_code, rate, args.min_pass_rate)
        if args.junit and not args.dry_run:
            from meta_prompting.grading.junit import grade_suites, write_junit

            write_junit(args.junit, grade_suites(graded), f"{args.goal} {args.project}")
        if args.json:
            _print_json({"ok": True, "exit_code": code, **graded.built.to_dict(),
                         "run": graded.ran.to_dict() if graded.ran else None,
                         "grade": {**graded.to_dict(), "pass_rate": rate.to_dict()},
                         **budget_json(limit, held)})
        elif not args.quiet:
            show_runs.run(graded.built, graded.ran)
            show_runs.grade(graded)
            cost_lines(graded.estimate if args.dry_run else None, held)
            if told := rate.told(args.min_pass_rate, code):
                _progress(told)
        elif code == EXIT_INCOMPLETE:
            show.unfinished(graded.built.out_dir, graded.ran.command if graded.ran
                            else graded.built.command)
        elif code:
            card = next(g for g in graded.graded if g.scorecard and not g.scorecard.passed)
            show.failed_scorecard((card.path or card.sample.folder).with_suffix(".md"))
        return code
    (built, ran), held = held_to(limit, settings.model, run_options, lambda o: run_toolkit(
        library, args.goal, args.project, options, o, settings),
        lambda r: r[1].estimate if r[1] else {})
    if ran is not None:
        ran = ran._replace(command=finishing(ran.command, limit, held))
    code = ran.exit_code if ran is not None else max(built.exit_code, EXIT_INCOMPLETE)
    if args.json:
        _print_json({"ok": True, "exit_code": code, **built.to_dict(),
                     "run": ran.to_dict() if ran else None, **budget_json(limit, held)})
    elif not args.quiet:
        show_runs.run(built, ran)
        cost_lines(ran.estimate if ran and args.dry_run else None, held)
    elif code:
        show.unfinished(built.out_dir, ran.command if ran else built.command)
    return code


def _run_chain(root: Path, args: argparse.Namespace) -> int:
    from meta_prompting.chains.chain import run_chain
    from meta_prompting.chains.chainfile import load_chain
    from meta_prompting.face import show, show_runs
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.library.goals import load_library
    from meta_prompting.models import default_model
    from meta_prompting.runs.run import RunOptions, Settings

    clash = [flag for flag, given in (
        ("--goal", args.goal), ("--task", args.task), ("--task-file", args.task_file),
        ("--evidence", args.evidence), ("--evidence-all", args.evidence_all),
        ("--evidence-diff", args.evidence_diff),
        ("--run", args.run), ("--samples", args.samples),
        ("--again", args.again), ("--grade", args.grade), ("--answer", args.answer),
        ("--refine", args.refine), ("--fresh", args.fresh),
        ("--list", args.list), ("--generate-missing", args.generate_missing)) if given]
    if clash:
        raise UsageError(f"--chain takes its goals and tasks from the chain file, not "
                         f"{', '.join(clash)}")
    if args.project is None:
        raise UsageError("--chain needs --project: the folder under output/ for its stages")
    if args.junit:
        from meta_prompting.grading.junit import check_junit_path

        check_junit_path(args.junit)
    library = load_library(root)
    chain = load_chain(Path(args.chain), library, args.grade_with)
    names = {stage.name for stage in chain.stages}
    for name in args.fresh_stage:
        if name not in names:
            raise UsageError(f"--fresh-stage {name}: {args.chain} has no such stage "
                             f"(its stages: {', '.join(sorted(names))})")
    options = _options(args)
    command = (f"{options.command} --chain {shlex.quote(args.chain)} "
               f"--project {shlex.quote(args.project)}")
    if args.grade_with is not None:
        command += f" --grade-with {shlex.quote(args.grade_with)}"
    if args.judges > 1:
        command += f" --judges {args.judges}"
    command += ci_suffix(args)
    if args.judge_model is not None:
        command += f" --judge-model {shlex.quote(args.judge_model)}"
    quiet = args.quiet or args.json
    run_options = RunOptions(jobs=args.jobs, timeout=args.timeout, dry_run=args.dry_run,
                             command=command, progress=None if quiet else _progress,
                             on_wait=None if quiet else _waiting_run,
                             on_notice=_retrying(args),
                             fresh_stages=frozenset(args.fresh_stage))
    from meta_prompting.face.costs import budget_of, finishing, held_to

    limit = budget_of(args)
    if limit is not None and args.budget is not None:
        run_options = run_options._replace(command=f"{command} --budget {limit:g}")
    settings = Settings(args.model or default_model(), args.max_tokens, args.base_url)
    report, held = held_to(limit, settings.model, run_options, lambda o: run_chain(
        library, chain, args.project, options, o, settings,
        GradeOptions(args.grade_with, args.judges, judge_model=args.judge_model)),
        lambda r: r.estimate)
    report = report._replace(command=finishing(report.command, limit, held))
    from meta_prompting.grading.threshold import chain_held_back, chain_pass_rate, gated_exit

    rate = chain_pass_rate(report)
    code = gated_exit(report.exit_code, rate, args.min_pass_rate, chain_held_back(report))
    if args.junit and not args.dry_run:
        from meta_prompting.grading.junit import chain_suites, write_junit

        write_junit(args.junit, chain_suites(report), f"chain {args.project}")
    if args.json:
        _print_json({"ok": True, "exit_code": code, **report.to_dict(),
                     "pass_rate": rate.to_dict(), **budget_json(limit, held)})
    elif not args.quiet:
        show_runs.chain(report)
        cost_lines(report.estimate if args.dry_run else None, held)
        if told := rate.told(args.min_pass_rate, code):
            _progress(told)
    elif code == EXIT_INCOMPLETE:
        show.unfinished(report.out_dir, report.command)
    elif code:
        show.failed_scorecard(report.out_dir / "CHAIN.md")
    return code


def _stream(text: str) -> None:
    from meta_prompting.face.show import printable

    # The model's words reach a terminal: an escape sequence in them could retitle it,
    # clear it or fill the clipboard. Each control character is escaped on its own, so
    # a sequence cut across pieces is as harmless as a whole one.
    sys.stdout.write(printable(text, lines=True))
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


def _options(args: argparse.Namespace, fill: bool = True) -> BuildOptions:
    from meta_prompting.toolkit.build import BuildOptions

    base = _prog()
    if args.root:
        base += f" --root {shlex.quote(args.root)}"
    if args.model:
        base += f" --model {shlex.quote(args.model)}"
    if args.base_url:
        base += f" --base-url {shlex.quote(args.base_url)}"
    quiet = args.quiet or args.json
    check_model(args.model)
    check_model(args.judge_model, "--judge-model")
    check_base_url(args.base_url)
    filling, suffix = _filling(args) if fill else (None, "")  # --tasks: a filling a row
    return BuildOptions(
        filling=filling, suffix=suffix,
        force=args.force, dry_run=args.dry_run, command=base, generate=not args.no_generate,
        model=args.model, base_url=args.base_url, jobs=args.jobs, timeout=args.timeout,
        describe=dict(args.describe),
        regenerate=frozenset(args.regenerate),
        progress=None if quiet else _progress,
        on_wait=None if quiet else _waiting,
        on_notice=_retrying(args),
    )


def _filling(args: argparse.Namespace) -> tuple[Filling | None, str]:
    """The task and evidence the flags give, and the flags that say them again."""
    from meta_prompting.evidence.read import collect, read_task

    args.grade = args.grade or args.answer is not None or bool(args.refine)
    if args.refine and (args.samples or args.again or args.answer is not None):
        flag = "--samples" if args.samples else "--again" if args.again else "--answer"
        raise UsageError(f"--refine and {flag}: a refine loop is one answer at a time, each "
                         "attempt refined from the one before")
    if args.fresh and (args.answer is not None or args.refine):
        raise UsageError(f"--fresh and {'--answer' if args.answer else '--refine'}: --fresh "
                         "makes one kept sample again; give it alone")
    if args.fresh_stage and args.chain is None:
        raise UsageError("--fresh-stage names a stage of a chain: give it with --chain")
    args.run = args.run or bool(args.samples) or args.again or args.grade or bool(args.fresh)
    if args.task_file == "-" and "-" in args.evidence:
        raise UsageError("--task-file - and --evidence -: only one can read standard input")
    task = read_task(args.task, args.task_file)
    if args.run and args.no_generate:
        raise UsageError("--run and --no-generate: a run calls the model")
    if task is None:
        if args.run:
            flag = "--grade" if args.grade else "--run"
            raise UsageError(f"{flag} needs a task: give --task TEXT or --task-file FILE")
        if args.evidence or args.evidence_diff:
            flag = "--evidence" if args.evidence else "--evidence-diff"
            raise UsageError(f"{flag} fills the toolkit's evidence block: give --task "
                             "(or --task-file) too")
        return None, ""
    from meta_prompting.library.goals import find_root
    from meta_prompting.library.layers import OUTPUT

    evidence = collect(args.evidence, task, everything=args.evidence_all,
                       skip=(find_root(args.root) / OUTPUT,))
    if args.evidence_diff is not None:
        from meta_prompting.evidence.diff import add_diff

        evidence = add_diff(evidence, args.evidence_diff)
    for note in evidence.notes:
        if not (args.quiet or args.json):
            _progress(f"  {note}")
    flags = (f" --task {shlex.quote(args.task)}" if args.task is not None
             else f" --task-file {shlex.quote(args.task_file)}")
    flags += "".join(f" --evidence {shlex.quote(p)}" for p in args.evidence)
    if args.evidence_all and args.evidence:
        flags += " --evidence-all"
    if args.evidence_diff is not None:
        flags += f" --evidence-diff {shlex.quote(args.evidence_diff)}"
    if args.grade:
        flags += " --grade" + (f" --grade-with {args.grade_with}" if args.grade_with
                               else "") + (f" --judges {args.judges}" if args.judges > 1 else "")
        flags += ci_suffix(args)
        flags += f" --refine {args.refine}" if args.refine else ""
        if args.judge_model:
            flags += f" --judge-model {shlex.quote(args.judge_model)}"
    elif args.run:
        flags += " --run"
    if args.run and args.max_tokens:
        flags += f" --max-tokens {args.max_tokens}"
    return evidence.filling, flags


def _progress(message: str) -> None:
    from meta_prompting.face.show import printable

    streams.say(printable(message))  # a reason may quote the model or the map


def _waiting(part: Part) -> None:
    _progress(f"  waiting: another run is generating {part.key}")


def _waiting_run(run_id: str) -> None:
    _progress(f"  waiting: another run is making {run_id}")


def _retrying(args: argparse.Namespace) -> Callable[[str], None] | None:
    return None if args.quiet or args.json else lambda note: _progress(f"  {note}")


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
