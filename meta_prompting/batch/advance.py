"""One look at a project's batch jobs: reattach, poll, collect, then submit what is left.

Under the project's lock, every time: a job recorded without a name is looked for by
its display name; each live job is polled once; an ended one whose keys this command
needs is collected (results matched by key, each kept as an interactive call's
record would be, the job then marked collected); then what the command still lacks,
less every key a live job holds, goes to the service as one job: its intent recorded
first, its name after. A look that collected a failure submits nothing: the failures
are reported, and the next run (or --no-batch) makes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.batch import journal
from meta_prompting.batch.journal import INTENT, NOT_CREATED, Job
from meta_prompting.batch.work import Piece, Work
from meta_prompting.errors import GenerationError, UserError
from meta_prompting.store.record import now

if TYPE_CHECKING:
    from meta_prompting.models.base import Reply
    from meta_prompting.models.gemini_batch import GeminiBatch


class Look(NamedTuple):
    jobs: tuple[Job, ...]  # every job of the project, as recorded after the look
    collected: tuple[Job, ...]  # the jobs collected by this look
    submitted: Job | None  # the job this look created (or tried to: see problems)
    remaining: tuple[Piece, ...]  # what the command lacks, as the look left it
    held: int  # of those, requests a live job holds (never submitted twice)
    waiting: int  # results waiting for an earlier wave (a scorecard's answer)
    problems: tuple[str, ...]  # what could not be looked at or submitted, and why
    later: str = "scorecard"  # what waits (Work.later)

    @property
    def live(self) -> tuple[Job, ...]:
        """The live jobs holding what this command lacks: the ones to come back for.
        (Another command's jobs are that command's to collect.)"""
        wanted = {p.key for p in self.remaining}
        return tuple(j for j in self.jobs if j.live and not wanted.isdisjoint(j.keys))

    @property
    def failures(self) -> dict[str, str]:
        return {k: why for j in self.collected for k, why in j.failures.items()}

    @property
    def done(self) -> bool:
        """Nothing left to make, none of it in a job: the command can finish as usual."""
        return not self.remaining and not self.waiting and not self.failures \
            and not self.problems


def advance(out: Path, client: GeminiBatch, make_work: Callable[[], Work], *,
            command: str, timeout: float, submit: bool = True, threads: int = 8) -> Look:
    """One look (see the module); `make_work` says what the command lacks, from the
    store alone, and is asked again after results were kept. A job's results are kept
    on at most `threads` threads (--jobs)."""
    work = make_work()
    problems: list[str] = []
    collected: list[Job] = []
    submitted = None
    with journal.locked_jobs(out, timeout):
        jobs = journal.load(out)
        for i, job in enumerate(jobs):
            if job.state == INTENT:
                jobs[i] = job = _reattach(out, client, job, problems)
            if job.live and job.name and not job.ended:
                jobs[i] = job = _poll(out, client, job, problems)
            if job.live and job.ended and job.name:
                if work.keys & set(job.keys):
                    jobs[i] = job = _collect(out, client, job, work, threads)
                    collected.append(job)
                elif job.command == command:  # its results are kept (a run killed after
                    jobs[i] = job = job.but(collected=now(), dropped=len(job.keys))
                    journal.save(out, job)  # keeping them, before marking it): done
        if collected:
            work = make_work()  # what is kept now is not asked again: the next wave
        live = {k for j in jobs if j.live for k in j.keys}
        held_groups = {p.group for p in work.pieces if p.key in live}
        todo = [p for p in work.pieces if p.group not in held_groups]
        if todo and submit and not any(j.failures for j in collected):
            submitted = _submit(out, client, todo, command, problems)
            jobs.append(submitted)
    remaining = work.pieces
    return Look(tuple(jobs), tuple(collected), submitted, remaining,
                sum(p.group in held_groups for p in remaining), work.waiting, tuple(problems),
                work.later)


def _reattach(out: Path, client: GeminiBatch, job: Job, problems: list[str]) -> Job:
    """A job whose create was not known to have worked: the service's list says."""
    try:
        found = client.find(job.display_name)
    except GenerationError as e:
        problems.append(f"cannot look for job {job.display_name} ({e}): its "
                        f"{len(job.keys)} request(s) wait until it can be found")
        return job
    if not found:
        job = job.but(state=NOT_CREATED, error="never created: the run that recorded it "
                      "stopped before the service made it")
    else:
        status = found[-1]  # the first made, should a create have been answered twice
        job = job.but(name=status.name, state=status.state, total=status.total,
                      done=status.done, failed=status.failed, created=status.created,
                      error=status.error)
    journal.save(out, job)
    return job


def _poll(out: Path, client: GeminiBatch, job: Job, problems: list[str]) -> Job:
    assert job.name is not None
    try:
        status = client.poll(job.name)
    except GenerationError as e:
        problems.append(f"cannot poll job {job.name} ({e}); run the same command again")
        return job
    polled = job.but(state=status.state, total=status.total, done=status.done,
                     failed=status.failed, created=status.created, error=status.error)
    if polled != job:
        journal.save(out, polled)
    return polled


