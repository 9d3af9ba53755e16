"""scorecard.md: a scorecard's verdicts for a person, with every quote and fix.

Split from `scorecard` (the step that makes and keeps a grade) by what it is: text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meta_prompting.grading.grade import Scorecard
    from meta_prompting.runs.run import Sample


def render_markdown(card: Scorecard, sample: Sample, name: str = "scorecard.md",
                    missing: tuple[str, ...] = ()) -> str:
    """scorecard.md: the same verdicts for a person, with every quote and fix."""
    k = len(card.judgments)
    lines = [f"# Scorecard: {'PASS' if card.passed else 'FAIL'}", "",
             f"Answer: {sample.run_id}/answer.md. Rubric: {card.rubric.goal}. Judges: {k}.",
             "", "| Criterion | Verdict | Votes |", "| --- | --- | --- |"]
    if missing:
        from meta_prompting.grading.structure import lacks_line

        # Checked by the tool before the judges were asked, and given to them as evidence.
        lines[3:3] = [f"Checked before judging: the answer {lacks_line(missing)} (the "
                      "judges were told).", ""]
    parent = sample.record.get("refined_from")
    if isinstance(parent, dict) and isinstance(parent.get("parent"), str):
        # A refined attempt: its request carried the fixes of its parent's scorecard.
        lines[3:3] = [f"Attempt {parent.get('attempt')}, refined from attempt "
                      f"{parent.get('parent_attempt')}: [its scorecard]"
                      f"(../{parent['parent']}/{name}).", ""]
    for name in card.rubric.criteria:
        verdict = "PASS" if card.criterion_passes(name) else "FAIL"
        lines.append(f"| {name} | {verdict} | {card.votes(name)}/{k} |")
    lines += ["", f"Final question: {card.rubric.question} "
                  f"{'YES' if card.path_votes * 2 > k else 'NO'} ({card.path_votes}/{k})", ""]
    for i, judgment in enumerate(card.judgments, 1):
        lines += [f"## Judge {i} ({judgment.model})", ""]
        for v in judgment.verdicts:
            support = "" if v.supported else " (UNSUPPORTED: a quote is not in the answer)"
            lines += [f"### {v.criterion}: {v.verdict}{support}", "", v.reasoning, ""]
            for quote in v.quotes or ("(no quote)",):
                lines += ["\n".join(f"> {line}" for line in quote.splitlines() or [""]), ""]
            if v.fix:
                lines += [f"Fix: {v.fix}", ""]
        lines += [f"Path forward: {judgment.path_forward}. {judgment.path_reason}", ""]
        if judgment.requests > 1:
            lines += [f"({judgment.requests} requests: an invalid judgment or one quoting "
                      "what is not in the answer was asked of a fresh judge again.)", ""]
    return "\n".join(lines)
