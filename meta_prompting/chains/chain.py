"""Running a chain: each stage a filled toolkit, run in a fresh session, in graph order.

A stage's answer is a run keyed by everything its session was sent, the answers of
the stages it comes after included. So running the chain again runs exactly what is
missing or whose inputs changed, make-like: a failed stage and its dependants, or the
stages downstream of an edited evidence file or a hand-edited answer. Nothing kept
is ever asked for again; an answer a person edited is handed on as it now stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.chains.chainfile import CHAIN_FILE, Chain, Stage
from meta_prompting.chains.index import check_index, write_index
from meta_prompting.errors import UserError
from meta_prompting.toolkit.prompt import Filling

if TYPE_CHECKING:
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.scorecard import Graded, GradeOptions
    from meta_prompting.library.goals import Library
    from meta_prompting.models.base import Model
    from meta_prompting.models.budget import Planned
    from meta_prompting.runs.run import RunOptions, Sample, Settings
    from meta_prompting.toolkit.build import BuildOptions

CACHED, RAN, FAILED, BLOCKED, FAILED_GRADE = "cached", "ran", "failed", "blocked", "failed grade"
WOULD_RUN = "would run"


class StageResult(NamedTuple):
    stage: Stage
    status: str  # CACHED, RAN, FAILED, BLOCKED, FAILED_GRADE or WOULD_RUN
    reason: str | None = None
    sample: Sample | None = None  # the answer handed on (the first passing, if graded)
    graded: Graded | None = None
    out_dir: Path | None = None
    sessions: int = 0  # fresh sessions kept for it (attempts made)
    missing_section: bool = False  # blocked: an answer it needs lacks the section asked for
    planned: tuple[Planned, ...] = ()  # a dry run: the calls it would make
    first: tuple[Planned, ...] | None = None  # a refined stage's: its next attempt's alone
    attempts: tuple[Any, ...] = ()  # a refined stage's attempts (grading.refine.Attempt)
    why: str | None = None  # a dry run: why it would run, and the grading it would do
    lacks: tuple[str, ...] = ()  # headings of its output format its answer lacks

    @property
    def ok(self) -> bool:
        return self.status in (CACHED, RAN)

    def to_dict(self) -> dict[str, Any]:
        record = self.sample.record if self.sample else {}
        card = self.graded.scorecard if self.graded else None
        return {"stage": self.stage.name, "goal": self.stage.goal, "status": self.status,
                "reason": self.reason, "edited": bool(self.sample and self.sample.edited),
                "answer": str(self.sample.answer_path) if self.sample else None,
                "scorecard": str(self.graded.path) if self.graded and self.graded.path
                else None, "grade": None if card is None else card.passed,
                "verdict_edited": bool(self.graded and self.graded.edited),
                "tokens": record.get("tokens"), "seconds": record.get("seconds"),
                "cost": record.get("cost"),
                "sessions": self.sessions}


class ChainReport(NamedTuple):
    chain: Chain
    out_dir: Path
    results: tuple[StageResult, ...]  # in the chain's order
    command: str
    dry_run: bool = False
    model: str | None = None  # --model as given: a dry run says why it has none
    base_url: str | None = None

    @property
    def outcome(self) -> str:
        from meta_prompting.store import record as records

        if self.dry_run:
            return records.DONE
        # A stage blocked behind a failed one needs no word of its own: the cause does.
        if any(r.status == FAILED or r.missing_section for r in self.results):
            return records.INCOMPLETE
        if any(r.status == FAILED_GRADE for r in self.results):
            return records.FAILS
        return records.DONE

    def to_dict(self) -> dict[str, Any]:
        return {"chain": str(self.chain.path), "out_dir": str(self.out_dir),
                "dry_run": self.dry_run, "command": self.command,
                "stages": [r.to_dict() for r in self.results],
                **({"estimate": self.estimate} if self.dry_run else {})}

    @property
    def estimate(self) -> dict[str, Any]:
        from meta_prompting.models.budget import estimate_plan

        worst = any(r.stage.refine and r.planned for r in self.results)
        return {**estimate_plan(self.model or "", [c for r in self.results for c in r.planned]),
                **({"worst_case": True} if worst else {})}

    @property
    def start_estimate(self) -> dict[str, Any]:
        """What --budget must hold for the chain to start: a refined stage's next attempt,
        not its worst case (the loop stops at the budget on its own)."""
        from meta_prompting.models.budget import estimate_plan

        return estimate_plan(self.model or "", [c for r in self.results for c in (
            r.planned if r.first is None else r.first)])


def run_chain(library: Library, chain: Chain, project: str, build_options: BuildOptions,
              run_options: RunOptions, settings: Settings, grading: GradeOptions,
              model: Model, judge_model: Model) -> ChainReport:
    """Run every stage whose inputs are ready, at most --jobs at once; keep what exists.
    `model` answers and `judge_model` judges (each held to the budget, if any)."""
    from meta_prompting.grading.grade import read_rubric
    from meta_prompting.toolkit.assemble import project_dir

    out = project_dir(library, project)
    check_fillings(chain)
    if not run_options.dry_run:
        check_index(out / CHAIN_FILE)  # before any stage: a bad one is not a late surprise
    from meta_prompting.grading.scorecard import rubric_goal

    # Each graded stage is held to its own goal's rubric (or --grade-with's), every one
    # read before any call so that a rubric it cannot use stops nothing half-way.
    rubrics = {s.name: read_rubric(library, rubric_goal(library, s.goal, grading.rubric))
               for s in chain.stages if s.grade}
    from meta_prompting.chains.schedule import Refusing, schedule

    refuse = Refusing(model.name, model.provider)
    results: dict[str, StageResult] = {}
    from meta_prompting.chains import progress as said

    say, notice = run_options.progress, run_options.on_notice

    def one(stage: Stage, probe: bool) -> StageResult:
        upstream = {a.stage: results[a.stage] for a in stage.after}
        result = run_stage(library, stage, project, chain.folder, upstream, build_options,
                           run_options, settings, grading, rubrics.get(stage.name),
                           refuse if probe else said.StageModel(model, stage.name, notice),
                           refuse if probe else said.StageModel(judge_model, stage.name,
                                                                notice))
        if run_options.dry_run:
            return result._replace(why=said.dry_why(
                result, upstream, stage.name in run_options.fresh_stages, grading,
                rubrics.get(stage.name)))
        if result.graded is not None and result.graded.missing and not result.lacks:
            result = result._replace(lacks=result.graded.missing)  # a refined stage's
        if say and result.lacks and result.status == RAN:  # kept: said below the table
            from meta_prompting.grading.structure import lacks_line

            say(f"  {stage.name}: warning: its answer {lacks_line(result.lacks)}; the "
                "sections it has are handed on")
        if result.ok or result.status == FAILED_GRADE:
            from meta_prompting.chains.state import keep_stage

            keep_stage(result, upstream)  # the stage's own record, rewritten on a change
        if (done := said.done_state(result)) is not None:
            said.tell(run_options, stage.name, done)
        return result

    schedule(chain, one, results, run_options.jobs,
             lambda name, state: said.tell(run_options, name, state))
    from meta_prompting.runs.run import larger_limit

    ordered = tuple(results[s.name] for s in chain.stages)
    # A stage cut off at --max-tokens is finished by asking again with room for it.
    command = larger_limit(run_options.command, [r.reason for r in ordered
                                                 if r.status == FAILED and r.reason])
    report = ChainReport(chain, out, ordered, command, run_options.dry_run, settings.model,
                         settings.base_url)
    if not run_options.dry_run:
        write_index(report)
    return report


def check_fillings(chain: Chain) -> None:
    """Refuse the chain before any stage runs when a task or evidence it names holds the
    API key: the chain file is the person's, like --task and --evidence.

    Any other fault of a stage's filling is that stage's own, reported when it runs.
    """
    from meta_prompting.evidence.read import collect, read_task
    from meta_prompting.toolkit.build import check_filling

    for stage in chain.stages:
        try:
            task = read_task(stage.task, str(stage.task_file) if stage.task_file else None)
            documents = collect([str(p) for p in stage.evidence], task or "",
                                base=chain.folder).filling.documents
        except UserError:
            continue
        check_filling(Filling(task or "", documents), stage.name)


def run_stage(library: Library, stage: Stage, project: str, base: Path,
              upstream: dict[str, StageResult], build_options: BuildOptions,
              run_options: RunOptions, settings: Settings, grading: GradeOptions,
              rubric: Rubric | None, model: Model, judge_model: Model) -> StageResult:
    """One stage: its toolkit filled (upstream answers as evidence), then its sessions."""
    from meta_prompting.chains.stage import stage_session
    from meta_prompting.grading.scorecard import grade_sample
    from meta_prompting.runs.run import read_answer, run_samples

    found = stage_session(library, stage, project, base, upstream, build_options,
                          run_options, settings)
    if isinstance(found, StageResult):
        return found
    built, session, later = found
    if stage.refine:
        from meta_prompting.chains.refined import run_refined

        assert rubric is not None  # refine needs grade: its rubric was read before any call
        return run_refined(library, stage, built.out_dir, session, run_options, grading,
                           rubric, model, judge_model)
    if stage.name in run_options.fresh_stages:
        from meta_prompting.chains.state import fresh_stage

        run_options = fresh_stage(built.out_dir, session, stage, run_options)
    graded = None
    from meta_prompting.grading.refine import Attempt

    tried: list[Attempt] = []  # every graded session, linked in CHAIN.md with its answer
    for attempt in range(1, stage.attempts + 1):
        ran = run_samples(built.out_dir, session, run_options._replace(
            samples=attempt, again=False, on_text=None, progress=None), model)
        sample = ran.samples[-1]
        if run_options.dry_run:
            from meta_prompting.grading.scorecard import planned_judgments
            from meta_prompting.runs.run import planned_answers

            status = CACHED if sample.ok and sample.status != WOULD_RUN else WOULD_RUN
            planned = planned_answers(session, (sample,))
            if stage.grade:
                assert rubric is not None  # read, before any call, for every graded stage
                planned += planned_judgments(sample, session, rubric, grading.judges,
                                             grading.judge_model or settings.model,
                                             rubric.goal == library.goal(stage.goal).rubric)
            return StageResult(stage, status, later,
                               sample=sample if status == CACHED else None,
                               out_dir=built.out_dir, planned=tuple(planned))
        if not sample.ok:
            return StageResult(stage, FAILED, sample.reason, out_dir=built.out_dir,
                               sessions=attempt - 1)
        fresh = sample.status == "ran"
        if not stage.grade:
            from meta_prompting.grading.structure import missing_headings

            return StageResult(stage, RAN if fresh else CACHED, sample=sample,
                               out_dir=built.out_dir, sessions=attempt,
                               lacks=missing_headings(session.prompt, read_answer(sample)))
        assert rubric is not None  # read, before any call, for every graded stage
        from meta_prompting.chains.schedule import Refusing

        if not isinstance(judge_model, Refusing):
            from meta_prompting.chains.progress import tell

            tell(run_options, stage.name, "grading")  # a judge is asked now
        graded = grade_sample(sample, session, rubric, grading.judges,
                              grading.judge_model or settings.model, judge_model,
                              run_options.timeout,
                              rubric.goal == library.goal(stage.goal).rubric,
                              repair=not run_options.dry_run)
        if graded.scorecard is None:
            return StageResult(stage, FAILED, f"its grade could not be made: {graded.reason}",
                               sample=None, graded=graded, out_dir=built.out_dir,
                               sessions=attempt)
        tried.append(Attempt(attempt, sample, graded))
        fresh = fresh or graded.status == "graded"  # a judge was paid: never "cached"
        if graded.scorecard.passed:
            # A grade made now is work done now: never "cached" after a call.
            from meta_prompting.grading.scorecard import CACHED as KEPT_CARD
            from meta_prompting.grading.scorecard import EDITED

            made = fresh or graded.status not in (KEPT_CARD, EDITED)
            return StageResult(stage, RAN if made else CACHED, sample=sample, graded=graded,
                               out_dir=built.out_dir, sessions=attempt,
                               attempts=tuple(tried) if attempt > 1 else (),
                               lacks=graded.missing)
    return StageResult(stage, FAILED_GRADE, f"no answer passed the scorecard in "
                       f"{stage.attempts} fresh session(s)", graded=graded,
                       out_dir=built.out_dir, sessions=stage.attempts, attempts=tuple(tried))


