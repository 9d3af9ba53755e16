"""The model work a command lacks, as batch requests, and how each reply is kept.

A `Piece` is one request of a batch job: its key (an answer's run id; a judgment's
run id, scorecard and judge number), the exact request an interactive call sends, and
the result it helps make (`group`). An answer is one piece; a scorecard of K judges is
K pieces, kept together once all K have come back. `Work.keepers[group]` keeps a
group's replies as the same record an interactive call makes, under the same lock,
marked with the job that made them and priced at the batch rate.

A scorecard's judgment that must be asked again (invalid, or quoting what the answer
does not say) is asked at once, interactively, inside the scorecard's step: the step
is written whole, with every request it paid for, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.errors import GenerationError
from meta_prompting.models.base import ModelRequest, Notice, Reply, TextSink
from meta_prompting.store.record import ANSWER

if TYPE_CHECKING:
    from meta_prompting.grading.grade import Judgment, Rubric
    from meta_prompting.models.base import Model
    from meta_prompting.runs.run import RunOptions
    from meta_prompting.tasks.plan import Grading, RowPlan

JUDGMENT = "judgment"

# Keeps a group's replies (in key order) made by batch job `job`: None, or why not.
Keep = Callable[[list[Reply], str], str | None]


class Piece(NamedTuple):
    key: str  # the request's key in the job (unique across the project's live jobs)
    request: ModelRequest
    group: str  # the result it helps make: an answer's run id, a scorecard's run id/stem
    kind: str  # store.record's ANSWER, or JUDGMENT
    label: str  # for people: the row (or stage) and sample


class Work(NamedTuple):
    """What a command lacks now: the pieces a job can make, and results that wait for
    an earlier wave (a scorecard of an answer not made yet)."""

    pieces: tuple[Piece, ...]
    keepers: dict[str, Keep]
    waiting: int = 0
    later: str = "scorecard"  # what waits: scorecards (of answers to come), or stages

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(p.key for p in self.pieces)


def judgment_keys(run_id: str, stem: str, judges: int) -> list[str]:
    return [f"{run_id}/{stem}/{i}" for i in range(1, judges + 1)]


def plan_work(plans: tuple[RowPlan, ...], grading: Grading | None, options: RunOptions,
              judge: Callable[[], Model] | None = None) -> Work:
    """The pieces `plans` lack (each once: rows that ask the same share them).
    `judge` opens the interactive judge, for a judgment that must be asked again."""
    from meta_prompting.tasks.plan import missing_work

    pieces: list[Piece] = []
    keepers: dict[str, Keep] = {}
    waiting = 0
    for work in missing_work(plans, grading):
        need, plan = work.need, work.plan
        if work.request is None:
            waiting += 1  # its answer comes first: the next wave
            continue
        label = plan.row.id if plan.row.line else "task"
        label += f" (sample {need.number})" if need.number else " (imported answer)"
        if need.kind == ANSWER:
            pieces.append(Piece(need.run_id, work.request, need.run_id, ANSWER, label))
            keepers[need.run_id] = _answer_keeper(plan, need.number, options)
            continue
        assert grading is not None  # a scorecard is only missing with --grade
        from meta_prompting.grading.scorecard import scorecard_stem

        stem = scorecard_stem(grading.rubric, grading.own, grading.judges)
        group = f"{need.run_id}/{stem}"
        pieces += [Piece(key, work.request, group, JUDGMENT, label)
                   for key in judgment_keys(need.run_id, stem, grading.judges)]
        keepers[group] = _card_keeper(plan, need.run_id, grading, judge)
    return Work(tuple(pieces), keepers, waiting)


def _answer_keeper(plan: RowPlan, number: int, options: RunOptions) -> Keep:
    def keep(replies: list[Reply], job: str) -> str | None:
        from meta_prompting.runs.run import keep_answer

        sample = keep_answer(plan.runs, plan.session, number, replies[0], None, options,
                             batch=job)
        return None if sample.ok else sample.reason or "not kept"

    return keep


def _card_keeper(plan: RowPlan, run_id: str, grading: Grading,
                 judge: Callable[[], Model] | None) -> Keep:
    def keep(replies: list[Reply], job: str) -> str | None:
        from meta_prompting.grading.scorecard import grade_sample

        sample = next(s for s in plan.kept if s.run_id == run_id)
        replayed = Replayed(replies, judge)
        graded = grade_sample(sample, plan.session, grading.rubric, grading.judges,
                              grading.judge, replayed, grading.timeout, grading.own,
                              batch=job, judge_with=replayed.judge)
        return None if graded.scorecard is not None else graded.reason or "not graded"

    return keep


class Replayed:
    """A scorecard's judges answered by a batch's replies: each judge takes one (`judge`,
    in place of grading.grade.judge). A reply that is not a valid judgment, or quotes
    what the answer does not say, is asked of a fresh judge at once, interactively
    (`fallback`), as an interactive judge's would be; both requests are kept."""

    def __init__(self, replies: list[Reply], fallback: Callable[[], Model] | None) -> None:
        import threading

        self._replies = list(replies)
        self._fallback = fallback
        self._lock = threading.Lock()  # the K judges run on K threads
        self.asked_again = 0
        self.name = "batch"
        self.provider = replies[0].provider if replies else "gemini"

    def judge(self, model: Model, rubric: Rubric, prompt: str, answer: str) -> Judgment:
        from meta_prompting.grading.grade import add_tokens, judge, parse_judgment

        with self._lock:
            reply = self._replies.pop(0)
        try:
            judged = parse_judgment(reply.text, rubric, answer, reply.named_version,
                                    reply.usage)
            if judged.supported:
                return judged._replace(requests=1, tokens=reply.usage)
        except ValueError:
            pass
        with self._lock:
            self.asked_again += 1
        if self._fallback is None:
            raise GenerationError("a judgment must be asked again and no judge is at hand")
        fresh = judge(self._fallback(), rubric, prompt, answer)
        return fresh._replace(requests=fresh.requests + 1,
                              tokens=add_tokens(reply.usage, fresh.tokens))

    def complete(self, request: ModelRequest, *, on_text: TextSink | None = None,
                 on_notice: Notice | None = None) -> Reply:
        raise GenerationError("a batch's judgments are replayed by judge(), not asked")

    @property
    def batch_only(self) -> bool:
        """Every judgment came from the batch (priced at the batch rate)."""
        return self.asked_again == 0
