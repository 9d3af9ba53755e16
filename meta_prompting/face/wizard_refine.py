"""The wizard after a FAIL: the failing criteria and fixes, then "Refine and run again".

A person decides each next attempt: run it with the judge's refinements, edit them
first (in $VISUAL/$EDITOR, else inline), or stop. `--refine N` answers the question for
attempts up to N. The loop is grading.refine's, so every attempt is kept and the same
`--grade --refine N` command finds them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meta_prompting.face import ask

if TYPE_CHECKING:
    from rich.console import Console

    from meta_prompting.face.wizard_run import Asked
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.refine import Attempt
    from meta_prompting.models.base import Model
    from meta_prompting.runs.run import Session
    from meta_prompting.toolkit.build import BuildOptions, BuildReport

REFINE, EDIT, STOP = "Refine and run again", "Edit the refinements, then run again", "Stop here"


def offer_refine(out: Console, built: BuildReport, session: Session, rubric: Rubric,
                 options: BuildOptions, asked: Asked, own: bool, model: Model,
                 judge: tuple[str, Model]) -> int:
    from rich.markup import escape

    from meta_prompting.face import show_refine
    from meta_prompting.face.show import printable
    from meta_prompting.grading.refine import MAX_REFINE, refine
    from meta_prompting.runs.run import RunOptions

    given = asked.refine or 0

    def revise(attempt: Attempt, text: str) -> str | None:
        out.print(f"[bold]Attempt {attempt.number} failed.[/] The next fresh session would "
                  "carry these refinements (never the answer itself):")
        out.print(escape(printable(text, lines=True)), soft_wrap=True)
        if attempt.number < given:  # --refine N answered this question
            return text
        pick = ask.select("What next?", [REFINE, EDIT, STOP])
        if pick == STOP:
            return None
        if pick == EDIT:
            text = ask.edit(text, "refinements.md", lambda line: out.print(escape(line)))
            if not text.strip():
                out.print("The refinements are empty: not run.")
                return None
        return text

    def progress(line: str) -> None:
        out.print(escape(printable(line)), soft_wrap=True)

    report = refine(built.out_dir, session, rubric, asked.judges, model,
                    RunOptions(jobs=options.jobs, timeout=options.timeout, progress=progress),
                    MAX_REFINE, own, revise, judge=judge)
    for attempt in report.attempts:
        out.print("  " + escape(printable(show_refine.attempt_line(attempt))), soft_wrap=True)
    best = report.result
    if best is not None and best.graded is not None:
        verdict = "[green]PASS[/]" if best.passed else "[red]FAIL[/]"
        out.print(f"Result: attempt {best.number}, {verdict}: "
                  f"{escape(str(best.sample.answer_path))}", soft_wrap=True)
    if report.reason:
        out.print(f"Not finished: {escape(report.reason)}", soft_wrap=True)
    return report.exit_code
