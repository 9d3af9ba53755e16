"""A chain stage with "refine": N: its attempts, and their lines in CHAIN.md.

The stage hands on its passing attempt; without one it fails its grade and names the
attempt with the most passing criteria (ties: the later). Every attempt is listed in
CHAIN.md with the scorecard it was refined from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from meta_prompting.chains.chain import (
    CACHED,
    FAILED,
    FAILED_GRADE,
    RAN,
    WOULD_RUN,
    ChainReport,
    StageResult,
)
from meta_prompting.chains.index import _relative

if TYPE_CHECKING:
    from meta_prompting.chains.chainfile import Stage
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.library.goals import Library
    from meta_prompting.models.base import Model
    from meta_prompting.runs.run import RunOptions, Session


def run_refined(library: Library, stage: Stage, out_dir: Path, session: Session,
                run_options: RunOptions, grading: GradeOptions, rubric: Rubric,
                model: Model, judge_model: Model) -> StageResult:
    from meta_prompting.grading.refine import BUDGET, INCOMPLETE, NO_PROGRESS, PASSED, refine

    own = rubric.goal == library.goal(stage.goal).rubric
    report = refine(out_dir, session, rubric, grading.judges, model,
                    run_options._replace(on_text=None, progress=None), stage.refine, own,
                    judge=(grading.judge_model or session.settings.model, judge_model))
    attempts, best = report.attempts, report.result
    n = len(attempts)
    if run_options.dry_run:
        if report.stopped == PASSED and best is not None:
            return StageResult(stage, CACHED, sample=best.sample, graded=best.graded,
                               out_dir=out_dir, sessions=n, attempts=attempts)
        # Its estimate is the worst case: every attempt left made and judged.
        return StageResult(stage, WOULD_RUN, out_dir=out_dir, attempts=attempts,
                           planned=report.worst_calls, first=report.next_calls)
    if report.stopped in (INCOMPLETE, BUDGET):
        return StageResult(stage, FAILED, report.reason, out_dir=out_dir, sessions=n,
                           attempts=attempts)
    fresh = any(a.sample.status == "ran" for a in attempts)
    sample = best.sample if best else None
    graded = best.graded if best else None
    if report.stopped == PASSED:
        return StageResult(stage, RAN if fresh else CACHED, sample=sample, graded=graded,
                           out_dir=out_dir, sessions=n, attempts=attempts)
    why = " (no progress: the last two failed the same criteria)" \
        if report.stopped == NO_PROGRESS else ""
    return StageResult(stage, FAILED_GRADE, f"no attempt passed the scorecard in {n} refined "
                       f"session(s){why}; best: attempt {best.number if best else '?'}",
                       sample=sample, graded=graded, out_dir=out_dir, sessions=n,
                       attempts=attempts)


def attempt_lines(report: ChainReport) -> list[str]:
    """CHAIN.md's section on refined stages: each attempt linked to its parent."""
    refined = any(r.stage.refine for r in report.results if r.attempts)
    lines = ["", "## Refined stages" if refined else "## Graded attempts", "",
             "| Stage | Attempt | Answer | Scorecard | Refined from |",
             "| --- | --- | --- | --- | --- |"]
    for r in report.results:
        by_id = {a.sample.run_id: a for a in r.attempts}
        for a in r.attempts:
            answer = scorecard = parent = ""
            if a.sample.ok and a.sample.status != WOULD_RUN:
                answer = f"[{a.sample.run_id}]({_relative(a.sample.answer_path, report.out_dir)})"
                if a.sample.edited:
                    answer += " (edited by hand)"
            card = a.card
            if card is not None and a.graded is not None and a.graded.path is not None:
                verdict = (f"{'PASS' if card.passed else 'FAIL'} {a.passing}/"
                           f"{len(card.rubric.criteria)}")
                scorecard = (f"[{verdict}]("
                             f"{_relative(a.graded.path.with_suffix('.md'), report.out_dir)})")
                if a.graded.edited:
                    scorecard += " (verdict edited by hand)"
            if a.parent:
                up = by_id.get(a.parent)
                parent = f"attempt {up.number}" if up else a.parent
                if up is not None and up.graded is not None and up.graded.path is not None:
                    parent = (f"[attempt {up.number}]("
                              f"{_relative(up.graded.path.with_suffix('.md'), report.out_dir)})")
            chosen = " (handed on)" if r.ok and r.sample == a.sample else ""
            lines.append(f"| {r.stage.name} | {a.number}{chosen} | {answer} | {scorecard} "
                         f"| {parent} |")
    return lines
