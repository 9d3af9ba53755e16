"""Refining after a failing scorecard: the next attempt a fresh session, every one kept.

Appendix D's loop: a simulation that fails the scorecard is run again in a new,
clean-slate session whose request carries what the judge found. Attempt k+1 is the
same toolkit with a <refinements> block before the task (the task stays last, as both
vendors advise for long inputs), holding attempt k's failing criteria, the judge's
reasons and its fixes, written as instructions. The failed answer itself is never
sent: the new session must not inherit it.

Each attempt is a run like any other (`runs/<id>/`, keyed by what it was sent, so the
refinements are in its key) with its own scorecard, and its run.json says which
attempt it was refined from. Re-running walks the kept attempts and makes only what
is missing; an answer or scorecard a person edited is what the next attempt refines
from. The loop stops at the first PASS, after N attempts, or when an attempt fails
exactly the criteria the one before failed (no progress).

Under --budget an attempt (its answer and its judgments) starts only when its estimate
fits in what is left; otherwise the loop stops there (BUDGET) with every attempt made
kept, and a larger budget makes exactly the attempts still missing. A dry run's
estimate is the worst case: every attempt up to the limit made and judged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.errors import GenerationError
from meta_prompting.store.files import sha256_bytes
from meta_prompting.toolkit.prompt import pick_tag

if TYPE_CHECKING:
    from meta_prompting.grading.grade import Rubric, Scorecard
    from meta_prompting.grading.scorecard import Graded
    from meta_prompting.models.base import Model, ModelRequest, Reply
    from meta_prompting.models.budget import Planned
    from meta_prompting.runs.run import RunOptions, Sample, Session

MAX_REFINE = 10  # attempts in one loop: as many as a chain's "attempts" allows
PASSED, NO_PROGRESS, LIMIT, INCOMPLETE = "passed", "no progress", "limit", "incomplete"
WOULD_RUN, STOPPED, BUDGET = "would run", "stopped", "budget"
FINAL_QUESTION = "Final question"

REFINEMENTS_INTRO = """\
This request was sent before, in another fresh session, and that answer failed the
scorecard it is graded with. That answer is not shown and must not be guessed at:
write a new answer from the evidence above. Apply every refinement below, and keep
meeting the criteria it does not name."""

# A person's edit of the refinements, or None to stop refining (the wizard's hook).
Revise = Callable[["Attempt", str], "str | None"]


class Attempt(NamedTuple):
    number: int  # 1: the toolkit as built; k+1: refined from attempt k's scorecard
    sample: Sample
    graded: Graded | None = None
    parent: str | None = None  # the run id of the attempt it was refined from
    refinements: str = ""  # what its request carried ("" for attempt 1)

    @property
    def card(self) -> Scorecard | None:
        return self.graded.scorecard if self.graded is not None else None

    @property
    def passed(self) -> bool:
        return self.card is not None and self.card.passed

    @property
    def passing(self) -> int:
        card = self.card
        return 0 if card is None else sum(card.criterion_passes(c)
                                          for c in card.rubric.criteria)

    def to_dict(self) -> dict[str, Any]:
        from meta_prompting.grading.scorecard import _graded_dict

        card = self.card
        tokens, seconds = attempt_cost(self)
        return {"attempt": self.number, "run_id": self.sample.run_id,
                "status": self.sample.status, "refined_from": self.parent,
                "refinements_sha256": digest(self.refinements) if self.refinements else None,
                "passed": None if card is None else card.passed,
                "criteria_passed": None if card is None else self.passing,
                "criteria": None if card is None else len(card.rubric.criteria),
                "tokens": tokens, "seconds": seconds, "edited": self.sample.edited,
                "answer": str(self.sample.answer_path) if self.sample.ok else None,
                "grade": _graded_dict(self.graded) if self.graded is not None else None}


class RefineReport(NamedTuple):
    attempts: tuple[Attempt, ...]
    stopped: str  # PASSED, NO_PROGRESS, LIMIT, INCOMPLETE, WOULD_RUN, STOPPED or BUDGET
    limit: int
    command: str  # the command that finishes the job
    reason: str | None = None  # why it is incomplete
    next_refinements: str | None = None  # dry run: what the next attempt would carry
    next_calls: tuple[Planned, ...] = ()  # dry run: the calls of the next attempt
    worst_calls: tuple[Planned, ...] = ()  # dry run: those of every attempt left to make

    @property
    def result(self) -> Attempt | None:
        """The passing attempt, else the one with most passing criteria (ties: later)."""
        graded = [a for a in self.attempts if a.card is not None]
        if not graded:
            return None
        return max(graded, key=lambda a: (a.passed, a.passing, a.number))

    @property
    def outcome(self) -> str:
        from meta_prompting.store import record as records

        if self.stopped in (INCOMPLETE, BUDGET):
            return records.INCOMPLETE
        return records.DONE if self.stopped in (WOULD_RUN, PASSED) else records.FAILS

    def to_dict(self) -> dict[str, Any]:
        best = self.result
        return {"limit": self.limit, "stopped": self.stopped, "reason": self.reason,
                "result": best.sample.run_id if best else None, "command": self.command,
                "next_refinements": self.next_refinements,
                "attempts": [a.to_dict() for a in self.attempts]}


def failing(card: Scorecard) -> tuple[str, ...]:
    """What a scorecard fails: its criteria, and the final question as one more."""
    names = tuple(c for c in card.rubric.criteria if not card.criterion_passes(c))
    return names + ((FINAL_QUESTION,) if card.path_votes * 2 <= len(card.judgments) else ())


def refinements_of(card: Scorecard) -> str:
    """Pure: the refinements a failing scorecard gives the next fresh session.

    Per failing criterion, the judges' reasons (only where their quotes were found in
    the answer: an unsupported verdict's reasoning rests on words the answer lacks) and
    their fixes, each said once. Never a quote: quotes are the failed answer's words.
    """
    from meta_prompting.models.keys import scrub_secrets

    lines = [REFINEMENTS_INTRO, ""]
    for n, name in enumerate(failing(card), 1):
        lines.append(f"{n}. {name}")
        if name == FINAL_QUESTION:
            why = _unique(j.path_reason for j in card.judgments if j.path_forward != "YES")
            lines.append(f"   The judge answered NO to: {card.rubric.question}")
            lines += [f"   Why: {_one_line(w)}" for w in why]
            lines.append("   Refinement: make the answer's path forward clear, actionable "
                         "and better than the alternatives, as the protocol asks.")
            continue
        verdicts = [v for j in card.judgments for v in j.verdicts
                    if v.criterion == name and not v.passed]
        reasons = _unique(v.reasoning for v in verdicts if v.supported)
        if any(not v.supported for v in verdicts):
            lines.append("   The judge's quotes for it were not in the answer: the answer "
                         "must say, in words that can be quoted, how it meets this.")
        lines += [f"   Why it failed: {_one_line(r)}" for r in reasons]
        fixes = _unique(v.fix for v in verdicts)
        lines += [f"   Refinement: {_one_line(f)}" for f in fixes] or [
            "   Refinement: meet this criterion fully, as the grading protocol states it."]
    return scrub_secrets("\n".join(lines).rstrip("\n"))


def with_refinements(prompt: str, refinements: str) -> str:
    """Pure: `prompt` (a rendered toolkit prompt) with a <refinements> block placed just
    before its <task> block, so the task and the closing line stay last."""
    closes = list(re.finditer(r"^</(task(?:-\d+)?)>$", prompt, re.MULTILINE))
    if not closes:
        raise ValueError("the prompt has no <task> block")
    tag = closes[-1].group(1)
    # The task's tag is one no supplied text mentions (pick_tag), so its opening line
    # before the closing one is ours.
    at = prompt.rfind(f"\n<{tag}>\n", 0, closes[-1].start()) + 1
    if at == 0:
        raise ValueError("the prompt's <task> block has no opening tag")
    own = pick_tag("refinements", [prompt, refinements])
    block = f"<{own}>\n{refinements.strip(chr(10))}\n</{own}>\n\n"
    return prompt[:at] + block + prompt[at:]


def digest(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def attempt_cost(attempt: Attempt) -> tuple[int | None, float | None]:
    """(tokens of the session and its judges, the session's seconds), as recorded."""
    used = attempt.sample.record.get("tokens") or {}
    total = used.get("total") if isinstance(used, dict) else None
    card = attempt.card
    if card is not None:
        judged = [j.tokens.get("total") for j in card.judgments if isinstance(j.tokens, dict)]
        if total is not None or any(judged):
            total = (total or 0) + sum(t for t in judged if isinstance(t, int))
    seconds = attempt.sample.record.get("seconds")
    return total, seconds if isinstance(seconds, (int, float)) else None


def refine(out_dir: Path, base: Session, rubric: Rubric, judges: int, model: Model,
           run_options: RunOptions, limit: int, own: bool = True,
           revise: Revise | None = None, judge: tuple[str, Model] | None = None
           ) -> RefineReport:
    """Attempts until one passes, `limit` are made, or one makes no progress; each made
    once, so re-running makes exactly what is still missing."""
    from meta_prompting.grading.scorecard import grade_sample
    from meta_prompting.runs.run import Session, run_samples

    # The judges stay with the answers unless named (--judge-model): (name, model).
    judge_name, judge_model = judge or (base.settings.model, model)
    attempts: list[Attempt] = []
    session, lineage, text, parent = base, None, "", None
    command = run_options.command
    say = run_options.progress
    budget = None if run_options.dry_run else run_options.budget
    for number in range(1, limit + 1):
        if budget is not None:
            look = _look(out_dir, session, run_options, lineage, model)
            calls = attempt_calls(look, session, rubric, judges, judge_name, own)
            if calls:
                from meta_prompting.models.budget import estimate_plan
                from meta_prompting.models.prices import money

                usd = estimate_plan(session.settings.model, calls)["usd"] or 0.0
                if not budget.affords(usd, len(calls)):
                    return RefineReport(tuple(attempts), BUDGET, limit, command,
                                        f"attempt {number} not started: its estimate "
                                        f"({money(usd)}) would pass the budget")
        if say and lineage is not None:
            say(f"Attempt {number}: a fresh session refined from {parent}...")
        ran = run_samples(out_dir, session, run_options._replace(
            samples=1, again=False, lineage=lineage,
            on_text=run_options.on_text if number == 1 else None), model)
        command = ran.command if number == 1 else command
        sample = ran.samples[0]
        attempt = Attempt(number, sample, None, parent, text)
        if run_options.dry_run:
            card = _kept_grade(sample, session, rubric, judges, judge_name, judge_model,
                               run_options, own)
            attempts.append(attempt._replace(graded=card))
            if card is None or card.scorecard is None:
                calls = attempt_calls(sample, session, rubric, judges, judge_name, own)
                later = attempt_calls(sample._replace(status=WOULD_RUN, folder=out_dir / "-"),
                                      session, rubric, judges, judge_name, own)
                return RefineReport(tuple(attempts), WOULD_RUN, limit, command,
                                    next_refinements=text or None, next_calls=tuple(calls),
                                    worst_calls=tuple(calls + later * (limit - number)))
        elif not sample.ok:
            attempts.append(attempt)
            return RefineReport(tuple(attempts), INCOMPLETE, limit, ran.command,
                                f"attempt {number}: {sample.reason}")
        else:
            graded = grade_sample(sample, session, rubric, judges, judge_name,
                                  judge_model, run_options.timeout, own)
            attempts.append(attempt._replace(graded=graded))
            if graded.scorecard is None:
                return RefineReport(tuple(attempts), INCOMPLETE, limit, command,
                                    f"attempt {number}'s grade: {graded.reason}")
        done = attempts[-1]
        assert done.card is not None
        if done.card.passed:
            return RefineReport(tuple(attempts), PASSED, limit, command)
        if len(attempts) > 1 and failing(attempts[-2].card) == failing(done.card):  # type: ignore[arg-type]
            return RefineReport(tuple(attempts), NO_PROGRESS, limit, command)
        if number == limit:
            return RefineReport(tuple(attempts), LIMIT, limit, command)
        text = refinements_of(done.card)
        if revise is not None:
            revised = revise(done, text)
            if revised is None:
                return RefineReport(tuple(attempts), STOPPED, limit, command)
            text = revised
        parent = sample.run_id
        session = Session(base.system, with_refinements(base.prompt, text), base.settings)
        edited = [w for w, yes in (("answer", sample.edited),
                                   ("scorecard", done.graded is not None and done.graded.edited))
                  if yes]
        lineage = {"attempt": number + 1, "parent": parent, "parent_attempt": number,
                   "parent_edited": edited, "refinements_sha256": digest(text),
                   "revised_by_hand": revise is not None and text != refinements_of(done.card)}
    return RefineReport(tuple(attempts), LIMIT, limit, command)


def attempt_calls(sample: Sample, session: Session, rubric: Rubric, judges: int,
                  judge_name: str, own: bool) -> list[Planned]:
    """The calls one attempt would make: its answer unless kept, its judgments unless
    kept. Later attempts' prompts are taken to be this one's (their refinements are
    not written yet)."""
    from meta_prompting.grading.scorecard import planned_judgments
    from meta_prompting.runs.run import planned_answers

    return planned_answers(session, (sample,)) + planned_judgments(
        sample, session, rubric, judges, judge_name, own)


def _look(out_dir: Path, session: Session, run_options: RunOptions,
          lineage: dict[str, Any] | None, model: Model) -> Sample:
    """The next attempt's answer as a dry run sees it: kept, or to be made."""
    from meta_prompting.runs.run import run_samples

    return run_samples(out_dir, session, run_options._replace(
        samples=1, again=False, lineage=lineage, dry_run=True, on_text=None, progress=None,
        on_wait=None), model).samples[0]


def _kept_grade(sample: Sample, session: Session, rubric: Rubric, judges: int,
                judge_name: str, judge_model: Model, run_options: RunOptions, own: bool
                ) -> Graded | None:
    """A dry run's look at a kept attempt's scorecard: never a call, never a lock."""
    from meta_prompting.grading.scorecard import grade_sample, scorecard_stem

    stem = scorecard_stem(rubric, own, judges)
    if sample.status == WOULD_RUN or not (sample.folder / f"{stem}.json").is_file():
        return None

    graded = grade_sample(sample, session, rubric, judges, judge_name,
                          _NoCall(judge_model.name, judge_model.provider),
                          run_options.timeout, own, repair=False)
    return graded if graded.scorecard is not None else None


def _unique(items: Any) -> list[str]:
    seen: list[str] = []
    for item in items:
        item = item.strip() if isinstance(item, str) else ""
        if item and item not in seen:
            seen.append(item)
    return seen


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _NoCall:
    """The judge of a dry run: any call is refused, so a kept scorecard is only read."""

    def __init__(self, name: str, provider: str) -> None:
        self.name, self.provider = name, provider

    def complete(self, request: ModelRequest, *, on_text: Callable[[str], None] | None = None,
                 on_notice: Callable[[str], None] | None = None) -> Reply:
        raise GenerationError("a dry run makes no call")


def refine_estimates(report: RefineReport, model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dry run's estimates: the worst case (every attempt left made and judged) and the
    next attempt alone (what a budget must hold for the loop to start)."""
    from meta_prompting.models.budget import estimate_plan

    left = report.limit - len(report.attempts) + 1 if report.next_calls else 0
    worst = {**estimate_plan(model, report.worst_calls), "worst_case": True,
             "attempts": left}
    return worst, estimate_plan(model, report.next_calls)
