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

    from meta_prompting.core.answers import GradeRequest
    from meta_prompting.core.context import Context
    from meta_prompting.face.wizard_run import Asked
    from meta_prompting.grading.refine import Attempt

REFINE, EDIT, STOP = "Refine and run again", "Edit the refinements, then run again", "Stop here"


def offer_refine(out: Console, ctx: Context, request: GradeRequest, asked: Asked) -> int:
    """After a FAIL: the refine loop of --grade --refine, each next attempt a person's
    choice (revise); the same core as the flags (core.answers.refine)."""
    from rich.markup import escape

    from meta_prompting.core.answers import refine
    from meta_prompting.face import show_refine
    from meta_prompting.face.exits import exit_of
    from meta_prompting.face.show import printable
    from meta_prompting.grading.refine import MAX_REFINE

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

    built, report = refine(ctx._replace(events=ctx.events._replace(
        progress=progress, revise=revise)), request._replace(refine=MAX_REFINE))
    if report is None:  # a part went missing since the build shown: nothing was sent
        show_refine.show_refine(built, None)
        return exit_of(built)
    for attempt in report.attempts:
        out.print("  " + escape(printable(show_refine.attempt_line(attempt))), soft_wrap=True)
    best = report.result
    if best is not None and best.graded is not None:
        verdict = "[green]PASS[/]" if best.passed else "[red]FAIL[/]"
        out.print(f"Result: attempt {best.number}, {verdict}: "
                  f"{escape(str(best.sample.answer_path))}", soft_wrap=True)
    if report.reason:
        out.print(f"Not finished: {escape(report.reason)}", soft_wrap=True)
    return exit_of(report)
