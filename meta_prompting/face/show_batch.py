"""What the batch side did, for people and programs: a look at the project's jobs
(collected, submitted, waiting, what failed and the command that goes on), --wait's
progress line, --batches' listing, --cancel-batch, and a dry run's one job.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.errors import EXIT_OK

if TYPE_CHECKING:
    from meta_prompting.batch.advance import Look
    from meta_prompting.batch.journal import Job
    from meta_prompting.batch.sources import Source


def show_dry_run(source: Source, model: str, command: str, args: argparse.Namespace,
             print_json: Callable[[dict[str, Any]], None]) -> int:
    """What one job would hold and its estimated cost at the batch rate; nothing sent."""
    from meta_prompting.batch import journal
    from meta_prompting.models.budget import JUDGMENT, Planned, estimate_plan
    from meta_prompting.models.prices import load_prices
    from meta_prompting.store.record import ANSWER

    assert source.make_work is not None
    work = source.make_work()
    live = {k for j in journal.load(source.out, tidy=False) if j.live for k in j.keys}
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
    from meta_prompting.face.show import plural, writer
    from meta_prompting.models.prices import money

    write = writer()
    if todo:
        kinds = [plural(n, w) for n, w in ((answers, "answer"), (len(todo) - answers,
                                                                  "judgment")) if n]
        write(f"Would submit one batch job of {plural(len(todo), 'request')} "
              f"({', '.join(kinds)}) to {model}'s Batch service.")
        write(f"Estimated cost at the batch rate (x{table.batch:g}): "
              f"{money(estimate['usd'])} (estimate: about 4 characters a token, each "
              f"answer at the --max-tokens limit or 2,000 tokens)")
    else:
        write("Would submit nothing: no request is missing" + (
            " that a live job does not hold" if held else "") + ".")
    if held:
        write(f"{held} request(s) are in a live batch job: never submitted twice.")
    if work.waiting:
        write(f"Waiting for this job's results first: {plural(work.waiting, work.later)} "
              "(a later job).")
    write("Dry run: nothing sent, nothing written.")
    return EXIT_OK


def interactive(command: str) -> str:
    return command.replace(" --batch", " --no-batch")


def say(message: str) -> None:
    from meta_prompting.face import streams
    from meta_prompting.face.show import printable

    streams.say(printable(message))


def progress_lines(look: Look, took: float, say: Callable[[str], None]) -> None:
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


def collected_lines(look: Look, say: Callable[[str], None]) -> None:
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
        write(f"Waiting for this job's results first: {plural(look.waiting, look.later)} "
              "(a later job).")
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


def jobs_table(out: Path, jobs: list[Job]) -> None:
    """--batches: a job a line (name, state, requests, created, collected)."""
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
