"""--batch, --no-batch, --batches and --cancel-batch for people and programs.

`batch_cli` runs before the usual command: it returns an exit code when the batch side
has the last word (a job submitted or still running: 5; a failure: 3; a listing: 0),
or None when nothing is left for a model to make, and the usual command then runs,
finds every result kept, and reports them as it always does (tables, RESULTS.md).
"""

from __future__ import annotations

import argparse
import shlex
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

if TYPE_CHECKING:
    from meta_prompting.batch.advance import Look
    from meta_prompting.batch.journal import Job
    from meta_prompting.batch.sources import Source
    from meta_prompting.toolkit.build import BuildOptions

# Not yet joined with --batch: refused rather than silently ignored.
_CLASHES = (("--answer", "answer"), ("--again", "again"), ("--fresh", "fresh"),
            ("--refine", "refine"), ("--budget", "budget"), ("--fresh-stage", "fresh_stage"),
            ("--junit", "junit"))


def wants_batch(args: argparse.Namespace, root: Path) -> bool:
    """Whether the batch side looks first: asked for, or a live job in the project that
    an interactive command must not pay for twice (cheap when there is none)."""
    if args.batch or args.no_batch or args.wait or args.batches or \
            args.cancel_batch is not None:
        return True
    if args.project is None or args.dry_run or not (
            args.run or args.samples or args.grade or args.tasks or args.chain):
        return False
    from meta_prompting.batch.journal import has_live
    from meta_prompting.library.layers import OUTPUT

    return has_live(root / OUTPUT / args.project)


def batch_cli(root: Path, args: argparse.Namespace,
              options: Callable[[bool], BuildOptions], *,
              progress: Callable[[str], None],
              print_json: Callable[[dict[str, Any]], None]) -> int | None:
    """The batch side of the command (see the module); `options(fill)` is the face's
    BuildOptions (filled with --task and --evidence unless `fill` is False)."""
    if args.wait and not args.batch:
        raise UsageError("--wait waits for a batch job: give it with --batch")
    if args.batch and args.no_batch:
        raise UsageError("--batch and --no-batch: choose one")
    if args.batches or args.cancel_batch is not None:
        return _jobs_cli(root, args, print_json)
    if args.batch:
        clash = [flag for flag, name in _CLASHES if getattr(args, name, None)]
        if clash:
            raise UsageError(f"--batch with {', '.join(clash)}: not supported yet; leave "
                             "it out (or make it interactively with --no-batch)")
    if args.chain is not None:
        if not (args.batch or args.no_batch):
            return None  # a chain's live jobs are looked at by its own --batch run
        raise UsageError("--chain with --batch or --no-batch: not supported yet")
    source, command, model = _source(root, args, options)
    if source.make_work is None:
        return None  # the toolkit is incomplete: the usual command says so and how
    if args.batch:
        command += " --batch"
    if args.batch and args.dry_run:
        return _dry_run(source, model, command, args, print_json)
    if args.dry_run:
        return None
    from meta_prompting.batch.advance import follow
    from meta_prompting.models.gemini_batch import GeminiBatch

    if args.batch:
        _check_model(model)
    client = GeminiBatch(_bare(model), timeout=args.timeout)
    quiet = args.quiet or args.json
    look = follow(source.out, client, source.make_work, command=command,
                  timeout=args.timeout + 30, wait=args.batch and args.wait,
                  submit=args.batch,
                  on_poll=None if quiet else lambda look, took: _progress_lines(
                      look, took, progress))
    if not args.batch:  # --no-batch, or a plain run with a live job in the project
        return _guard(look, command, args)
    code = EXIT_SUBMITTED if look.live else EXIT_OK if look.done else EXIT_INCOMPLETE
    if code == EXIT_OK:
        if not quiet:
            _collected_lines(look, progress)
        return None  # every result is kept: the usual command reports them
    if args.json:
        print_json({"ok": True, "exit_code": code, "batch": look_json(look, command)})
    elif not args.quiet:
        show(look, command, _interactive(command))
    elif code == EXIT_INCOMPLETE:
        sys.stderr.write(f"incomplete; to finish, run again: {command}\n")
    return code


