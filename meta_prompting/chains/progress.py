"""What a chain says as it goes: each stage's state, its retries, and why a dry run runs it.

On stderr, a plain line whenever a stage changes state: waiting (for the stages it
comes after, once one of them is running), running, grading, done or failed (stages
found kept say nothing: the table below shows them). A retry or a rate-limit wait is
said with the stage whose call it is. A dry run says, for each stage it would run, why
(new, asked again, an upstream stage would run or changed, it failed before, its own
inputs changed) and what grading it would do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.models.base import ModelRequest, Notice, Reply, TextSink

if TYPE_CHECKING:
    from meta_prompting.chains.chain import StageResult
    from meta_prompting.grading.grade import Rubric
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.models.base import Model
    from meta_prompting.runs.run import RunOptions


class StageModel:
    """A stage's view of the shared model: its retries and waits are said as its own."""

    def __init__(self, model: Model, stage: str, notice: Notice | None) -> None:
        self.model, self.stage, self.notice = model, stage, notice
        self.name, self.provider = model.name, model.provider

    def complete(self, request: ModelRequest, *, on_text: TextSink | None = None,
                 on_notice: Notice | None = None) -> Reply:
        said = self.notice
        tell = on_notice or ((lambda note: said(f"{self.stage}: {note.strip()}"))
                             if said is not None else None)
        return self.model.complete(request, on_text=on_text, on_notice=tell)


def tell(options: RunOptions, name: str, state: str) -> None:
    """A stage's state, to the status board if there is one, else as a progress line."""
    if options.on_stage is not None:
        options.on_stage(name, state)
    elif options.progress is not None:
        options.progress(f"  {name}: {state}")


def done_state(result: StageResult) -> str | None:
    """The stage's last state, for people; None for a stage found kept."""
    from meta_prompting.chains.chain import BLOCKED, FAILED, FAILED_GRADE, RAN

    if result.status == RAN:
        card = result.graded.scorecard if result.graded else None
        grade = "" if card is None else f", {'PASS' if card.passed else 'FAIL'}"
        return f"done (ran{grade})"
    if result.status in (FAILED, FAILED_GRADE, BLOCKED):
        return result.status + (f": {result.reason}" if result.reason else "")
    return None


def handed_now(upstream: dict[str, StageResult]) -> dict[str, str | None]:
    """The sha256 of each upstream answer as it stands: what a stage is handed."""
    from meta_prompting.chains.state import answer_sha256

    return {name: answer_sha256(r.sample) if r.sample is not None else None
            for name, r in upstream.items()}


def dry_why(result: StageResult, upstream: dict[str, StageResult], fresh: bool,
            grading: GradeOptions, rubric: Rubric | None) -> str | None:
    """Why a dry run would run the stage, and the grading it would do; None when there
    is nothing to say (kept, ungraded)."""
    from meta_prompting.chains.chain import CACHED, WOULD_RUN

    if result.status not in (CACHED, WOULD_RUN):
        return None
    why = "kept" if result.status == CACHED else _reason(result, upstream, fresh)
    plan = _grading(result, grading, rubric)
    if result.status == CACHED and not plan:
        return None
    return f"{why}; {plan}" if plan else why


def _reason(result: StageResult, upstream: dict[str, StageResult], fresh: bool) -> str:
    from meta_prompting.chains.chain import WOULD_RUN
    from meta_prompting.chains.state import read_stage

    if fresh:
        return "would run: asked again (--fresh-stage)"
    moving = [n for n, r in upstream.items() if r.status == WOULD_RUN]
    if moving:
        return (f"would run: upstream {_names(moving)} run{'s' if len(moving) == 1 else ''} "
                "first")
    out = result.out_dir
    if out is None:
        return "would run: new"
    last = _last_status(out.parent, result.stage.name)
    if last in ("failed", "failed grade", "blocked"):
        return f"would run: it {'was blocked' if last == 'blocked' else last} last time"
    record = read_stage(out)
    if record is None and not _has_runs(out / "runs"):
        return "would run: new"
    before = record.get("handed") if record else None
    if isinstance(before, dict):
        changed = [n for n, sha in handed_now(upstream).items() if before.get(n) != sha]
        if changed:
            return f"would run: upstream {_names(changed)}'s answer changed since"
    return "would run: its inputs changed (task, evidence, toolkit or settings)"


def _grading(result: StageResult, grading: GradeOptions, rubric: Rubric | None) -> str:
    from meta_prompting.chains.chain import CACHED
    from meta_prompting.models.budget import JUDGMENT

    stage = result.stage
    if not stage.grade or rubric is None:
        return ""
    judges = f"{grading.judges} judge{'s' if grading.judges > 1 else ''}"
    if result.status == CACHED and not any(c.kind == JUDGMENT for c in result.planned):
        return f"its grade is kept ({rubric.goal}, {judges})"
    how = f"graded with {rubric.goal}'s scorecard, {judges}"
    if stage.refine:
        how += f", refined up to {stage.refine} attempts until one passes"
    elif stage.attempts > 1:
        how += f", up to {stage.attempts} fresh sessions until one passes"
    return ("would then be " if result.status != CACHED else "would be ") + how


def _names(names: list[str]) -> str:
    return ", ".join(names)


def _has_runs(runs: Path) -> bool:
    try:
        return any(not e.name.startswith(".") for e in runs.iterdir())
    except OSError:
        return False


def _last_status(project: Path, stage: str) -> str | None:
    """The stage's status when the chain last ran, as CHAIN.md recorded it."""
    from meta_prompting.chains.chainfile import CHAIN_FILE
    from meta_prompting.chains.index import parse_index
    from meta_prompting.store.files import TOOLKIT_LIMIT, read_regular

    try:
        text = read_regular(project / CHAIN_FILE, TOOLKIT_LIMIT, follow_links=False)
    except OSError:
        return None  # none yet, or not the tool's: no status to go by
    row = parse_index(text.decode("utf-8", "replace")).get(stage)
    return row[1] if row else None


def waiting_line(name: str, pending: Any) -> str:
    return f"{name}: waiting for {_names(sorted(pending))}"
