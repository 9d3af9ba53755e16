"""--tasks FILE for people and programs: flags checked, the core called, its report shown.

The table is plain aligned lines, at most 60 columns (a row id too long for its
column is cut with "…"; RESULTS.md and --json carry it whole): a thousand kept rows
must cost about what reading their records does, and rich's import alone would be a
large part of that.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.errors import EXIT_INCOMPLETE, UsageError
from meta_prompting.store.record import INCOMPLETE

if TYPE_CHECKING:
    from meta_prompting.face.threshold import PassRate
    from meta_prompting.tasks.runner import RowResult, TasksReport

WIDTH = 60  # the table fits a narrow terminal, a CI log's column, a side-by-side diff
# Flags that fill or run one task, or another mode: the tasks file says what each row is.
_CLASHES = (("--task", "task"), ("--task-file", "task_file"), ("--evidence", "evidence"),
            ("--evidence-all", "evidence_all"), ("--evidence-diff", "evidence_diff"),
            ("--answer", "answer"), ("--again", "again"), ("--fresh", "fresh"),
            ("--chain", "chain"), ("--fresh-stage", "fresh_stage"), ("--list", "list"),
            ("--generate-missing", "generate_missing"))


def run_tasks_cli(root: Path, args: argparse.Namespace,
                  print_json: Callable[[dict[str, Any]], None]) -> int:
    """The --tasks mode: returns the exit code (incomplete 3, a failing row's grade 4)."""
    from meta_prompting.core.tasks import TasksRequest, run_tasks
    from meta_prompting.face.costs import budget_json, budget_of, cost_lines, finishing, held_to
    from meta_prompting.face.exits import exit_of
    from meta_prompting.face.requests import build_request, context_of, progress
    from meta_prompting.face.threshold import gated_exit
    from meta_prompting.library.goals import load_library
    from meta_prompting.tasks.taskfile import load_tasks
    from meta_prompting.toolkit.build import rerun_command

    grade = _check_flags(args)
    library = load_library(root)
    goal = library.goal(args.goal).name
    tasks = load_tasks(Path(args.tasks))
    limit = budget_of(args)
    suffix = _suffix(args, grade, limit)
    ctx, _, _ = context_of(args, root, library, fill=False)  # each row fills the toolkit
    command = rerun_command(ctx.command, goal, args.project) + suffix
    # an incomplete toolkit's hint says the whole command, rows and all
    request = TasksRequest(build_request(args, None, suffix)._replace(goal=goal), tasks,
                           args.samples or 1, grade, args.grade_with, args.judges,
                           args.judge_model, args.refine or 0, args.max_tokens,
                           args.dry_run, command)
    report, held = held_to(limit, ctx.model.name, args.dry_run, lambda estimate, budget: (
        run_tasks(ctx._replace(budget=budget), request._replace(dry_run=estimate)
                  if estimate else request)), lambda r: r.start_estimate)
    report = report._replace(command=finishing(report.command, limit, held))
    rate = pass_rate(report)
    code = gated_exit(exit_of(report), rate, args.min_pass_rate)
    if args.json:
        print_json({"ok": True, "exit_code": code, **report.built.to_dict(),
                    "tasks": tasks_json(report), "pass_rate": rate.to_dict(),
                    **budget_json(limit, held)})
    elif not args.quiet:
        show(report)
        cost_lines(report.estimate if args.dry_run else None, held)
        if told := rate.told(args.min_pass_rate, code):
            progress(told)
    elif code == EXIT_INCOMPLETE:
        from meta_prompting.face.show import unfinished

        unfinished(report.out_dir, report.command)
    elif code:
        from meta_prompting.face.show import failed_scorecard
        from meta_prompting.tasks.results import RESULTS_FILE

        failed_scorecard(report.out_dir / RESULTS_FILE)
    return code


def _check_flags(args: argparse.Namespace) -> bool:
    """Refuse what does not fit --tasks; whether rows are graded."""
    clash = [flag for flag, name in _CLASHES if getattr(args, name)]
    if clash:
        raise UsageError(f"--tasks takes each row's task and evidence from the file, not "
                         f"{', '.join(clash)}")
    if args.goal is None or args.project is None:
        raise UsageError("--tasks needs --goal and --project: the toolkit each row fills, "
                         "and its folder under output/")
    if args.no_generate:
        raise UsageError("--tasks and --no-generate: each row is run, which calls the model")
    grade = args.grade or bool(args.refine)
    if args.refine and args.samples is not None:
        raise UsageError("--refine with --samples: a row's refine loop is one answer at a time")
    if args.junit:
        raise UsageError("--junit with --tasks: not supported yet; RESULTS.md and "
                         "results.jsonl hold every row's verdict")
    if args.min_pass_rate is not None and not grade:
        raise UsageError("--min-pass-rate reports grades: add --grade")
    return grade


def _suffix(args: argparse.Namespace, grade: bool, limit: float | None) -> str:
    """The flags that say this command again after --goal and --project: the command
    that finishes the job is this one, with what it was given."""
    command = f" --tasks {shlex.quote(args.tasks)}"
    if args.samples and args.samples > 1:
        command += f" --samples {args.samples}"
    if grade:
        command += " --grade"
        if args.grade_with:
            command += f" --grade-with {shlex.quote(args.grade_with)}"
        if args.judges > 1:
            command += f" --judges {args.judges}"
        if args.judge_model:
            command += f" --judge-model {shlex.quote(args.judge_model)}"
        if args.refine:
            command += f" --refine {args.refine}"
        if args.min_pass_rate is not None:
            command += f" --min-pass-rate {args.min_pass_rate:g}"
    if args.max_tokens:
        command += f" --max-tokens {args.max_tokens}"
    if limit is not None and args.budget is not None:
        command += f" --budget {limit:g}"
    return command


def pass_rate(report: TasksReport) -> PassRate:
    """--min-pass-rate over rows: a row passes when every answer graded for it does."""
    from meta_prompting.face.threshold import PassRate

    graded = [r.passed for r in report.rows if r.passed is not None]
    return PassRate(sum(graded), len(graded))


def tasks_json(report: TasksReport) -> dict[str, Any]:
    from meta_prompting.tasks.results import row_dict

    return {"file": str(report.tasks.path), "dry_run": report.dry_run,
            "command": report.command, "summary": report.counts(),
            "notes": list(report.notes),
            "rows": [{**row_dict(r, report.out_dir), **_more(r, report)} for r in report.rows],
            **({"estimate": report.estimate} if report.dry_run else {})}


def _more(result: RowResult, report: TasksReport) -> dict[str, Any]:
    """--json's row beyond results.jsonl's: run ids, and a dry run's calls."""
    more: dict[str, Any] = {"run_ids": [s.run_id for s in result.samples]}
    if report.dry_run:
        from meta_prompting.models.budget import ANSWER

        more["would_make"] = {"answers": sum(c.kind == ANSWER for c in result.planned),
                              "judgments": sum(c.kind != ANSWER for c in result.planned)}
    if result.refined is not None:
        more["refine"] = result.refined.to_dict()
    return more


def show(report: TasksReport) -> None:
    """The toolkit in a line, a row a task, the summary, then what to do."""
    from meta_prompting.face.show import build, nice_path, printable, writer
    from meta_prompting.tasks.results import RESULTS_FILE, RESULTS_JSONL, summary

    write = writer()
    built = report.built
    out = nice_path(built.out_dir)
    if built.toolkit is None:
        build(built)  # with the command that finishes it: this one
        if not built.dry_run:
            write("Not run: the toolkit is incomplete, and a placeholder must never reach "
                  "the model.")
        return
    changed = [f.name for f in built.files if f.action != "unchanged"]
    verb = "would write" if built.dry_run else "wrote"
    write(f"Toolkit {out}/ for goal {built.goal}"
          + (f" ({verb} {', '.join(changed)})" if changed else " (unchanged)"))
    sys.stdout.write("\n".join(table(report)) + "\n")
    for r in report.rows:  # a reason is read whole, not folded in a cell
        if r.reason and r.status != "would run":
            write(f"{r.row.id} {r.status}: {r.reason}")
        if any(s.edited for s in r.samples):
            write(f"{r.row.id}: answer edited by hand (kept, and graded as it stands)")
        if any(g.edited for g in r.cards):
            write(f"{r.row.id}: verdict edited by hand")
    write(summary(report))
    if report.dry_run:
        write("Dry run: nothing sent, nothing written.")
        return
    write(f"Results: {out}/{RESULTS_FILE} (for programs: {out}/{RESULTS_JSONL})")
    if report.outcome == INCOMPLETE:
        from meta_prompting.face.show_runs import finish_advice

        write(f"To finish, {finish_advice([r.reason or '' for r in report.rows])}:")
        sys.stdout.write(f"  {printable(report.command)}\n")  # whole, never wrapped


def table(report: TasksReport) -> list[str]:
    """Pure: the rows as aligned lines of at most WIDTH columns."""
    from meta_prompting.face.show import printable
    from meta_prompting.models.prices import money
    from meta_prompting.tasks.results import facts, verdict

    rows = [("row", "status", "verdict", "tokens", "seconds", "cost")]
    for r in report.rows:
        found = facts(r)
        rows.append((printable(r.row.id), r.status, verdict(r),
                     f"{found.tokens:,}" if found.tokens is not None else "",
                     f"{found.seconds:.1f}" if found.seconds is not None else "",
                     money(found.usd) if r.ok and found.tokens is not None else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    room = WIDTH - sum(widths[1:]) - 2 * 5
    widths[0] = max(min(widths[0], room), 3)
    lines = []
    for row in rows:
        cells = [_cut(row[0], widths[0]), *row[1:]]
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
                     .rstrip())
    return lines


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