def _source(root: Path, args: argparse.Namespace, options: Callable[[bool], BuildOptions]
            ) -> tuple[Source, str, str]:
    """The command's work, the command that collects it, and the model."""
    from meta_prompting.batch.sources import session_source, tasks_source
    from meta_prompting.face.flags import check_ci_flags
    from meta_prompting.grading.scorecard import GradeOptions
    from meta_prompting.library.goals import load_library
    from meta_prompting.models import default_model
    from meta_prompting.runs.run import RunOptions, Settings
    from meta_prompting.toolkit.build import rerun_command

    quiet = args.quiet or args.json
    settings = Settings(args.model or default_model(), args.max_tokens, args.base_url)
    if args.tasks is not None:
        from meta_prompting.tasks.face import _check_flags, _suffix
        from meta_prompting.tasks.taskfile import load_tasks

        grade = _check_flags(args)
        built = options(False)
        library = load_library(root)
        goal = library.goal(args.goal).name
        tasks = load_tasks(Path(args.tasks))
        suffix = _suffix(args, grade, None)
        command = rerun_command(built.command, goal, args.project) + suffix
        run_options = RunOptions(jobs=args.jobs, timeout=args.timeout, dry_run=args.dry_run,
                                 command=command, progress=None if quiet else _say)
        grading = GradeOptions(args.grade_with, args.judges,
                               judge_model=args.judge_model) if grade else None
        return tasks_source(library, goal, args.project, tasks, built._replace(
            suffix=suffix), run_options, settings, args.samples or 1, grading), \
            command, settings.model
    if not (args.run or args.samples or args.grade or args.task or args.task_file):
        raise UsageError("--batch sends what --run, --samples, --grade, --tasks or --chain "
                         "lacks: give one")
    if args.goal is None or args.project is None:
        raise UsageError("--batch needs --goal and --project")
    built = options(True)  # reads --task and --evidence (and says what a walk left out)
    check_ci_flags(args)
    library = load_library(root)
    command = rerun_command(built.command, args.goal, args.project) + built.suffix
    if args.samples and args.samples > 1:
        command += f" --samples {args.samples}"
    run_options = RunOptions(jobs=args.jobs, timeout=args.timeout, dry_run=args.dry_run,
                             command=command)
    grading = GradeOptions(args.grade_with, args.judges,
                           judge_model=args.judge_model) if args.grade else None
    return session_source(library, args.goal, args.project, built, run_options, settings,
                          args.samples or 1, grading), command, settings.model


def _check_model(model: str) -> None:
    """Gemini's Developer API only, with a key: refused in one line before anything."""
    from meta_prompting.models import parse_spec
    from meta_prompting.models.gemini import blocker

    if parse_spec(model).provider != "gemini":
        raise UserError(f"--batch uses Gemini's Batch service; {model} is not a Gemini "
                        "model (leave out --batch for it)")
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
        f"--cancel-batch NAME -p {args.project} first")


def _dry_run(source: Source, model: str, command: str, args: argparse.Namespace,
             print_json: Callable[[dict[str, Any]], None]) -> int:
    """What one job would hold and its estimated cost at the batch rate; nothing sent."""
    from meta_prompting.batch import journal
    from meta_prompting.models.budget import JUDGMENT, Planned, estimate_plan
    from meta_prompting.models.prices import load_prices
    from meta_prompting.store.record import ANSWER

    assert source.make_work is not None
    work = source.make_work()
    live = {k for j in journal.load(source.out) if j.live for k in j.keys}
    todo = [p for p in work.pieces if p.key not in live]
    held = len(work.pieces) - len(todo)
    planned = [Planned(ANSWER if p.kind == ANSWER else JUDGMENT,
                       len(p.request.system) + len(p.request.user), p.request.max_tokens)
               for p in todo]
    estimate = estimate_plan(model, planned)
    table = load_prices()
    if estimate["usd"] is not None:
        estimate["usd"] = round(estimate["usd"] * table.batch, 8)
    estimate["batch_rate"] = table.batch
    answers = sum(p.kind == ANSWER for p in todo)
    if args.json:
        print_json({"ok": True, "exit_code": EXIT_OK, "batch": {
            "dry_run": True, "requests": len(todo), "answers": answers,
            "judgments": len(todo) - answers, "in_live_jobs": held,
            "waiting": work.waiting, "estimate": estimate, "command": command}})
        return EXIT_OK
    from meta_prompting.face.show import writer
    from meta_prompting.models.prices import money

    write = writer()
    if todo:
        write(f"Would submit one batch job of {len(todo)} request(s) ({answers} answer(s), "
              f"{len(todo) - answers} judgment(s)) to {model}'s Batch service.")
        write(f"Estimated cost at the batch rate (x{table.batch:g}): "
              f"{money(estimate['usd'])} (estimate: about 4 characters a token, each "
              f"answer at the --max-tokens limit or 2,000 tokens)")
    else:
        write("Would submit nothing: no request is missing" + (
            " that a live job does not hold" if held else "") + ".")
    if held:
        write(f"{held} request(s) are in a live batch job: never submitted twice.")
    if work.waiting:
        write(f"Scorecards waiting for their answers (a later job): {work.waiting}.")
    write("Dry run: nothing sent, nothing written.")
    return EXIT_OK


def _interactive(command: str) -> str:
    return command.replace(" --batch", " --no-batch")


def _say(message: str) -> None:
    from meta_prompting.face import streams
    from meta_prompting.face.show import printable

    streams.say(printable(message))


