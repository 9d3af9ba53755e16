"""The flags, read into the core's vocabulary: one context and a request per mode.

Every check of a flag's value that needs more than argparse happens here, in the order
the flags are read, before anything is written; so do the flags said again in "run
this again" hints (the core only repeats them).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from meta_prompting.core.build import BuildRequest
from meta_prompting.core.context import Context, Events
from meta_prompting.errors import UsageError
from meta_prompting.face import streams
from meta_prompting.face.flags import check_base_url, check_model, ci_suffix, prog

if TYPE_CHECKING:
    from meta_prompting.chains.chainfile import Chain
    from meta_prompting.core.answers import GradeRequest, RunRequest
    from meta_prompting.core.chain import ChainRequest
    from meta_prompting.library.goals import Library, Part
    from meta_prompting.toolkit.prompt import Filling


def context_of(args: argparse.Namespace, root: Path, library: Library | None,
               fill: bool = True) -> tuple[Context, Filling | None, str]:
    """The command's context (the model flags checked once, here), the task and
    evidence the flags give, and the flags that say them again."""
    from meta_prompting.core.context import ModelChoice

    base = prog()
    if args.root:
        base += f" --root {shlex.quote(args.root)}"
    if args.model:
        base += f" --model {shlex.quote(args.model)}"
    if args.base_url:
        base += f" --base-url {shlex.quote(args.base_url)}"
    check_model(args.model)
    check_model(args.judge_model, "--judge-model")
    check_base_url(args.base_url)
    filling, suffix = _filling(args) if fill else (None, "")  # --tasks: a row fills it
    quiet = args.quiet or args.json
    events = Events(progress=None if quiet else progress, notice=retrying(args),
                    part_waiting=None if quiet else _waiting,
                    run_waiting=None if quiet else _waiting_run)
    return Context(root, library, ModelChoice(args.model, args.base_url),
                   generate=not args.no_generate, jobs=args.jobs, timeout=args.timeout,
                   events=events, command=base), filling, suffix


def build_request(args: argparse.Namespace, filling: Filling | None = None,
                  again: str = "") -> BuildRequest:
    return BuildRequest(args.goal, args.project, filling, again, force=args.force,
                        dry_run=args.dry_run, describe=dict(args.describe),
                        regenerate=frozenset(args.regenerate))


def grade_request(ctx: Context, args: argparse.Namespace, build: BuildRequest
                  ) -> GradeRequest:
    """--run (and --grade, --answer, --refine): the samples, and how they are graded."""
    from meta_prompting.core.answers import GradeRequest, RunRequest
    from meta_prompting.toolkit.build import rerun_command

    run: RunRequest = RunRequest(
        build, samples=args.samples or 1, one_more=args.again,
        fresh=(args.fresh,) if args.fresh else (), max_tokens=args.max_tokens,
        dry_run=args.dry_run,
        command=rerun_command(ctx.command, args.goal, args.project) + build.again)
    return GradeRequest(run, args.grade_with, args.judges, args.judge_model, args.answer,
                        refine=args.refine or 0)


def chain_request(ctx: Context, args: argparse.Namespace, chain: Chain) -> ChainRequest:
    from meta_prompting.core.chain import ChainRequest

    command = (f"{ctx.command} --chain {shlex.quote(args.chain)} "
               f"--project {shlex.quote(args.project)}")
    if args.grade_with is not None:
        command += f" --grade-with {shlex.quote(args.grade_with)}"
    if args.judges > 1:
        command += f" --judges {args.judges}"
    command += ci_suffix(args)
    if args.judge_model is not None:
        command += f" --judge-model {shlex.quote(args.judge_model)}"
    if args.max_tokens:  # part of every stage's key: without it, every stage runs anew
        command += f" --max-tokens {args.max_tokens}"
    return ChainRequest(chain, args.project, args.grade_with, args.judges,
                        args.judge_model, frozenset(args.fresh_stage), args.max_tokens,
                        args.dry_run, args.force, dict(args.describe),
                        frozenset(args.regenerate), command)


def _filling(args: argparse.Namespace) -> tuple[Filling | None, str]:
    """The task and evidence the flags give, and the flags that say them again."""
    args.grade = args.grade or args.answer is not None or bool(args.refine)
    if args.refine and (args.samples or args.again or args.answer is not None):
        flag = "--samples" if args.samples else "--again" if args.again else "--answer"
        raise UsageError(f"--refine and {flag}: a refine loop is one answer at a time, each "
                         "attempt refined from the one before")
    if args.fresh and (args.answer is not None or args.refine):
        raise UsageError(f"--fresh and {'--answer' if args.answer else '--refine'}: --fresh "
                         "makes one kept sample again; give it alone")
    if args.fresh_stage and args.chain is None:
        raise UsageError("--fresh-stage names a stage of a chain: give it with --chain")
    args.run = args.run or bool(args.samples) or args.again or args.grade or bool(args.fresh)
    if args.task_file == "-" and "-" in args.evidence:
        raise UsageError("--task-file - and --evidence -: only one can read standard input")
    task = None
    if args.task is not None or args.task_file is not None:  # else no reading to load
        from meta_prompting.evidence.read import read_task

        task = read_task(args.task, args.task_file)
    if args.run and args.no_generate:
        raise UsageError("--run and --no-generate: a run calls the model")
    recalled = None
    if task is None and args.run and args.project is not None:
        from meta_prompting.face.recall import last_filling
        from meta_prompting.library.goals import find_root as root_of

        recalled = last_filling(root_of(args.root), args, progress)  # nothing retyped
        task = recalled.task
    if task is None:
        if args.run:
            flag = "--grade" if args.grade else "--run"
            raise UsageError(f"{flag} needs a task: give --task TEXT or --task-file FILE")
        if args.evidence or args.evidence_diff:
            flag = "--evidence" if args.evidence else "--evidence-diff"
            raise UsageError(f"{flag} fills the toolkit's evidence block: give --task "
                             "(or --task-file) too")
        return None, ""
    from meta_prompting.evidence.read import collect
    from meta_prompting.library.goals import find_root
    from meta_prompting.library.layers import OUTPUT

    evidence = collect(args.evidence, task, everything=args.evidence_all,
                       skip=(find_root(args.root) / OUTPUT,))
    if recalled is not None and not (args.evidence or args.evidence_diff):
        evidence = evidence._replace(filling=recalled)
    if args.evidence_diff is not None:
        from meta_prompting.evidence.diff import add_diff

        evidence = add_diff(evidence, args.evidence_diff)
    for note in evidence.notes:
        if not (args.quiet or args.json):
            progress(f"  {note}")
    flags = (f" --task {shlex.quote(args.task)}" if args.task is not None
             else f" --task-file {shlex.quote(args.task_file)}" if args.task_file is not None
             else "")  # a recalled task is recalled again by the same command
    flags += "".join(f" --evidence {shlex.quote(p)}" for p in args.evidence)
    if args.evidence_all and args.evidence:
        flags += " --evidence-all"
    if args.evidence_diff is not None:
        flags += f" --evidence-diff {shlex.quote(args.evidence_diff)}"
    if args.grade:
        flags += " --grade" + (f" --grade-with {args.grade_with}" if args.grade_with
                               else "") + (f" --judges {args.judges}" if args.judges > 1 else "")
        flags += ci_suffix(args)
        flags += f" --refine {args.refine}" if args.refine else ""
        if args.judge_model:
            flags += f" --judge-model {shlex.quote(args.judge_model)}"
    elif args.run:
        flags += " --run"
    if args.run and args.max_tokens:
        flags += f" --max-tokens {args.max_tokens}"
    return evidence.filling, flags


def progress(message: str) -> None:
    from meta_prompting.face.show import printable

    streams.say(printable(message))  # a reason may quote the model or the map


def _waiting(part: Part) -> None:
    progress(f"  waiting: another run is generating {part.key}")


def _waiting_run(run_id: str) -> None:
    progress(f"  waiting: another run is making {run_id}")


def retrying(args: argparse.Namespace) -> Callable[[str], None] | None:
    return None if args.quiet or args.json else lambda note: progress(f"  {note}")
