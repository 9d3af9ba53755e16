"""--batch and --no-batch on the command line: flags checked, the command's work found,
the batch side run, and its exit code decided.

`batch_cli` runs before the usual command: it returns an exit code when the batch side
has the last word (a job submitted or still running: 5; a failure: 3; a listing: 0),
or None when nothing is left for a model to make, and the usual command then runs,
finds every result kept, and reports them as it always does (tables, RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.errors import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_SUBMITTED,
    UsageError,
    UserError,
)
from meta_prompting.face.show_batch import (
    collected_lines,
    interactive,
    job_json,
    jobs_table,
    look_json,
    progress_lines,
    say,
    show,
    show_dry_run,
)

if TYPE_CHECKING:
    from meta_prompting.batch.advance import Look
    from meta_prompting.batch.sources import Source
    from meta_prompting.library.goals import Library

# Not yet joined with --batch: refused rather than silently ignored.
_CLASHES = (("--answer", "answer"), ("--again", "again"), ("--fresh", "fresh"),
            ("--refine", "refine"), ("--budget", "budget"), ("--fresh-stage", "fresh_stage"),
            ("--junit", "junit"))


def batch_cli(root: Path, args: argparse.Namespace, *,
              progress: Callable[[str], None],
              print_json: Callable[[dict[str, Any]], None]) -> int | None:
    """The batch side of the command (see the module)."""
    if args.wait and not args.batch:
        raise UsageError("--wait waits for a batch job: give it with --batch")
    if args.batch and args.no_batch:
        raise UsageError("--batch and --no-batch: choose one")
    if args.batches or args.cancel_batch is not None:
        return jobs_cli(root, args, print_json)
    if args.batch:
        clash = [flag for flag, name in _CLASHES if getattr(args, name, None)]
        if clash:
            raise UsageError(f"--batch with {', '.join(clash)}: not supported yet; leave "
                             "it out (or make it interactively with --no-batch)")
    if args.batch and not args.dry_run:  # before anything is built or sent
        from meta_prompting.core.context import ModelChoice

        _check_model(ModelChoice(args.model, args.base_url).name)
    source, command, model = _source(root, args)
    if source.make_work is None:
        return None  # the toolkit is incomplete: the usual command says so and how
    if args.batch:
        command += " --batch"
    if args.batch and args.dry_run:
        return show_dry_run(source, model, command, args, print_json)
    if args.dry_run:
        return None
    from meta_prompting.batch.advance import follow
    from meta_prompting.models.gemini_batch import GeminiBatch

    client = GeminiBatch(_bare(model), timeout=args.timeout)
    quiet = args.quiet or args.json
    look = follow(source.out, client, source.make_work, command=command,
                  timeout=args.timeout + 30, wait=args.batch and args.wait,
                  submit=args.batch, threads=args.jobs,
                  on_poll=None if quiet else lambda look, took: progress_lines(
                      look, took, progress))
    if not args.batch:  # --no-batch, or a plain run with a live job in the project
        return _guard(look, command, args)
    code = EXIT_SUBMITTED if look.live else EXIT_OK if look.done else EXIT_INCOMPLETE
    if code == EXIT_OK:
        if not quiet:
            collected_lines(look, progress)
        return None  # every result is kept: the usual command reports them
    if args.json:
        print_json({"ok": True, "exit_code": code, "batch": look_json(look, command)})
    elif not args.quiet:
        show(look, command, interactive(command))
    else:  # the one line -q keeps: what to run next
        from meta_prompting.face.show import printable

        said = "submitted; to collect" if code == EXIT_SUBMITTED else "incomplete; to finish"
        sys.stderr.write(printable(f"{source.out}/: {said}, run again: {command}") + "\n")
    return code


def _source(root: Path, args: argparse.Namespace) -> tuple[Source, str, str]:
    """The command's work, the command that collects it, and the model: the context and
    requests the flags make (face.requests), as the interactive command would."""
    from meta_prompting.batch.sources import session_source, tasks_source
    from meta_prompting.core.answers import settings as settings_of
    from meta_prompting.core.build import build_options
    from meta_prompting.face.flags import check_ci_flags
    from meta_prompting.face.requests import build_request, context_of
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.library.goals import load_library
    from meta_prompting.runs.run import RunOptions
    from meta_prompting.toolkit.build import rerun_command

    quiet = args.quiet or args.json
    library = load_library(root)
    if args.chain is not None:
        return _chain_source(root, args, library)
    if args.tasks is not None:
        from meta_prompting.face.tasks import _check_flags, _suffix
        from meta_prompting.tasks.taskfile import load_tasks

        grade = _check_flags(args)
        goal = library.goal(args.goal).name
        tasks = load_tasks(Path(args.tasks))
        suffix = _suffix(args, grade, None)
        ctx, _, _ = context_of(args, root, library, fill=False)
        settings = settings_of(ctx, args.max_tokens)
        command = rerun_command(ctx.command, goal, args.project) + suffix
        run_options = RunOptions(jobs=args.jobs, timeout=args.timeout, dry_run=args.dry_run,
                                 command=command, progress=None if quiet else say)
        grading = GradeOptions(args.grade_with, args.judges,
                               judge_model=args.judge_model) if grade else None
        built = build_options(ctx, build_request(args, None, suffix)._replace(goal=goal))
        return tasks_source(library, goal, args.project, tasks, built, run_options, settings,
                            args.samples or 1, grading, ctx.open_model), command, settings.model
    if not (args.run or args.samples or args.grade or args.task or args.task_file):
        raise UsageError("--batch sends what --run, --samples, --grade, --tasks or --chain "
                         "lacks: give one")
    if args.goal is None or args.project is None:
        raise UsageError("--batch needs --goal and --project")
    if args.batch:
        args.run = True  # --batch with a task runs it (in the job)
    # reads --task and --evidence (and says what a walk left out)
    ctx, filling, again = context_of(args, root, library)
    check_ci_flags(args)
    settings = settings_of(ctx, args.max_tokens)
    command = rerun_command(ctx.command, args.goal, args.project) + again
    if args.samples and args.samples > 1:
        command += f" --samples {args.samples}"
    run_options = RunOptions(jobs=args.jobs, timeout=args.timeout, dry_run=args.dry_run,
                             command=command)
    grading = GradeOptions(args.grade_with, args.judges,
                           judge_model=args.judge_model) if args.grade else None
    built = build_options(ctx, build_request(args, filling, again))
    return session_source(library, args.goal, args.project, built, run_options, settings,
                          args.samples or 1, grading, ctx.open_model), command, settings.model


def _chain_source(root: Path, args: argparse.Namespace, library: Library
                  ) -> tuple[Source, str, str]:
    """A chain's next wave; the command is the one --chain says to run again."""
    from meta_prompting.batch.chained import chain_source
    from meta_prompting.chains.chainfile import load_chain
    from meta_prompting.core.answers import settings as settings_of
    from meta_prompting.core.build import BuildRequest, build_options
    from meta_prompting.face.requests import chain_request, context_of
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.runs.run import RunOptions

    given = [flag for flag, value in (("--goal", args.goal), ("--task", args.task),
                                      ("--tasks", args.tasks), ("--run", args.run),
                                      ("--samples", args.samples), ("--grade", args.grade))
             if value]
    if given:
        raise UsageError(f"--chain takes its goals and tasks from the chain file, not "
                         f"{', '.join(given)}")
    if args.project is None:
        raise UsageError("--chain needs --project: the folder under output/ for its stages")
    chain = load_chain(Path(args.chain), library, args.grade_with)
    ctx, _, _ = context_of(args, root, library, fill=False)
    command = chain_request(ctx, args, chain).command
    settings = settings_of(ctx, args.max_tokens)
    options = build_options(ctx, BuildRequest("", args.project, force=args.force,
                                              dry_run=args.dry_run))
    run_options = RunOptions(jobs=args.jobs, timeout=args.timeout, dry_run=args.dry_run,
                             command=command)
    grading = GradeOptions(args.grade_with, args.judges, judge_model=args.judge_model)
    return chain_source(library, chain, args.project, options, run_options, settings,
                        grading, ctx.open_model, batch=args.batch), command, settings.model