def _progress_lines(look: Look, took: float, say: Callable[[str], None]) -> None:
    """--wait's line on stderr, per live job: state, requests done of total, elapsed."""
    for job in look.live:
        done = f"{job.done or 0} of {job.total}" if job.total else "? of ?"
        say(f"  batch {job.name or job.display_name}: {job.state}, {done} requests done, "
            f"{_elapsed(took)} elapsed")


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes \
        else f"{secs}s"


def _collected_lines(look: Look, say: Callable[[str], None]) -> None:
    for job in look.collected:
        say(f"Collected {job.name} ({job.state}): {job.kept} of {len(job.keys)} kept"
            + (f", {job.dropped} already kept" if job.dropped else ""))


def show(look: Look, command: str, interactive: str) -> None:
    """What the look did, what is left, and the command that goes on."""
    from meta_prompting.face.show import plural, printable, writer

    write = writer()
    labels = {p.key: p.label for p in look.remaining}
    for job in look.collected:
        write(f"Collected {job.name} ({job.state}): {job.kept} of "
              f"{plural(len(job.keys), 'request')} kept"
              + (f", {job.dropped} already kept" if job.dropped else ""))
        for key, why in job.failures.items():
            write(f"  not kept: {labels.get(key, key)} [{key}]: {why}")
    sent = look.submitted
    if sent is not None and sent.name:
        write(f"Submitted {sent.name} ({_kinds(look, sent)}) to {sent.model}'s Batch "
              "service, at the batch price; it may take up to a day (the service expires "
              "it after 48 hours).")
    for job in look.live:
        if job is not sent:
            done = f", {job.done or 0} of {job.total} requests done" if job.total else ""
            write(f"Waiting for {job.name or job.display_name}: {job.state}{done}.")
    for problem in look.problems:
        write(f"Problem: {problem}")
    if look.waiting:
        write(f"Scorecards waiting for their answers (the next job): {look.waiting}.")
    if look.live:
        write("Collect it with the same command (exit 5 until it has ended):")
        sys.stdout.write(f"  {printable(command)}\n")
        return
    missing = len(look.failures) or len(look.remaining)
    write(f"{plural(missing, 'request')} not made. To submit again, run the same command:")
    sys.stdout.write(f"  {printable(command)}\n")
    write("or make them now with interactive calls (at the full price):")
    sys.stdout.write(f"  {printable(interactive)}\n")


def _kinds(look: Look, job: Job) -> str:
    from meta_prompting.face.show import plural
    from meta_prompting.store.record import ANSWER

    keys = set(job.keys)
    answers = sum(p.kind == ANSWER for p in look.remaining if p.key in keys)
    said = [plural(n, word) for n, word in ((answers, "answer"),
                                            (len(keys) - answers, "judgment")) if n]
    return f"{plural(len(keys), 'request')}: {', '.join(said)}"


def look_json(look: Look, command: str) -> dict[str, Any]:
    return {"command": command, "jobs": [job_json(j) for j in look.jobs],
            "submitted": look.submitted.name if look.submitted else None,
            "collected": [j.name for j in look.collected], "live": [
                j.name or j.display_name for j in look.live],
            "failures": look.failures, "waiting": look.waiting,
            "problems": list(look.problems)}


def job_json(job: Job) -> dict[str, Any]:
    return {"name": job.name, "display_name": job.display_name, "state": job.state,
            "model": job.model, "requests": len(job.keys), "done": job.done,
            "failed": job.failed, "created": job.created or job.date,
            "collected": job.collected, "kept": job.kept, "failures": job.failures,
            "command": job.command}


def _jobs_cli(root: Path, args: argparse.Namespace,
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
            _say(f"Cancelled {job.name} ({len(job.keys)} request(s)); the next --batch run "
                 "submits them again.")
        return EXIT_OK
    jobs = journal.load(out)
    if args.json:
        print_json({"ok": True, "exit_code": EXIT_OK, "jobs": [job_json(j) for j in jobs]})
        return EXIT_OK
    lines = [("name", "state", "requests", "created", "collected")]
    for j in jobs:
        state = j.state.lower() + ("" if j.collected or not j.ended else ", not collected")
        lines.append((j.name or j.display_name, state, str(len(j.keys)),
                      (j.created or j.date)[:19].replace("T", " "),
                      (j.collected or "")[:19].replace("T", " ") + (
                          f" ({j.kept} kept, {len(j.failures)} not)" if j.collected else "")))
    widths = [max(len(row[i]) for row in lines) for i in range(5)]
    from meta_prompting.face.show import printable

    for row in lines:
        sys.stdout.write(printable("  ".join(c.ljust(w) for c, w in zip(
            row, widths, strict=True)).rstrip()) + "\n")
    if not jobs:
        sys.stdout.write(f"No batch jobs in {shlex.quote(str(out))}.\n")
    return EXIT_OK
