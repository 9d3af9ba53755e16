"""--tasks with --grade --refine N: each row its own refine loop, the rows side by side.

A row's attempts are a chain (attempt k+1 carries attempt k's failing scorecard), so
a row is one task of the pool and its loop is --refine's own (`grading.refine`):
each attempt a run and a scorecard like any other, made once. A row whose loop has
ended (a PASS, N attempts, or no progress) is seen on the main thread with a dry run
of its loop, which reads the kept attempts and calls nothing.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from meta_prompting.tasks.plan import WOULD_RUN, Grading, RowPlan
from meta_prompting.tasks.runner import CACHED, FAILED, RAN, Opener, RowResult

if TYPE_CHECKING:
    from meta_prompting.grading.refine import RefineReport
    from meta_prompting.models.base import Model
    from meta_prompting.runs.run import RunOptions, Settings


def refine_rows(plans: tuple[RowPlan, ...], grading: Grading, run_options: RunOptions,
                settings: Settings, limit: int, models: Opener) -> tuple[RowResult, ...]:
    """Every row's loop run to its end, at most --jobs rows at once."""
    from meta_prompting.grading.refine import LIMIT as ENDED
    from meta_prompting.grading.refine import NO_PROGRESS, PASSED

    model = models(None)
    judge = (grading.judge, models(grading.judge_given))
    quiet = run_options._replace(progress=None, on_text=None)
    loop = partial(_loop, grading=grading, model=model, judge=judge, limit=limit)
    results: dict[int, RowResult] = {}
    todo: list[RowPlan] = []
    for plan in plans:
        if plan.problem is not None:
            results[plan.position] = RowResult(plan.row, FAILED, reason=plan.problem)
            continue
        looked = loop(plan, quiet._replace(dry_run=True))
        if looked.stopped in (PASSED, NO_PROGRESS, ENDED) or run_options.dry_run:
            results[plan.position] = _result(plan, looked, grading, run_options.dry_run)
        else:
            todo.append(plan)
    if todo:
        if run_options.progress:
            run_options.progress(f"Refining {len(todo)} row(s) with {settings.model}, at "
                                 f"most {limit} attempt(s) each (each a fresh session)...")
        from meta_prompting.store.step import Workers

        workers: Workers[int, Any] = Workers(run_options.jobs)
        for plan in todo:
            workers.submit(plan.position, partial(loop, plan, quiet))
        errors: list[BaseException] = []
        try:
            while workers.busy:
                index, value, error = workers.next_done()
                if error is not None:
                    if not errors:
                        workers.close()
                    errors.append(error)
                    continue
                assert value is not None
                results[index] = _result(plans[index], value, grading)
                if run_options.progress:
                    run_options.progress(_line(results[index]))
        finally:
            workers.close()
        if errors:
            raise errors[0]
    return tuple(results[p.position] for p in plans)


def _loop(plan: RowPlan, options: RunOptions, *, grading: Grading, model: Model,
          judge: tuple[str, Model], limit: int) -> RefineReport:
    from meta_prompting.grading.refine import refine

    return refine(plan.runs.parent, plan.session, grading.rubric, grading.judges, model,
                  options, limit, grading.own, judge=judge)


def _result(plan: RowPlan, report: RefineReport, grading: Grading,
            dry_run: bool = False) -> RowResult:
    from meta_prompting.grading.refine import BUDGET, INCOMPLETE
    from meta_prompting.grading.scorecard import GRADED

    samples = tuple(a.sample for a in report.attempts)
    graded = tuple(a.graded for a in report.attempts
                   if a.graded is not None and a.graded.scorecard is not None)
    if report.stopped in (INCOMPLETE, BUDGET):
        return RowResult(plan.row, FAILED, samples, graded, report.reason, refined=report)
    if report.stopped == WOULD_RUN:
        return RowResult(plan.row, WOULD_RUN, samples, graded, refined=report,
                         planned=report.worst_calls)
    fresh = not dry_run and (any(s.status == "ran" for s in samples)
                             or any(g.status == GRADED for g in graded))
    return RowResult(plan.row, RAN if fresh else CACHED, samples, graded, refined=report)


def _line(result: RowResult) -> str:
    report = result.refined
    if report is None or result.status == FAILED:
        return f"  failed {result.row.id}: {result.reason}"
    best = report.result
    verdict = "PASS" if best is not None and best.passed else "FAIL"
    return f"  {result.status} {result.row.id}: {verdict} ({report.stopped}, " \
           f"{len(report.attempts)} attempt(s))"