def _check_model(model: str) -> None:
    """Gemini's Developer API only, with a key: refused in one line before anything."""
    from meta_prompting.models import parse_spec
    from meta_prompting.models.gemini import blocker

    if parse_spec(model).provider != "gemini":
        raise UserError(f"--batch uses Gemini's Batch service; {model} is not a Gemini "
                        "model (leave out --batch for it)")
    from meta_prompting.models.keys import use_vertex

    if use_vertex():
        raise UserError("--batch uses the Gemini Developer API's Batch service; Vertex AI "
                        "batches read from Cloud Storage (leave out --batch there)")
    why = blocker()
    if why:
        raise UserError(f"--batch: {why}")


def _bare(model: str) -> str:
    from meta_prompting.models import parse_spec

    return parse_spec(model).name


def _guard(look: Look, command: str, args: argparse.Namespace) -> int | None:
    """An interactive command must not pay for what a live job will bring: refused,
    naming the job, rather than waiting (a job may take up to a day)."""
    if not look.held:
        return None
    jobs = ", ".join(f"{j.name or j.display_name} ({j.state})" for j in look.live)
    why = "; ".join(look.problems)
    batch = command.replace(" --no-batch", "") + (" --batch" if " --batch" not in command
                                                  else "")
    raise UserError(
        f"{look.held} of the requests this command would make are in the project's batch "
        f"job {jobs or why}: made now, they would be paid for twice. Collect them with "
        f"`{batch}` (add --wait to stay until they end), or cancel the job with "
        f"--cancel-batch {look.live[0].name if look.live else 'NAME'} -p {args.project} "
        "first")


def jobs_cli(root: Path, args: argparse.Namespace,
              print_json: Callable[[dict[str, Any]], None]) -> int:
    """--batches (list) and --cancel-batch NAME (cancel, its keys freed)."""
    from meta_prompting.batch import journal
    from meta_prompting.library.goals import load_library
    from meta_prompting.toolkit.assemble import project_dir

    if args.project is None:
        flag = "--batches" if args.batches else "--cancel-batch"
        raise UsageError(f"{flag} needs --project: the project whose jobs it means")
    out = project_dir(load_library(root), args.project)
    if args.cancel_batch is not None:
        from meta_prompting.batch.advance import cancel
        from meta_prompting.models.gemini_batch import GeminiBatch

        jobs = journal.load(out)
        found = journal.find(jobs, args.cancel_batch)
        _check_model(found.model)
        job = cancel(out, GeminiBatch(found.model, timeout=args.timeout), args.cancel_batch,
                     args.timeout + 30)
        if args.json:
            print_json({"ok": True, "exit_code": EXIT_OK, "cancelled": job_json(job)})
        elif not args.quiet:
            say(f"Cancelled {job.name} ({len(job.keys)} request(s)); the next --batch run "
                 "submits them again.")
        return EXIT_OK
    jobs = journal.load(out)
    if args.json:
        print_json({"ok": True, "exit_code": EXIT_OK, "jobs": [job_json(j) for j in jobs]})
        return EXIT_OK
    jobs_table(out, jobs)
    return EXIT_OK
