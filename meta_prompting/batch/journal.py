"""A project's batch jobs, kept in the project: what makes "never submitted twice" hold.

Each job is one file, `output/<project>/.batches/<display name>.json`, written whole
(store.files.write_atomic). Its life: the intent is written first (the keys, a unique
display name, the model, the date), then the job is created, then its name is written.
A process killed between the create and the second write leaves an intent with no
name: the next look finds the job by its display name in the service's list. A key
in a job that is live (not collected, and not known never to have been made) is never
submitted again, by this process or another: every look at the jobs and every submit
is made under the lock of the project's jobs.

Nothing here calls a service; `advance` does, under `locked_jobs`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from meta_prompting.errors import UserError
from meta_prompting.store.files import (
    RECORD_LIMIT,
    os_reason,
    read_regular,
    remove_stale_temporaries,
    write_atomic,
)

FOLDER = ".batches"
INTENT = "INTENT"  # recorded, not yet known to be created
NOT_CREATED = "NOT_CREATED"  # known never made: its keys are free
_TEMPORARY = re.compile(r"\.(.+\.json)\.\d+\.[0-9a-f]{8}\.tmp")  # write_atomic's names
ENDED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED",
                   NOT_CREATED})


@dataclass(frozen=True)
class Job:
    """One batch job as the project knows it."""

    display_name: str  # unique; how a job whose name was never recorded is found
    model: str
    keys: tuple[str, ...]  # the requests' keys: run ids (and judge numbers)
    date: str  # the intent, by our clock
    command: str  # the command that submitted it: the one that collects it
    max_tokens: int | None = None  # the limit its requests carried
    name: str | None = None  # batches/ID, once created
    state: str = INTENT  # the service's last word (PENDING, RUNNING, SUCCEEDED, ...)
    total: int | None = None
    done: int | None = None
    failed: int | None = None
    created: str | None = None  # the service's clock
    error: str | None = None  # why the job failed, or why it was never made
    collected: str | None = None  # when its results were kept (the date)
    kept: int = 0  # results kept when collected
    dropped: int = 0  # results not needed by then (kept already)
    failures: dict[str, str] = field(default_factory=dict)  # key -> why it was not kept

    @property
    def live(self) -> bool:
        """Its keys are its own: not collected, and not known never to have been made."""
        return self.collected is None and self.state != NOT_CREATED

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["keys"] = list(self.keys)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["keys"] = tuple(values.get("keys") or ())
        values["failures"] = dict(values.get("failures") or {})
        return cls(**values)

    def but(self, **changes: Any) -> Job:
        return replace(self, **changes)


def folder_of(out: Path) -> Path:
    return out / FOLDER


def path_of(out: Path, job: Job) -> Path:
    return folder_of(out) / f"{job.display_name}.json"


def load(out: Path, tidy: bool = True) -> list[Job]:
    """Every job of the project, oldest first. A record that cannot be read is refused
    (it may hold a live job's keys: guessing could pay twice). `tidy`: clear what a dead
    process's killed writes left (not in a dry run)."""
    folder = folder_of(out)
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise UserError(f"{folder}: cannot be read: {os_reason(e)}") from e
    names = sorted(n for n in entries if n.endswith(".json") and not n.startswith("."))
    for written in {m.group(1) for n in entries if tidy and (m := _TEMPORARY.fullmatch(n))}:
        remove_stale_temporaries(folder, written)  # a dead process's write, killed mid-way
    jobs = []
    for name in names:
        path = folder / name
        try:
            data = json.loads(read_regular(path, RECORD_LIMIT, follow_links=False))
            jobs.append(Job.from_dict(data))
        except (OSError, ValueError, TypeError, RecursionError) as e:
            raise UserError(f"{path}: not a batch record this tool can read ({e}); it may "
                            "name a job still running: move it away only once that job has "
                            "ended (--batches lists them)") from None
    return sorted(jobs, key=lambda j: (j.date, j.display_name))


def save(out: Path, job: Job) -> None:
    """Write the job's record whole. The key never appears in it (scrubbed)."""
    from meta_prompting.models.keys import scrub_data

    folder = folder_of(out)
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(scrub_data(job.to_dict()), indent=2) + "\n"
    write_atomic(path_of(out, job), data.encode("utf-8"))


def has_live(out: Path) -> bool:
    """Cheap: whether the project holds a job that may still hold keys."""
    if not os.path.isdir(folder_of(out)):
        return False
    try:
        return any(j.live for j in load(out))
    except UserError:
        return True  # let the caller's own look say what is wrong


def display_name(project: str, date: str) -> str:
    """Unique per submit: the project, the date and 8 random hex digits."""
    stamp = date[:19].replace("-", "").replace(":", "") + "Z"
    return f"mp-{project[:40]}-{stamp}-{os.urandom(4).hex()}"


@contextmanager
def locked_jobs(out: Path, timeout: float) -> Iterator[None]:
    """The lock of the project's jobs: one look at, or submit to, them at a time across
    processes (its own, not the build's: a build may run while it is held)."""
    from meta_prompting.store.lock import StepFailed, lock_file, locked

    try:
        with locked(lock_file(out, "batches"), timeout=timeout,
                    what=f"the project {out.name}"):
            yield
    except StepFailed as e:
        raise UserError(f"{out}: {e.reason}") from e


def find(jobs: list[Job], given: str) -> Job:
    """The job named `given` (batches/ID or its display name)."""
    for job in jobs:
        if given in (job.name, job.display_name):
            return job
    known = ", ".join(j.name or j.display_name for j in jobs) or "none"
    raise UserError(f"--cancel-batch {given}: not a job of this project (its jobs: {known})")
