"""Supplying missing parts just in time: lock, look again, make, write whole, record.

Per part: take its lock; if another run made the part meanwhile, use it (no question,
no model call); else make the text (the model, or the wizard's person), write it
atomically under exactly the name the map asks for, then write its provenance record
beside it. goal_map.json is never touched. Failures come back as reasons, not
exceptions, so a build can still assemble the toolkit with placeholders.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from meta_prompting import __version__
from meta_prompting.errors import GenerationError
from meta_prompting.files import (
    os_reason,
    remove_stale_temporaries,
    sha256_bytes,
    write_atomic,
)
from meta_prompting.generate import Generated, PartRequest
from meta_prompting.library import Goal, Library, Part
from meta_prompting.parts import NEEDS_TEXT, PRESENT, inspect_part, provenance_path

GENERATED = "generated"
WRITTEN = "written"  # typed by a person in the wizard: a library part like any other
PLACEHOLDER = "placeholder"
OTHER_RUN = "present"  # another run made it while we waited for the lock


class Outcome(NamedTuple):
    part: Part
    status: str  # GENERATED, WRITTEN, PLACEHOLDER or "present"
    text: str | None = None
    reason: str | None = None  # why it is a placeholder
    sha256: str | None = None


# What makes a part's text: given the request, the text, or None for "leave a
# placeholder" (the wizard's person may choose that); raises GenerationError.
MakeText = Callable[[PartRequest], "Generated | None"]


def lock_path(library: Library, part: Part) -> Path:
    return library.folder(part.kind) / f".{part.name}.lock"


def describe(part: Part, goal: Goal, given: dict[str, str], jobs: dict[str, str]) -> str:
    """What the part is for: --describe, then generation_jobs.json, then its name."""
    for key in (part.key, part.name):
        if given.get(key):
            return given[key]
    if part.key in jobs:
        return jobs[part.key]
    words = Path(part.name).stem.replace("_", " ").replace("-", " ").strip()
    return f"{words}, for the {goal.name} goal: {goal.description or goal.name.lower()}"


def pick_examples(library: Library, part: Part, goal: Goal, limit: int = 2,
                  max_chars: int = 4000) -> tuple[tuple[str, str], ...]:
    """Up to `limit` present parts of the same kind, the goal's own first: the house voice."""
    folder = library.folder(part.kind)
    names = [p.name for p in goal.parts if p.kind == part.kind and p != part]
    try:
        names += sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except OSError:
        pass
    examples: list[tuple[str, str]] = []
    for name in dict.fromkeys(names):
        if name == part.name or len(examples) >= limit:
            continue
        state = inspect_part(library, Part(part.kind, name))
        if state.status == PRESENT and state.text:
            examples.append((name, state.text[:max_chars]))
    return tuple(examples)


def supply_part(library: Library, request: PartRequest, make: MakeText, *,
                lock_timeout: float, regenerate: bool = False,
                on_wait: Callable[[Part], None] | None = None) -> Outcome:
    """Make one part exist, whole, exactly once across every run that needs it."""
    from filelock import FileLock, Timeout  # only a build that generates pays for it

    part = request.part
    folder = library.folder(part.kind)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return Outcome(part, PLACEHOLDER, reason=f"cannot create {folder}: {os_reason(e)}")
    lock = FileLock(str(lock_path(library, part)), timeout=lock_timeout)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait:
                on_wait(part)
            lock.acquire()
    except Timeout:
        return Outcome(part, PLACEHOLDER, reason=f"busy: another run has held the lock on "
                       f"{part.key} for {lock_timeout:g}s")
    except OSError as e:  # e.g. a read-only parts bin
        return Outcome(part, PLACEHOLDER, reason=f"cannot lock {lock.lock_file}: "
                       f"{os_reason(e)}")
    try:
        # Under the lock nobody else writes this part: any temporary file is a killed
        # run's, never to be finished.
        remove_stale_temporaries(folder, part.name, live_writers=False)
        remove_stale_temporaries(folder, provenance_path(library, part).name,
                                 live_writers=False)
        # Look again under the lock: the run we waited for may have made it.
        state = inspect_part(library, part)
        if state.status == PRESENT and not regenerate:
            return Outcome(part, OTHER_RUN, state.text, sha256=state.sha256)
        if state.status not in (PRESENT, *NEEDS_TEXT):
            return Outcome(part, PLACEHOLDER, reason=f"{part.key} is {state.status}")
        try:
            made = make(request)
        except GenerationError as e:
            return Outcome(part, PLACEHOLDER, reason=str(e))
        if made is None:
            return Outcome(part, PLACEHOLDER, reason="left as a placeholder")
        data = made.text.encode("utf-8")
        try:
            write_atomic(state.path, data)
        except OSError as e:  # a full disk, a read-only folder: nothing was kept
            return Outcome(part, PLACEHOLDER, reason=f"cannot write {state.path}: "
                           f"{os_reason(e)}")
        if made.model is None:
            return Outcome(part, WRITTEN, made.text, sha256=sha256_bytes(data))
        told = request._replace(description=made.description or request.description)
        write_provenance(library, part, told, made.model, sha256_bytes(data))
        return Outcome(part, GENERATED, made.text, sha256=sha256_bytes(data))
    finally:
        lock.release()


def write_provenance(library: Library, part: Part, request: PartRequest, model: str,
                     sha256: str) -> None:
    """How a part was made, kept beside it and never inside it.

    Written after the part: a crash between the two leaves a part without a record
    (shown as not generated), never a record that makes a missing part look present.
    """
    record = {
        "part": part.key,
        "goal": request.goal.name,
        "description": request.description,
        "model": model,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": sha256,
        "tool_version": __version__,
    }
    try:
        write_atomic(provenance_path(library, part),
                     (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    except OSError:
        pass  # the part itself is whole and in place; the record is a courtesy


def with_deadline(make: Callable[[PartRequest], Generated], seconds: float
                  ) -> Callable[[PartRequest], Generated]:
    """Bound one part's whole generation, retries included.

    The SDK's timeout is per HTTP attempt; this is the user's --timeout for the part.
    The call runs in a daemon thread: past the deadline we stop waiting (and so release
    the lock), and a late answer is dropped, never written.
    """
    def bounded(request: PartRequest) -> Generated:
        box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def call() -> None:
            try:
                box.put((True, make(request)))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
                box.put((False, e))

        threading.Thread(target=call, daemon=True, name=f"gen-{request.part.name}").start()
        try:
            ok, value = box.get(timeout=seconds)
        except queue.Empty:
            raise GenerationError(f"no finished answer within {seconds:g}s (--timeout)") from None
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    return bounded


def run_all(jobs: int, tasks: Sequence[Callable[[], Outcome]]) -> list[Outcome]:
    """Run tasks on at most `jobs` daemon threads; results in task order.

    Daemon threads rather than a ThreadPoolExecutor: on Ctrl+C the main thread must be
    able to leave at once, and an executor's workers are joined at exit, which would
    wait for a hung HTTP call. Whatever they were writing is atomic, so nothing partial
    is left by leaving.
    """
    if len(tasks) <= 1 or jobs <= 1:
        return [task() for task in tasks]
    results: list[Outcome | None] = [None] * len(tasks)
    errors: list[BaseException] = []
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(tasks)):
        todo.put(i)

    def worker() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[i] = tasks[i]()
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
                errors.append(e)
                return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(jobs, len(tasks)))]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.1)  # short joins keep the main thread responsive to Ctrl+C
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]
