"""Grading kept answers: each scorecard a step, keyed by everything the judge was given.

`runs/<run-id>/scorecard.json` (and a readable `scorecard.md`) is keyed by the answer
as it now stands (a person's edit included), the rubric, the judge model and the number
of judges: grading the same answer again makes no call, and an edit makes it judge
again. A grade that cannot be made writes nothing: the two files appear together, the
.json last, so a .md without its .json is a dead grade's.

A scorecard records the sha256 of its own content, as a run records its answer's: one
a person edited is theirs. It is kept and never judged over, its verdicts count, its
quotes are checked again against the answer as it stands, and it is shown everywhere
as "verdict edited by hand", never as the judge's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

from meta_prompting import __version__
from meta_prompting.errors import GenerationError, LibraryError
from meta_prompting.grading.grade import (
    Judgment,
    Rubric,
    Scorecard,
    Verdict,
    judge,
    judge_prompt,
    quotes_of,
    schema,
)
from meta_prompting.models.keys import holds_key, scrub_data
from meta_prompting.runs.run import Sample, Session, read_answer, run_lock
from meta_prompting.store import record as records
from meta_prompting.store.files import (
    RECORD_LIMIT,
    TMP_SUFFIX,
    read_regular,
    remove_stale_temporaries,
    sha256_bytes,
    write_atomic,
)

if TYPE_CHECKING:
    from meta_prompting.library.goals import Library
    from meta_prompting.models.base import Model
    from meta_prompting.models.budget import Planned
    from meta_prompting.runs.run import RunReport
    from meta_prompting.toolkit.build import BuildReport

# One judge's judgment: (judge model, rubric, judge prompt, answer) -> Judgment.
JudgeCall = Callable[["Model", Rubric, str, str], Judgment]
# The words of each status, as people read them (defined once, in store.record).
CACHED = records.word(records.SCORECARD, records.KEPT)
GRADED = records.word(records.SCORECARD, records.MADE)
NOT_GRADED = records.word(records.SCORECARD, records.FAILED)
EDITED = records.word(records.SCORECARD, records.EDITED)
EDITED_WORDS = "verdict edited by hand"


class Graded(NamedTuple):
    sample: Sample
    status: str  # CACHED, GRADED or NOT_GRADED
    scorecard: Scorecard | None = None
    reason: str | None = None
    path: Path | None = None
    how: str = ""  # store.record's status when it differs from the word's (another process)
    missing: tuple[str, ...] = ()  # headings of the output format the answer lacks

    @property
    def state(self) -> str:
        """The status in store.record's vocabulary."""
        return self.how or records.status_of(records.SCORECARD, self.status)

    @property
    def edited(self) -> bool:
        """The scorecard is a person's edit of the judge's: theirs, shown as such."""
        return self.status == EDITED


class GradeOptions(NamedTuple):
    rubric: str | None = None  # --grade-with; None: the goal's own rubric
    judges: int = 1
    answer: str | None = None  # --answer FILE: grade this instead of running
    # --judge-model; None: the model that answered judges too. Never silently another
    # provider: answers made on a local server are not sent to a cloud judge unasked.
    judge_model: str | None = None


class GradeReport(NamedTuple):
    built: BuildReport
    ran: RunReport | None
    graded: tuple[Graded, ...]
    judges: int = 1
    estimate: dict[str, Any] = {}  # a dry run's calls (answers and judgments), and cost

    @property
    def outcome(self) -> str:
        """INCOMPLETE when an answer or a grade could not be made; else FAILS when an
        answer failed its scorecard; else DONE."""
        if self.ran is None or self.ran.outcome != records.DONE or any(
                g.status == NOT_GRADED for g in self.graded):
            return records.INCOMPLETE
        if any(g.scorecard is not None and not g.scorecard.passed for g in self.graded):
            return records.FAILS
        return records.DONE

    def to_dict(self) -> dict[str, Any]:
        return {"judges": self.judges, "passed": sum(
            g.scorecard is not None and g.scorecard.passed for g in self.graded),
                "graded": [_graded_dict(g) for g in self.graded],
                **({"estimate": self.estimate} if self.estimate else {})}


def rubric_goal(library: Library, goal: str, grade_with: str | None) -> str:
    """The goal whose protocol grades `goal`'s answers: --grade-with, else the map's
    "rubric"; with neither, LibraryError saying why grading is refused.

    A rubric's criteria hold an answer to one output format: another goal's scorecard
    would fail every answer by construction, so none is borrowed by default.
    """
    if grade_with is not None:
        return grade_with
    found = library.goal(goal)
    if found.rubric is None:
        raise LibraryError(
            f"goal {found.name} names no rubric (no \"rubric\" in its map entry), and no "
            "other goal's criteria fit its answers: name one with --grade-with GOAL")
    return found.rubric


