"""--grade --refine N for people: a line per attempt, the result, what finishes the job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meta_prompting.errors import EXIT_INCOMPLETE
from meta_prompting.face.show import nice_path, printable, writer

if TYPE_CHECKING:
    from meta_prompting.core.answers import GradeRequest
    from meta_prompting.core.context import Context
    from meta_prompting.grading.refine import Attempt, RefineReport
    from meta_prompting.toolkit.build import BuildReport


def refine_toolkit_cli(ctx: Context, args: argparse.Namespace, request: GradeRequest,
                       print_json: Callable[[dict[str, Any]], None], limit: float | None
                       ) -> int:
    """--grade --refine N, held to --budget: refused when even the next attempt's
    estimate passes it; while looping, no attempt started past it."""
    from meta_prompting.core.answers import refine
    from meta_prompting.face import show
    from meta_prompting.face.answers import estimating
    from meta_prompting.face.costs import budget_json, cost_lines, finishing, held_to
    from meta_prompting.grading.refine import refine_estimates

    model = ctx.model.name

    def work(estimate: bool, budget: Any) -> Any:
        return refine(ctx._replace(budget=budget), estimating(request, estimate))

    def next_estimate(done: Any) -> dict[str, Any]:
        return refine_estimates(done[1], model)[1] if done[1] is not None else {}

    (built, report), held = held_to(limit, model, args.dry_run, work, next_estimate)
    if report is not None:
        report = report._replace(command=finishing(report.command, limit, held))
    worst, first = refine_estimates(report, model) if report and args.dry_run else (None, None)
    from meta_prompting.face.exits import exit_of

    code = exit_of(report) if report else max(exit_of(built), EXIT_INCOMPLETE)
    if args.json:
        print_json({"ok": True, "exit_code": code, **built.to_dict(),
                    "refine": report.to_dict() if report else None,
                    **({"estimate": worst, "next_attempt": first} if worst is not None
                       else {}),
                    **budget_json(limit, held)})
    elif not args.quiet:
        show_refine(built, report)
        cost_lines(worst, held)
    elif code == EXIT_INCOMPLETE:
        show.unfinished(built.out_dir, report.command if report else built.command)
    elif code and report and report.result and report.result.graded:
        best = report.result.graded
        show.failed_scorecard((best.path or best.sample.folder).with_suffix(".md"))
    return code


def attempt_line(attempt: Attempt) -> str:
    """attempt 2  PASS 3/3 criteria  5,120 tokens  4.1s  <run id> (refined from <id>)"""
    from meta_prompting.grading.refine import attempt_cost
    from meta_prompting.grading.scorecard import EDITED_WORDS

    card = attempt.card
    if not attempt.sample.ok:
        verdict = f"not made: {attempt.sample.reason}"
    elif attempt.sample.status == "would run":
        verdict = "would run"
    elif card is None:
        reason = attempt.graded.reason if attempt.graded else None
        verdict = f"not graded: {reason}" if reason else "would be graded"
    else:
        verdict = (f"{'PASS' if card.passed else 'FAIL'} "
                   f"{attempt.passing}/{len(card.rubric.criteria)} criteria")
    tokens, seconds = attempt_cost(attempt)
    cost = "".join((f"  {tokens:,} tokens" if tokens is not None else "",
                    f"  {seconds:.1f}s" if seconds is not None else ""))
    notes = [f"refined from {attempt.parent}"] if attempt.parent else []
    if attempt.sample.status == "cached":
        notes.append("kept")
    if attempt.sample.edited:
        notes.append("answer edited by hand")
    if attempt.graded is not None and attempt.graded.edited:
        notes.append(EDITED_WORDS)
    return (f"attempt {attempt.number}  {verdict}{cost}  {attempt.sample.run_id}"
            + (f" ({', '.join(notes)})" if notes else ""))


def show_refine(built: BuildReport, report: RefineReport | None) -> None:
    from meta_prompting.face import show
    from meta_prompting.grading.refine import (
        BUDGET,
        INCOMPLETE,
        LIMIT,
        NO_PROGRESS,
        PASSED,
        STOPPED,
        WOULD_RUN,
        failing,
    )

    write = writer()
    out = nice_path(built.out_dir)
    if report is None:
        show.build(built)
        if not built.dry_run:
            write("Not run: the toolkit is incomplete, and a placeholder must never reach "
                  "the model.\n")
        return
    changed = [f.name for f in built.files if f.action != "unchanged"]
    verb = "would write" if built.dry_run else "wrote"
    write(f"Toolkit {out}/ for goal {built.goal}"
          + (f" ({verb} {', '.join(changed)})" if changed else " (unchanged)") + "\n")
    for attempt in report.attempts:
        write(f"  {printable(attempt_line(attempt))}\n")
    best = report.result
    where = ""
    if best is not None and best.graded is not None:
        where = (f"{nice_path(best.sample.answer_path)} (scorecard: "
                 f"{nice_path((best.graded.path or best.sample.folder).with_suffix('.md'))})")
    n = len(report.attempts)
    if report.stopped == PASSED:
        write(f"PASS at attempt {n} of at most {report.limit}. Result: {where}\n")
    elif report.stopped == NO_PROGRESS:
        last = report.attempts[-1].card
        assert last is not None
        write(f"Stopped: no progress (attempt {n} failed the same criteria as attempt "
              f"{n - 1}: {', '.join(failing(last))}). Best: attempt {best.number if best else '?'}"
              f", {where}\n")
    elif report.stopped in (LIMIT, STOPPED):
        why = f"in {n} attempts" if report.stopped == LIMIT else f"in {n} attempts (stopped)"
        write(f"No attempt passed {why}. Best: attempt {best.number if best else '?'}, "
              f"{where}\n")
    elif report.stopped == WOULD_RUN:
        write(f"Dry run: attempt {n} would run"
              + (" and be graded" if report.attempts[-1].sample.status == "would run" else
                 " is kept; its grade would be made") + ".\n")
        if report.next_refinements:
            write(f"Its request would carry these refinements (from attempt {n - 1}'s "
                  "scorecard):\n")
            sys.stdout.write(printable(report.next_refinements, lines=True) + "\n")
    elif report.stopped == BUDGET:
        write(f"Stopped: {report.reason}. Every attempt made is kept. To finish, run "
              "it with a larger budget:\n")
        sys.stdout.write(f"  {printable(report.command)}\n")
    elif report.stopped == INCOMPLETE:
        write(f"Not finished: {report.reason}. Every attempt made is kept. To finish, run "
              "the same command again:\n")
        sys.stdout.write(f"  {printable(report.command)}\n")