def _collect(out: Path, client: GeminiBatch, job: Job, work: Work, jobs: int) -> Job:
    """Keep each result this command needs, by key; the job then marked collected.
    Killed half-way, nothing is marked: the next look collects it again, and each
    result kept by now stands (the store's own look finds it)."""
    from meta_prompting.models.base import Reply
    from meta_prompting.models.gemini_batch import Failure

    assert job.name is not None
    got = client.collect(job.name, job.keys, job.max_tokens)
    if got.status.has_results:
        lost = "the service returned no result for it"
    else:
        lost = f"the job ended {got.status.state}" + (
            f" ({got.status.error})" if got.status.error else "") + " without results"
    pieces = {p.key: p for p in work.pieces}
    groups: dict[str, list[Piece]] = {}
    for key in job.keys:
        if key in pieces:
            groups.setdefault(pieces[key].group, []).append(pieces[key])
    failures: dict[str, str] = {}
    ready: list[tuple[list[Piece], list[Reply]]] = []
    for members in groups.values():
        results = [got.results.get(p.key) for p in members]
        replies = [r for r in results if isinstance(r, Reply)]
        if len(replies) == len(members):
            ready.append((members, replies))
            continue
        for p, r in zip(members, results, strict=True):
            failures[p.key] = (r.reason if isinstance(r, Failure) else lost) \
                if not isinstance(r, Reply) else "asked again with its scorecard's other " \
                "judgments"
    from functools import partial

    from meta_prompting.store.step import run_all

    name = job.name
    # Side by side, as interactive answers are kept: each keep is mostly fsyncs.
    whys = run_all(jobs, [partial(_keep, work, members[0].group, replies, name)
                          for members, replies in ready])
    kept = 0
    for (members, _), why in zip(ready, whys, strict=True):
        if why:
            failures.update({p.key: why for p in members})
        else:
            kept += len(members)
    dropped = sum(1 for k in job.keys if k not in pieces and k in got.results)
    job = job.but(state=got.status.state, total=got.status.total, done=got.status.done,
                  failed=got.status.failed, error=got.status.error, collected=now(),
                  kept=kept, dropped=dropped, failures=failures)
    journal.save(out, job)
    return job


def _keep(work: Work, group: str, replies: list[Reply], job: str) -> str | None:
    try:
        return work.keepers[group](replies, job)
    except UserError as e:  # in the way since it was planned (a FIFO, a link)
        return str(e)


def _submit(out: Path, client: GeminiBatch, todo: list[Piece], command: str,
            problems: list[str]) -> Job:
    """The intent recorded, the job created, its name recorded: in that order."""
    from datetime import datetime, timezone

    from meta_prompting.models.gemini_batch import NotCreated

    # To the microsecond: jobs are listed in the order they were submitted.
    date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    limits = {p.request.max_tokens for p in todo}
    job = Job(journal.display_name(out.name, date), client.model,
              tuple(p.key for p in todo), date, command,
              max_tokens=max((m for m in limits if m), default=None))
    journal.save(out, job)
    try:
        sent = client.submit([(p.key, p.request) for p in todo], job.display_name)
    except NotCreated as e:
        job = job.but(state=NOT_CREATED, error=str(e))
        problems.append(f"the job was not created: {e}")
    except GenerationError as e:
        problems.append(f"whether job {job.display_name} was created is not known ({e}); "
                        "the next run looks for it by that name before submitting anything")
        return job
    else:
        job = job.but(name=sent.name, state="PENDING", total=sent.requests)
    journal.save(out, job)
    return job


def follow(out: Path, client: GeminiBatch, make_work: Callable[[], Work], *, command: str,
           timeout: float, wait: bool, submit: bool = True, threads: int = 8,
           on_poll: Callable[[Look, float], None] | None = None,
           sleep: Callable[[float], None] = time.sleep) -> Look:
    """`advance`, once; with `wait`, again and again until no job is live: each wave
    collected and the next submitted, the waits growing (poll_interval), until a look
    collects a failure or cannot look (problems five times running)."""
    start = time.monotonic()
    interval, cap = poll_interval()
    troubled = 0
    while True:
        look = advance(out, client, make_work, command=command, timeout=timeout,
                       submit=submit, threads=threads)
        troubled = troubled + 1 if look.problems else 0
        if not wait or look.failures or not look.live or troubled >= 5:
            return look
        if on_poll is not None:
            on_poll(look, time.monotonic() - start)
        sleep(interval)
        interval = min(interval * 1.5, cap)


def poll_interval() -> tuple[float, float]:
    """The first wait between polls and the longest: META_PROMPTING_BATCH_POLL seconds
    (default 30), growing by half each poll to 20 times that (10 minutes): a job takes
    minutes to hours, and each poll is a request."""
    import os

    try:
        first = float(os.environ.get("META_PROMPTING_BATCH_POLL") or 30)
    except ValueError:
        first = 30.0
    first = min(max(first, 0.001), 3600.0)
    return first, first * 20


def cancel(out: Path, client: GeminiBatch, given: str, timeout: float) -> Job:
    """Cancel the project's job `given` (batches/ID or display name): marked collected
    with nothing kept, so its keys are free and the next run submits them again."""
    with journal.locked_jobs(out, timeout):
        job = journal.find(journal.load(out), given)
        if job.state == INTENT:
            problems: list[str] = []
            job = _reattach(out, client, job, problems)
            if problems:
                raise UserError(problems[0])
        if not job.live:
            raise UserError(f"--cancel-batch {given}: the job has "
                            + ("never been created" if job.state == NOT_CREATED
                               else "been collected already") + ": nothing to cancel")
        assert job.name is not None
        try:
            status = client.cancel(job.name)
        except GenerationError as e:
            raise UserError(f"--cancel-batch {given}: {e}") from e
        if status.has_results:  # it ended before the cancel came: collect it instead
            raise UserError(f"--cancel-batch {given}: the job has already ended "
                            f"({status.state}); run its command to collect it: {job.command}")
        job = job.but(state=status.state, done=status.done, failed=status.failed,
                      collected=now(), failures=dict.fromkeys(job.keys, "cancelled"))
        journal.save(out, job)
        return job
