"""--run, --grade and --chain on the command line: the core's reports in words, JSON and
an exit code, held to --budget, written as JUnit for CI.

The requests come from face.requests; the work is the core's (core.answers, core.chain).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.errors import EXIT_INCOMPLETE, UsageError
from meta_prompting.face import streams
from meta_prompting.face.costs import budget_json, cost_lines
from meta_prompting.face.exits import exit_of
from meta_prompting.face.requests import progress

if TYPE_CHECKING:
    from meta_prompting.core.answers import GradeRequest
    from meta_prompting.core.build import BuildRequest
    from meta_prompting.core.context import Context

PrintJson = Callable[[dict[str, Any]], None]


def run_toolkit(ctx: Context, args: argparse.Namespace, build: BuildRequest,
                print_json: PrintJson) -> int:
    """--run, --grade (with --answer) and --refine: build, run, grade; say what came of it."""
    from meta_prompting.core import answers
    from meta_prompting.face import show, show_runs
    from meta_prompting.face.costs import budget_of, finishing, held_to
    from meta_prompting.face.requests import grade_request

    quiet = args.quiet or args.json
    stream = None if quiet or args.dry_run or not sys.stdout.isatty() else _stream
    ctx = ctx._replace(events=ctx.events._replace(text=stream))
    request = grade_request(ctx, args, build)
    model = ctx.model.name  # resolved now, before anything is built
    limit = budget_of(args)
    if args.refine:
        # Not yet joined: refusing is better than a JUnit file silently ignored.
        clash = [f for f, v in (("--junit", args.junit),
                                ("--min-pass-rate", args.min_pass_rate)) if v is not None]
        if clash:
            raise UsageError(f"--refine with {' and '.join(clash)}: not supported yet; "
                             "refine first, then grade the kept answers with them")
        from meta_prompting.face.show_refine import refine_toolkit_cli

        return refine_toolkit_cli(ctx, args, request, print_json, limit)
    if args.grade:
        graded, held = held_to(limit, model, args.dry_run, lambda estimate, budget: answers.grade(
            ctx._replace(budget=budget), estimating(request, estimate)), lambda g: g.estimate)
        if graded.ran is not None:
            graded = graded._replace(ran=graded.ran._replace(
                command=finishing(graded.ran.command, limit, held)))
        from meta_prompting.face.threshold import gated_exit, grade_pass_rate

        rate = grade_pass_rate(graded)
        code = gated_exit(exit_of(graded), rate, args.min_pass_rate)
        if args.junit and not args.dry_run:
            from meta_prompting.report.junit import grade_suites, write_junit

            write_junit(args.junit, grade_suites(graded), f"{args.goal} {args.project}")
        if args.json:
            print_json({"ok": True, "exit_code": code, **graded.built.to_dict(),
                        "run": graded.ran.to_dict() if graded.ran else None,
                        "grade": {**graded.to_dict(), "pass_rate": rate.to_dict()},
                        **budget_json(limit, held)})
        elif not args.quiet:
            show_runs.run(graded.built, graded.ran)
            show_runs.grade(graded)
            cost_lines(graded.estimate if args.dry_run else None, held)
            if told := rate.told(args.min_pass_rate, code):
                progress(told)
        elif code == EXIT_INCOMPLETE:
            show.unfinished(graded.built.out_dir, graded.ran.command if graded.ran
                            else graded.built.command)
        elif code:
            card = next(g for g in graded.graded if g.scorecard and not g.scorecard.passed)
            show.failed_scorecard((card.path or card.sample.folder).with_suffix(".md"))
        return code
    (built, ran), held = held_to(limit, model, args.dry_run, lambda estimate, budget: answers.run(
        ctx._replace(budget=budget), estimating(request, estimate).run),
        lambda r: r[1].estimate if r[1] else {})
    if ran is not None:
        ran = ran._replace(command=finishing(ran.command, limit, held))
    code = exit_of(ran) if ran is not None else max(exit_of(built), EXIT_INCOMPLETE)
    if args.json:
        print_json({"ok": True, "exit_code": code, **built.to_dict(),
                    "run": ran.to_dict() if ran else None, **budget_json(limit, held)})
    elif not args.quiet:
        show_runs.run(built, ran)
        cost_lines(ran.estimate if ran and args.dry_run else None, held)
    elif code:
        show.unfinished(built.out_dir, ran.command if ran else built.command)
    return code


def estimating(request: GradeRequest, estimate: bool) -> GradeRequest:
    """The request as --budget's first pass asks it: what it would send, sending nothing."""
    if not estimate:
        return request
    return request._replace(run=request.run._replace(
        dry_run=True, build=request.run.build._replace(dry_run=True)))


def run_chain(root: Path, args: argparse.Namespace, print_json: PrintJson) -> int:
    from meta_prompting.chains.chainfile import load_chain
    from meta_prompting.core.chain import chain as run
    from meta_prompting.face import show, show_runs
    from meta_prompting.face.requests import chain_request, context_of
    from meta_prompting.library.goals import load_library

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
        from meta_prompting.report.junit import check_junit_path

        check_junit_path(args.junit)
    library = load_library(root)
    chain = load_chain(Path(args.chain), library, args.grade_with)
    names = {stage.name for stage in chain.stages}
    for name in args.fresh_stage:
        if name not in names:
            raise UsageError(f"--fresh-stage {name}: {args.chain} has no such stage "
                             f"(its stages: {', '.join(sorted(names))})")
    ctx, _, _ = context_of(args, root, library)
    request = chain_request(ctx, args, chain)
    from meta_prompting.face.costs import budget_of, finishing, held_to

    limit = budget_of(args)
    if limit is not None and args.budget is not None:
        request = request._replace(command=f"{request.command} --budget {limit:g}")
    quiet = ctx._replace(events=ctx.events._replace(progress=None, run_waiting=None))
    from meta_prompting.face.board import close_board, open_board

    board = None if args.quiet or args.json or args.dry_run else open_board()  # states in place
    live = ctx._replace(events=ctx.events._replace(stage=board.set if board else None))
    try:
        report, held = held_to(limit, ctx.model.name, args.dry_run, lambda estimate, budget: run(
            quiet if estimate else live._replace(budget=budget),
            request._replace(dry_run=True) if estimate else request), lambda r: r.start_estimate)
    finally:
        close_board(board)
    report = report._replace(command=finishing(report.command, limit, held))
    from meta_prompting.face.threshold import chain_held_back, chain_pass_rate, gated_exit

    rate = chain_pass_rate(report)
    code = gated_exit(exit_of(report), rate, args.min_pass_rate, chain_held_back(report))
    if args.junit and not args.dry_run:
        from meta_prompting.report.junit import chain_suites, write_junit

        write_junit(args.junit, chain_suites(report), f"chain {args.project}")
    if args.json:
        print_json({"ok": True, "exit_code": code, **report.to_dict(),
                    "pass_rate": rate.to_dict(), **budget_json(limit, held)})
    elif not args.quiet:
        show_runs.chain(report)
        cost_lines(report.estimate if args.dry_run else None, held)
        if told := rate.told(args.min_pass_rate, code):
            progress(told)
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
    streams.stream(printable(text, lines=True))
