"""A chain under --batch: each job one wave of ready stages.

A stage is ready when every stage it comes after is done (its answer kept and, when
graded, passed). Planning walks the chain in order, from the store alone: a ready
stage's session is made exactly as `chain.run_stage` makes it (chains/stage.py), its
missing answer (or, once answered, its judgments) becomes pieces, and the stages
after it wait for a later job. Each re-run collects the last wave and submits the
next, until the chain is whole; then the usual --chain run finds every stage kept
and writes CHAIN.md. Refined stages (`refine`) are not planned here (refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from meta_prompting.batch.sources import Source, _judge
from meta_prompting.batch.work import JUDGMENT, Keep, Piece, Replayed, Work, judgment_keys
from meta_prompting.errors import UserError
from meta_prompting.store.record import ANSWER

if TYPE_CHECKING:
    from collections.abc import Callable

    from meta_prompting.chains.chain import StageResult
    from meta_prompting.chains.chainfile import Chain, Stage
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.library.goals import Library
    from meta_prompting.models.base import Model, ModelRequest, Reply
    from meta_prompting.runs.run import RunOptions, Sample, Session, Settings
    from meta_prompting.tasks.runner import Opener
    from meta_prompting.toolkit.build import BuildOptions


def chain_source(library: Library, chain: Chain, project: str, build_options: BuildOptions,
                 run_options: RunOptions, settings: Settings, grading: GradeOptions,
                 models: Opener, batch: bool = True) -> Source:
    """The chain's next wave, planned again each time it is asked. Not `batch` (an
    interactive run looking at live jobs): refined stages are left out, not refused."""
    from meta_prompting.chains.chain import check_fillings
    from meta_prompting.grading.grade import read_rubric
    from meta_prompting.grading.scorecard import rubric_goal
    from meta_prompting.toolkit.assemble import project_dir

    refined = [s.name for s in chain.stages if s.refine]
    if refined and batch:
        raise UserError(f"--batch: stage {refined[0]} refines its answer (refine), one "
                        "attempt after another: not supported yet; run the chain without "
                        "--batch")
    check_fillings(chain)
    rubrics = {s.name: read_rubric(library, rubric_goal(library, s.goal, grading.rubric))
               for s in chain.stages if s.grade}
    judge = _judge(grading, models)
    planner = _Planner(library, chain, project, build_options, run_options, settings,
                       grading, rubrics, judge)
    return Source(project_dir(library, project), planner.work)


class _Planner:
    def __init__(self, library: Library, chain: Chain, project: str,
                 build_options: BuildOptions, run_options: RunOptions, settings: Settings,
                 grading: GradeOptions, rubrics: dict[str, Rubric],
                 judge: Callable[[], Model] | None) -> None:
        self.library, self.chain, self.project = library, chain, project
        self.build_options, self.run_options = build_options, run_options
        self.settings, self.grading, self.rubrics, self.judge = (settings, grading, rubrics,
                                                                  judge)

    def work(self) -> Work:
        from meta_prompting.chains.chain import StageResult
        from meta_prompting.chains.stage import stage_session

        results: dict[str, StageResult] = {}
        pieces: list[Piece] = []
        keepers: dict[str, Keep] = {}
        waiting = 0
        for stage in self.chain.stages:
            if stage.refine or any(a.stage not in results for a in stage.after):
                waiting += 1  # after a stage this wave makes (or that waits itself)
                continue
            upstream = {a.stage: results[a.stage] for a in stage.after}
            found = stage_session(self.library, stage, self.project, self.chain.folder,
                                  upstream, self.build_options, self.run_options,
                                  self.settings)
            if isinstance(found, StageResult):
                results[stage.name] = found  # blocked, or failed: the usual run says so
                continue
            built, session, _ = found
            done = self._stage(stage, session, built.out_dir / "runs", pieces, keepers)
            if done is not None:
                results[stage.name] = done
        return Work(tuple(pieces), keepers, waiting, "stage")

    def _stage(self, stage: Stage, session: Session, runs: Path, pieces: list[Piece],
               keepers: dict[str, Keep]) -> StageResult | None:
        """The stage done (kept, and passed if graded), or None with its pieces added."""
        from meta_prompting.chains.chain import CACHED, FAILED, FAILED_GRADE, StageResult
        from meta_prompting.grading.scorecard import grade_sample, scorecard_stem
        from meta_prompting.runs.run import kept_sample, run_id

        rubric = self.rubrics.get(stage.name)
        for attempt in range(1, stage.attempts + 1):
            rid = run_id(session.key, attempt)
            label = f"stage {stage.name} (sample {attempt})"
            try:
                sample = kept_sample(runs / rid, attempt)
            except UserError as e:  # a FIFO where its run belongs: the usual run says so
                return StageResult(stage, FAILED, str(e))
            if sample is None:
                key = f"{stage.name}/{rid}"
                request = self._answer_request(session)
                pieces.append(Piece(key, request, key, ANSWER, label))
                keepers[key] = self._keep_answer(runs, session, attempt)
                return None
            if not stage.grade:
                return StageResult(stage, CACHED, sample=sample)
            assert rubric is not None  # read for every graded stage
            own = rubric.goal == self.library.goal(stage.goal).rubric
            judge_name = self.grading.judge_model or self.settings.model
            card = grade_sample(sample, session, rubric, self.grading.judges, judge_name,
                                None, self.run_options.timeout, own, look_only=True,
                                repair=not self.run_options.dry_run)
            if card is None:
                stem = scorecard_stem(rubric, own, self.grading.judges)
                group = f"{stage.name}/{rid}/{stem}"
                request = self._judge_request(rubric, session, sample)
                pieces.extend(Piece(f"{stage.name}/{key}", request, group, JUDGMENT, label)
                              for key in judgment_keys(rid, stem, self.grading.judges))
                keepers[group] = self._keep_card(runs, session, attempt, rubric, own)
                return None
            if card.scorecard is None:
                return StageResult(stage, FAILED, card.reason)
            if card.scorecard.passed:
                return StageResult(stage, CACHED, sample=sample, graded=card)
        return StageResult(stage, FAILED_GRADE, "no answer passed")

    @staticmethod
    def _answer_request(session: Session) -> ModelRequest:
        from meta_prompting.models.base import ModelRequest

        return ModelRequest(session.system, session.prompt,
                            max_tokens=session.settings.max_tokens)

    @staticmethod
    def _judge_request(rubric: Rubric, session: Session, sample: Sample) -> ModelRequest:
        from meta_prompting.grading.grade import judge_prompt, schema
        from meta_prompting.models.base import ModelRequest
        from meta_prompting.runs.run import read_answer

        prompt = judge_prompt(rubric, session.system, session.prompt, read_answer(sample))
        return ModelRequest(rubric.system, prompt, json_schema=schema(rubric))

    def _keep_answer(self, runs: Path, session: Session, number: int) -> Keep:
        def keep(replies: list[Reply], job: str) -> str | None:
            from meta_prompting.runs.run import keep_answer

            sample = keep_answer(runs, session, number, replies[0], None, self.run_options,
                                 batch=job)
            return None if sample.ok else sample.reason or "not kept"

        return keep

    def _keep_card(self, runs: Path, session: Session, number: int, rubric: Rubric,
                   own: bool) -> Keep:
        def keep(replies: list[Reply], job: str) -> str | None:
            from meta_prompting.grading.scorecard import grade_sample
            from meta_prompting.runs.run import kept_sample, run_id

            sample = kept_sample(runs / run_id(session.key, number), number)
            if sample is None:
                return "its answer is gone: run the same command again"
            replayed = Replayed(replies, self.judge)
            graded = grade_sample(sample, session, rubric, self.grading.judges,
                                  self.grading.judge_model or self.settings.model, replayed,
                                  self.run_options.timeout, own, batch=job,
                                  judge_with=replayed.judge)
            return None if graded.scorecard is not None else graded.reason or "not graded"

        return keep
