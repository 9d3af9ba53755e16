"""One stage's session: its toolkit filled with its task, evidence and the answers of
the stages it comes after, then built. Run by chain.run_stage, and planned from by a
batch job (batch/chained.py), so both send exactly the same request.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from meta_prompting.toolkit.prompt import Document, Filling

if TYPE_CHECKING:
    from meta_prompting.chains.chain import StageResult
    from meta_prompting.chains.chainfile import Stage
    from meta_prompting.library.goals import Library
    from meta_prompting.runs.run import RunOptions, Sample, Session, Settings
    from meta_prompting.toolkit.build import BuildOptions, BuildReport


def stage_session(library: Library, stage: Stage, project: str, base: Path,
                  upstream: dict[str, StageResult], build_options: BuildOptions,
                  run_options: RunOptions, settings: Settings
                  ) -> StageResult | tuple[BuildReport, Session, str | None]:
    """A stage's toolkit filled with its task, evidence and upstream answers, built: its
    session (and, in a dry run, the stage it waits for), or the result that stops it
    (blocked, a section missing, an incomplete toolkit). A batch job plans with it too."""
    from meta_prompting.chains.chain import BLOCKED, FAILED, WOULD_RUN, StageResult
    from meta_prompting.evidence.read import collect, read_task
    from meta_prompting.runs.run import Session, read_answer
    from meta_prompting.toolkit.build import build
    from meta_prompting.toolkit.sections import extract_section

    waiting = [r for r in upstream.values() if not r.ok]
    later = None  # a dry run: the stage whose answer, not made yet, this one waits for
    if waiting:
        first = waiting[0]
        if first.status != WOULD_RUN:
            return StageResult(stage, BLOCKED, f"stage {first.stage.name} is {first.status}")
        later = f"after stage {first.stage.name}"
    documents: list[Document] = []
    for after in stage.after:
        sample = upstream[after.stage].sample
        if sample is None:  # its answer is estimated at the assumed length
            from meta_prompting.models.budget import assumed_answer_chars

            documents.append(Document(after.document, "x" * assumed_answer_chars(
                settings.max_tokens)))
            continue
        text = read_answer(sample)
        if after.section:
            part = extract_section(text, after.section)
            if part is None:
                return StageResult(stage, BLOCKED, missing_section(
                    stage, after.stage, after.section, text, sample), missing_section=True)
            text = part
        documents.append(Document(after.document, text))
    task = read_task(stage.task, str(stage.task_file) if stage.task_file else None)
    assert task is not None
    # Named relative to the chain file: the same prompt, so the same run, from any folder.
    evidence = collect([str(p) for p in stage.evidence], task, base=base,
                       skip=(library.output,))
    filling = Filling(task, evidence.filling.documents + tuple(documents))
    built = build(library, stage.goal, project, build_options._replace(
        filling=filling, stage=stage.name, dry_run=run_options.dry_run,
        supply=build_options.supply._replace(progress=None)))
    if built.filled is None:
        missing = [p.file for p in built.parts if p.status in ("placeholder", "missing",
                                                               "empty")]
        return StageResult(stage, FAILED if not run_options.dry_run else WOULD_RUN,
                           f"its toolkit is incomplete ({', '.join(missing)})",
                           out_dir=built.out_dir)
    return built, Session(built.filled[0], built.filled[1], settings), later


def missing_section(stage: Stage, upstream: str, section: str, answer: str,
                    sample: Sample) -> str:
    """Why a stage is blocked on a section, and the two ways on: the answer is kept, so
    running the chain as it is would hand on the same answer and block again."""
    from meta_prompting.store.files import nice_path
    from meta_prompting.toolkit.sections import outline

    have = ", ".join(f'"**{h.title}**"' if h.bold_line else f'"{h.title}"'
                     for h in outline(answer)) or "none"
    return (f'stage {upstream}\'s answer has no section "{section}" (its headings: {have}). '
            f"Either edit that answer by hand ({nice_path(sample.folder / 'answer.md')}) "
            f'to add the section, or change the section stage {stage.name} names for '
            f"{upstream} in the chain file")