@overload
def grade_sample(sample: Sample, session: Session, rubric: Rubric, judges: int, model: str,
                 judge_model: Model | None, timeout: float, own: bool = ...,
                 look_only: Literal[False] = ..., repair: bool = ...,
                 batch: str | None = ..., judge_with: JudgeCall | None = ...) -> Graded: ...
@overload
def grade_sample(sample: Sample, session: Session, rubric: Rubric, judges: int, model: str,
                 judge_model: Model | None, timeout: float, own: bool = ...,
                 look_only: bool = ..., repair: bool = ..., batch: str | None = ...,
                 judge_with: JudgeCall | None = ...) -> Graded | None: ...
def grade_sample(sample: Sample, session: Session, rubric: Rubric, judges: int, model: str,
                 judge_model: Model | None, timeout: float, own: bool = True,
                 look_only: bool = False, repair: bool = True, batch: str | None = None,
                 judge_with: JudgeCall | None = None) -> Graded | None:
    """One answer's scorecard: found when kept for the same inputs, else made once.

    `own`: the rubric is the one the goal names, kept as `scorecard.json`; another one
    (--grade-with) is kept beside it as `scorecard-<rubric>.json`. `look_only`: the
    kept one or None, nothing locked or asked (a chain decides on its main thread).
    `repair`: a kept scorecard.json whose .md a kill kept from being renamed in gets its
    .md (False in a dry run, which writes nothing).
    `batch`: the batch job whose judgments `judge_with` (one call a judge) replays:
    named in the header, and priced at the batch rate unless `judge_model` says a
    judgment had to be asked again interactively (its `batch_only`).
    """
    from meta_prompting.grading.structure import missing_headings
    from meta_prompting.store.step import StepFailed, ensure, run_all

    answer = read_answer(sample)
    missing = missing_headings(session.prompt, answer)  # checked here, told to the judge
    prompt = judge_prompt(rubric, session.system, session.prompt, answer, missing)
    key = scorecard_key(rubric, prompt, model, judges)
    stem = scorecard_stem(rubric, own, judges)
    path = sample.folder / f"{stem}.json"

    def look() -> Graded | None:
        try:
            data = json.loads(read_regular(path, RECORD_LIMIT, follow_links=False))
        except OSError:
            return None  # none, or not a file we could have written: judged (again)
        except (ValueError, RecursionError) as e:
            # Never written half (write_atomic): a person's, and never judged over.
            return Graded(sample, NOT_GRADED, reason=f"{path} was edited by hand and is not "
                          f"JSON ({e}); fix it, or delete it to have the answer judged again")
        edited = not isinstance(data, dict) or data.get("sha256") != record_hash(data)
        try:
            if edited:
                return Graded(sample, EDITED, requote(_from_dict(rubric, data), answer),
                              path=path)
            if data.get("key") == key:
                return Graded(sample, CACHED, _from_dict(rubric, data), path=path)
        except (TypeError, KeyError, AttributeError, ValueError) as e:
            if edited:
                return Graded(sample, NOT_GRADED, reason=f"{path} was edited by hand and "
                              f"its verdicts cannot be read ({type(e).__name__}: {e}); fix "
                              "it, or delete it to have the answer judged again")
        return None

    if look_only:
        found = look()
        if found is None:
            return None
        if repair and found.status == CACHED and found.scorecard is not None:
            _restore_markdown(found, path, missing)
        return found._replace(missing=missing)
    assert judge_model is not None

    def make() -> Graded:
        start = time.monotonic()
        if holds_key(answer):  # a person's edit of answer.md: never sent to the judge
            return Graded(sample, NOT_GRADED, reason=f"{sample.answer_path} holds the API "
                          "key (or part of it); take it out to grade it")
        try:
            judged = run_all(judges, [partial(judge_with or judge, judge_model, rubric, prompt,
                                              answer)] * judges)
        except GenerationError as e:
            return Graded(sample, NOT_GRADED, reason=records.reason_of(e))
        card = Scorecard(rubric, tuple(judged))
        record = _to_dict(card, key, model, answer, batch is not None and getattr(
            judge_model, "batch_only", True))
        record[records.HEADER] = records.header(
            records.SCORECARD, key, {"answer": record["answer_sha256"],
                                     "rubric": card.rubric.sha256,
                                     "prompt": sha256_bytes(prompt.encode("utf-8"))},
            status=records.MADE, model=model, provider=judge_model.provider,
            tokens=_tokens(card), seconds=None if batch else time.monotonic() - start,
            cost=record.get("cost"), batch=batch)
        record = scrub_data(record)
        record["sha256"] = record_hash(record)
        try:
            from meta_prompting.grading.card_text import render_markdown

            markdown = render_markdown(card, sample, path.with_suffix(".md").name, missing)
            publish_scorecard(path, markdown.encode("utf-8"),
                              (json.dumps(record, indent=2) + "\n").encode("utf-8"))
        except OSError as e:
            return Graded(sample, NOT_GRADED, reason=records.reason_of(e, path))
        return Graded(sample, GRADED, card, path=path)

    try:
        how, graded = ensure(run_lock(sample.folder.parent, sample.run_id, f".{stem}"), look,
                             make, timeout=timeout * 2 + 30,
                             what=f"the scorecard of {sample.run_id}",
                             clean=lambda: clear_dead_writes(path))
    except StepFailed as e:
        return Graded(sample, NOT_GRADED, reason=records.reason_of(e), missing=missing)
    graded = graded._replace(missing=missing)
    if repair and graded.status == CACHED and graded.scorecard is not None:
        _restore_markdown(graded, path, missing)
    return graded._replace(how=records.OTHER) if how == records.OTHER else graded


