"""Grading kept answers: each scorecard a step, keyed by everything the judge was given.

`runs/<run-id>/scorecard.json` (and a readable `scorecard.md`) is keyed by the answer
as it now stands (a person's edit included), the rubric, the judge model and the number
of judges: grading the same answer again makes no call, and an edit makes it judge
again. A grade that cannot be made writes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting import __version__
from meta_prompting.errors import EXIT_INCOMPLETE, EXIT_OK, GenerationError
from meta_prompting.files import (
    RECORD_LIMIT,
    read_regular,
    remove_stale_temporaries,
    sha256_bytes,
    write_atomic,
)
from meta_prompting.grade import (
    DEFAULT_RUBRIC,
    Judgment,
    Rubric,
    Scorecard,
    Verdict,
    judge,
    judge_prompt,
    schema,
)
from meta_prompting.run import RunOptions, Sample, Session, read_answer

if TYPE_CHECKING:
    from meta_prompting.build import BuildOptions, BuildReport
    from meta_prompting.library import Library
    from meta_prompting.run import Call, RunReport, Settings

EXIT_FAILS_SCORECARD = 4  # made for CI: an answer was graded and did not pass
CACHED, GRADED, NOT_GRADED = "cached", "graded", "failed"


class Graded(NamedTuple):
    sample: Sample
    status: str  # CACHED, GRADED or NOT_GRADED
    scorecard: Scorecard | None = None
    reason: str | None = None
    path: Path | None = None


class GradeOptions(NamedTuple):
    rubric: str = DEFAULT_RUBRIC
    judges: int = 1
    answer: str | None = None  # --answer FILE: grade this instead of running


class GradeReport(NamedTuple):
    built: BuildReport
    ran: RunReport | None
    graded: tuple[Graded, ...]
    judges: int = 1

    @property
    def exit_code(self) -> int:
        if self.ran is None or self.ran.exit_code or any(
                g.status == NOT_GRADED for g in self.graded):
            return EXIT_INCOMPLETE
        if any(g.scorecard is not None and not g.scorecard.passed for g in self.graded):
            return EXIT_FAILS_SCORECARD
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"judges": self.judges, "passed": sum(
            g.scorecard is not None and g.scorecard.passed for g in self.graded),
                "graded": [_graded_dict(g) for g in self.graded]}


def grade_toolkit(library: Library, goal: str, project: str, build_options: BuildOptions,
                  run_options: RunOptions, settings: Settings, options: GradeOptions
                  ) -> GradeReport:
    """Build, run what is missing (or import --answer), then grade every answer kept
    for the current inputs: the one core of --grade."""
    from meta_prompting.build import build
    from meta_prompting.grade import read_rubric
    from meta_prompting.run import LazyCall, existing_numbers, import_answer, run_samples

    rubric = read_rubric(library, options.rubric)  # a rubric it cannot read: before any call
    built = build(library, goal, project, build_options)
    if built.filled is None:
        return GradeReport(built, None, (), options.judges)
    session = Session(built.filled[0], built.filled[1], settings)
    if options.answer is not None:
        ran = import_answer(built.out_dir, session, options.answer, run_options.command)
    else:
        have = existing_numbers(built.out_dir / "runs", session.key)
        run_options = run_options._replace(samples=max(run_options.samples, *have, 1))
        ran = run_samples(built.out_dir, session, run_options,
                          LazyCall(settings.model, run_options.timeout))
    if run_options.dry_run:
        return GradeReport(built, ran, (), options.judges)
    call = LazyCall(settings.model, run_options.timeout)
    tasks = [partial(grade_sample, s, session, rubric, options.judges, settings.model, call,
                     run_options.timeout) for s in ran.samples if s.ok]
    from meta_prompting.step import run_all

    return GradeReport(built, ran, tuple(run_all(run_options.jobs, tasks)), options.judges)


def grade_sample(sample: Sample, session: Session, rubric: Rubric, judges: int, model: str,
                 call: Call, timeout: float) -> Graded:
    """One answer's scorecard: found when kept for the same inputs, else made once."""
    from meta_prompting.step import StepFailed, ensure, run_all

    answer = read_answer(sample)
    prompt = judge_prompt(rubric, session.system, session.prompt, answer)
    key = sha256_bytes(json.dumps({"system": rubric.system, "prompt": prompt, "model": model,
                                   "judges": judges, "schema": schema(rubric)},
                                  sort_keys=True).encode("utf-8"))
    stem = "scorecard" if rubric.goal == DEFAULT_RUBRIC else f"scorecard-{rubric.goal.lower()}"
    path = sample.folder / f"{stem}.json"

    def look() -> Graded | None:
        try:
            data = json.loads(read_regular(path, RECORD_LIMIT, follow_links=False))
            if data.get("key") == key:
                return Graded(sample, CACHED, _from_dict(rubric, data), path=path)
        except (OSError, ValueError, RecursionError, TypeError, KeyError, AttributeError):
            pass
        return None

    def make() -> Graded:
        try:
            judged = run_all(judges, [partial(judge, call, rubric, prompt, answer)] * judges)
        except GenerationError as e:
            return Graded(sample, NOT_GRADED, reason=str(e))
        card = Scorecard(rubric, tuple(judged))
        record = _to_dict(card, key, model, answer)
        try:
            write_atomic(path.with_suffix(".md"), render_markdown(card, sample).encode("utf-8"))
            write_atomic(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
        except OSError as e:
            return Graded(sample, NOT_GRADED, reason=f"cannot write {path}: {e.strerror}")
        return Graded(sample, GRADED, card, path=path)

    try:
        return ensure(sample.folder.parent / f".{sample.run_id}.{stem}.lock", look, make,
                      timeout=timeout * 2 + 30, what=f"the scorecard of {sample.run_id}",
                      clean=lambda: clear_dead_writes(path))[1]
    except StepFailed as e:
        return Graded(sample, NOT_GRADED, reason=e.reason)


def clear_dead_writes(path: Path) -> None:
    """Remove the temporary files a run killed mid-write of this scorecard left.

    Called under the scorecard's lock, so no living run is writing them; without it a
    kill between the two writes left a hidden file in the run folder for good.
    """
    for name in (path.with_suffix(".md").name, path.name):
        remove_stale_temporaries(path.parent, name, live_writers=False)


def render_markdown(card: Scorecard, sample: Sample) -> str:
    """scorecard.md: the same verdicts for a person, with every quote and fix."""
    k = len(card.judgments)
    lines = [f"# Scorecard: {'PASS' if card.passed else 'FAIL'}", "",
             f"Answer: {sample.run_id}/answer.md. Rubric: {card.rubric.goal}. Judges: {k}.",
             "", "| Criterion | Verdict | Votes |", "| --- | --- | --- |"]
    for name in card.rubric.criteria:
        verdict = "PASS" if card.criterion_passes(name) else "FAIL"
        lines.append(f"| {name} | {verdict} | {card.votes(name)}/{k} |")
    lines += ["", f"Final question: {card.rubric.question} "
                  f"{'YES' if card.path_votes * 2 > k else 'NO'} ({card.path_votes}/{k})", ""]
    for i, judgment in enumerate(card.judgments, 1):
        lines += [f"## Judge {i} ({judgment.model})", ""]
        for v in judgment.verdicts:
            support = "" if v.supported else " (UNSUPPORTED: the quote is not in the answer)"
            lines += [f"### {v.criterion}: {v.verdict}{support}", "", v.reasoning, "",
                      f"> {v.quote}", ""]
            if v.fix:
                lines += [f"Fix: {v.fix}", ""]
        lines += [f"Path forward: {judgment.path_forward}. {judgment.path_reason}", ""]
    return "\n".join(lines)


def _to_dict(card: Scorecard, key: str, model: str, answer: str) -> dict[str, Any]:
    return {
        "tool": "meta-prompting", "version": __version__, "key": key,
        "rubric": card.rubric.goal, "rubric_sha256": card.rubric.sha256,
        "criteria": list(card.rubric.criteria), "question": card.rubric.question,
        "judge_model": model, "judges": len(card.judgments),
        "answer_sha256": sha256_bytes(answer.encode("utf-8")),
        "passed": card.passed,
        "majority": {c: {"passed": card.criterion_passes(c), "votes": card.votes(c)}
                     for c in card.rubric.criteria},
        "path_forward": {"yes": card.path_votes, "passed": card.path_votes * 2 > len(
            card.judgments)},
        "judgments": [{"model": j.model, "tokens": j.tokens, "path_forward": j.path_forward,
                       "path_reason": j.path_reason,
                       "verdicts": [v._asdict() for v in j.verdicts]} for j in card.judgments],
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _from_dict(rubric: Rubric, data: dict[str, Any]) -> Scorecard:
    judgments = tuple(Judgment(tuple(Verdict(**v) for v in j["verdicts"]), j["path_forward"],
                               j["path_reason"], j["model"], j["tokens"])
                      for j in data["judgments"])
    return Scorecard(rubric, judgments)


def _graded_dict(g: Graded) -> dict[str, Any]:
    card = g.scorecard
    out: dict[str, Any] = {"run_id": g.sample.run_id, "status": g.status, "reason": g.reason,
                           "edited": g.sample.edited,
                           "scorecard": str(g.path) if g.path else None}
    if card is not None:
        k = len(card.judgments)
        out.update(passed=card.passed, criteria=[
            {"criterion": c, "passed": card.criterion_passes(c), "votes": f"{card.votes(c)}/{k}",
             "reason": next((v.reasoning for v in card.judgments[0].verdicts
                             if v.criterion == c), "")} for c in card.rubric.criteria],
            path_forward=f"{card.path_votes}/{k}")
    return out