def _restore_markdown(graded: Graded, path: Path, missing: tuple[str, ...]) -> None:
    """scorecard.md again from its kept .json: publish_scorecard renames the .md in after
    the .json (the commit), so a kill between the two renames leaves the .json alone.
    Derived, so written whole at any time; a failure leaves it to the next look."""
    markdown = path.with_suffix(".md")
    if os.path.lexists(markdown):
        return
    from meta_prompting.grading.card_text import render_markdown

    assert graded.scorecard is not None
    text = render_markdown(graded.scorecard, graded.sample, markdown.name, missing)
    try:
        # the killed grade's .md, still aside: a dead process's, so nobody's now
        remove_stale_temporaries(path.parent, markdown.name)
        write_atomic(markdown, text.encode("utf-8"))
    except OSError:
        pass  # the grade stands on its .json; the next look writes the .md


def _tokens(card: Scorecard) -> dict[str, int | None]:
    """Tokens by kind over every judge: a kind no judge reported stays unknown."""
    total: dict[str, int | None] = {}
    for j in card.judgments:
        for kind, n in (j.tokens or {}).items():
            known = total.get(kind, 0)
            total[kind] = None if n is None or known is None else known + n
    return total


def scorecard_stem(rubric: Rubric, own: bool, judges: int) -> str:
    """A scorecard's file name per judging setting: going back to one used before finds
    its scorecard kept, never pays again. One judge keeps the plain name it always had."""
    stem = "scorecard" if own else f"scorecard-{rubric.goal.lower()}"
    return stem if judges == 1 else f"{stem}-{judges}j"


def scorecard_key(rubric: Rubric, prompt: str, model: str, judges: int) -> str:
    return sha256_bytes(json.dumps({"system": rubric.system, "prompt": prompt, "model": model,
                                    "judges": judges, "schema": schema(rubric)},
                                   sort_keys=True).encode("utf-8"))


def planned_judgments(sample: Sample, session: Session, rubric: Rubric, judges: int,
                      model: str, own: bool) -> list[Planned]:
    """The judge calls grading `sample` would make: none when its scorecard is kept for
    the same inputs; for an answer not made yet, one of the assumed length is judged."""
    from meta_prompting.models.budget import JUDGMENT, Planned, assumed_answer_chars

    if not sample.ok and sample.status != "would run":
        return []
    from meta_prompting.grading.structure import missing_headings

    if sample.status == "would run":
        answer = "x" * assumed_answer_chars(session.settings.max_tokens)
    else:
        answer = read_answer(sample)
    prompt = judge_prompt(rubric, session.system, session.prompt, answer,
                          missing_headings(session.prompt, answer))
    stem = scorecard_stem(rubric, own, judges)
    try:
        kept = json.loads(read_regular(sample.folder / f"{stem}.json", RECORD_LIMIT,
                                       follow_links=False))
        if isinstance(kept, dict) and (kept.get("key") == scorecard_key(
                rubric, prompt, model, judges) or kept.get("sha256") != record_hash(kept)):
            return []  # kept, or a person's edit: never judged over
    except (OSError, ValueError, RecursionError):
        pass
    return [Planned(JUDGMENT, len(rubric.system) + len(prompt), None, model)] * judges


def record_hash(data: dict[str, Any]) -> str:
    """The sha256 a scorecard records of its own content (all but that field): a change
    to any verdict, quote or count shows, a change of indentation does not."""
    rest = {k: v for k, v in data.items() if k != "sha256"}
    return sha256_bytes(json.dumps(rest, sort_keys=True).encode("utf-8"))


def requote(card: Scorecard, answer: str) -> Scorecard:
    """`card` with each quote checked again against `answer` as it stands: a person's
    PASS still needs the answer to say what it quotes."""
    from meta_prompting.grading.quotes import is_quoted, normalise

    haystack = normalise(answer)
    return card._replace(judgments=tuple(j._replace(verdicts=tuple(
        v._replace(supported=bool(v.quotes) and all(is_quoted(q, haystack)
                                                    for q in v.quotes))
        for v in j.verdicts)) for j in card.judgments))


def publish_scorecard(path: Path, markdown: bytes, record: bytes) -> None:
    """scorecard.md and scorecard.json appear together or not at all.

    The .md is written aside first and the .json, the commit, next: a full disk or a
    kill before the .json leaves the grade as it was (a .md saying PASS with no .json
    behind it would be read as a grade). The .md is then renamed in, which needs no
    room; should even that fail, the next look finds the .json and writes the .md.
    """
    markdown_path = path.with_suffix(".md")
    if not os.path.lexists(path) and os.path.lexists(markdown_path):
        os.unlink(markdown_path)  # a dead grade's, before this change: its .json never came
    # The aside file is itself a temporary one, named as write_atomic names them, so the
    # clean-up of a killed grade (clear_dead_writes) finds it: no temporary of a temporary.
    aside = path.with_name(f".{markdown_path.name}.{os.getpid()}.{os.urandom(4).hex()}"
                           f"{TMP_SUFFIX}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(markdown)
        f.flush()
        os.fsync(f.fileno())
    try:
        write_atomic(path, record)
        os.replace(aside, markdown_path)
    finally:
        try:
            os.unlink(aside)
        except FileNotFoundError:
            pass


def clear_dead_writes(path: Path) -> None:
    """Remove the temporary files a run killed mid-write of this scorecard left.

    Called under the scorecard's lock, so no living run is writing them; without it a
    kill between the two writes left a hidden file in the run folder for good.
    """
    for name in (path.with_suffix(".md").name, path.name):
        remove_stale_temporaries(path.parent, name, live_writers=False)


def _to_dict(card: Scorecard, key: str, model: str, answer: str,
             batch: bool = False) -> dict[str, Any]:
    from meta_prompting.models.prices import cost_of

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
                       "path_reason": j.path_reason, "requests": j.requests,
                       "verdicts": [{**v._asdict(), "quotes": list(v.quotes)}
                                    for v in j.verdicts]} for j in card.judgments],
        "cost": cost_of(model, [(j.tokens, j.model) for j in card.judgments], batch=batch),
        "date": records.now(),
    }


def _from_dict(rubric: Rubric, data: dict[str, Any]) -> Scorecard:
    judgments = tuple(Judgment(tuple(_verdict(v) for v in j["verdicts"]), j["path_forward"],
                               j["path_reason"], j["model"], j["tokens"],
                               j.get("requests", 1))
                      for j in data["judgments"])
    return Scorecard(rubric, judgments)


def _verdict(data: dict[str, Any]) -> Verdict:
    # Scorecards written before several quotes were allowed hold one "quote".
    return Verdict(data["criterion"], data["verdict"], quotes_of(data), data["reasoning"],
                   data["fix"], bool(data["supported"]))


def _graded_dict(g: Graded) -> dict[str, Any]:
    card = g.scorecard
    out: dict[str, Any] = {"run_id": g.sample.run_id, "status": g.status, "reason": g.reason,
                           "edited": g.sample.edited, "verdict_edited": g.edited,
                           "scorecard": str(g.path) if g.path else None,
                           "missing_headings": list(g.missing)}
    if card is not None:
        k = len(card.judgments)
        out.update(passed=card.passed, criteria=[
            {"criterion": c, "passed": card.criterion_passes(c), "votes": f"{card.votes(c)}/{k}",
             "reason": next((v.reasoning for v in card.judgments[0].verdicts
                             if v.criterion == c), "")} for c in card.rubric.criteria],
            path_forward=f"{card.path_votes}/{k}")
    return out

