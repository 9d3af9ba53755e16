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
import re
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from meta_prompting import __version__
from meta_prompting.errors import GenerationError
from meta_prompting.library.goals import COMPONENTS, FOLDERS, Goal, Library, Part
from meta_prompting.library.parts import (
    NEEDS_TEXT,
    PRESENT,
    PartState,
    inspect_part,
    provenance_path,
)
from meta_prompting.parts.options import MakeText, SupplyOptions, generation_blocker
from meta_prompting.parts.prompt import Generated, PartRequest
from meta_prompting.store import record as records
from meta_prompting.store.files import (
    check_part_name,
    os_reason,
    remove_stale_temporaries,
    sha256_bytes,
    write_atomic,
)
from meta_prompting.store.step import StepFailed, ensure

if TYPE_CHECKING:
    from meta_prompting.models.budget import Planned

# The words of each status, as people read them (defined once, in store.record).
GENERATED = records.word(records.PART, records.MADE)
WRITTEN = records.word(records.PART, records.WRITTEN)  # typed by a person in the wizard
PLACEHOLDER = records.word(records.PART, records.FAILED)
OTHER_RUN = records.word(records.PART, records.OTHER)  # made while we waited for the lock


class Outcome(NamedTuple):
    part: Part
    status: str  # GENERATED, WRITTEN, PLACEHOLDER or "present"
    text: str | None = None
    reason: str | None = None  # why it is a placeholder
    sha256: str | None = None
    how: str = ""  # store.record's status: how this run came by the part

    @property
    def state(self) -> str:
        return self.how or records.status_of(records.PART, self.status)


def lock_path(library: Library, part: Part) -> Path:
    """In the parts bin the part will be written to (the top writable layer's), wherever
    a lower layer holds it: a --regenerate never writes into the installed package."""
    from meta_prompting.store.lock import lock_file

    folder = library.folder(part.kind)
    return lock_file(folder.parent, f"{folder.name}.{part.name}")


def describe(part: Part, goal: Goal, given: Mapping[str, str], jobs: dict[str, str]) -> str:
    """What the part is for: --describe, then generation_jobs.json, then its name."""
    for key in (part.key, part.name):
        if given.get(key):
            return given[key]
    if part.key in jobs:
        return jobs[part.key]
    words = Path(part.name).stem.replace("_", " ").replace("-", " ").strip()
    return f"{words}, for the {goal.name} goal: {goal.description or goal.name.lower()}"


def pick_examples(library: Library, part: Part, goal: Goal, limit: int = 2,
                  max_chars: int = 4000, description: str = "",
                  jobs: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """Up to `limit` present parts of the same kind, nearest first: the house voice.

    Nearest, simply and deterministically: first the parts of goals that share the
    most rules (constraints) with this goal (its own parts share all of them), then the
    most words shared between `description` and the candidate's (its jobs entry and its
    file name); ties keep the goal's own parts, then layer order, then name order.

    These go to the model, so only real parts qualify: names the map could use (never a
    `.env` or `notes.docx`), regular files inside their library (inspect_part refuses
    links out, parts folders linked out, FIFOs and devices without opening them).
    """
    names = [p.name for p in goal.parts if p.kind == part.kind and p != part]
    for layer in library.layers:
        folder = layer.root / COMPONENTS / FOLDERS[part.kind]
        if library.unsafe_folder(folder):
            continue
        try:
            names += sorted(os.listdir(folder))
        except OSError:
            pass
    mine = {c.name for c in goal.constraints}
    shared: dict[str, int] = {}
    for other in library.goals.values():
        overlap = len(mine) + 1 if other.name == goal.name else len(
            mine & {c.name for c in other.constraints})
        for used in other.parts:
            if used.kind == part.kind:
                shared[used.name] = max(shared.get(used.name, 0), overlap)
    wanted = _words(description)
    about = jobs or {}

    def nearness(name: str) -> tuple[int, int]:
        said = f"{about.get(f'{FOLDERS[part.kind]}/{name}', '')} {Path(name).stem}"
        return -shared.get(name, 0), -len(wanted & _words(said))

    candidates = sorted(dict.fromkeys(names), key=nearness)  # stable: ties keep the order
    examples: list[tuple[str, str]] = []
    for name in candidates:
        if name == part.name or len(examples) >= limit or check_part_name(name):
            continue
        state = inspect_part(library, Part(part.kind, name))
        if state.status == PRESENT and state.text:
            examples.append((name, state.text[:max_chars]))
    return tuple(examples)


_STOP = {"goal", "part", "persona", "protocol", "constraint", "with", "that", "each", "from",
         "into", "this", "they", "what", "when", "their", "which", "only"}


def _words(text: str) -> set[str]:
    """Content words cut to five letters, so "auditor" meets "audit" and "reviews" "review"."""
    return {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower().replace("_", " "))
            if w not in _STOP}


def supply_part(library: Library, request: PartRequest, make: MakeText, *,
                lock_timeout: float, regenerate: bool = False,
                on_wait: Callable[[Part], None] | None = None) -> Outcome:
    """Make one part exist, whole, exactly once across every run that needs it."""
    part = request.part
    folder = library.folder(part.kind)
    unsafe = library.unsafe_folder(folder)
    if unsafe:  # never a lock, a part or a record where the link points
        return Outcome(part, PLACEHOLDER, reason=unsafe)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return Outcome(part, PLACEHOLDER, reason=f"cannot create {folder}: {os_reason(e)}")

    def look() -> Outcome | None:
        state = inspect_part(library, part)
        if state.status == PRESENT and not regenerate:
            return Outcome(part, records.word(records.PART, records.KEPT), state.text,
                           sha256=state.sha256, how=records.KEPT)
        return None

    def clean() -> None:
        # Under the lock nobody else writes this part: any temporary file is a killed
        # run's, never to be finished.
        remove_stale_temporaries(folder, part.name, live_writers=False)
        remove_stale_temporaries(folder, provenance_path(library, part).name,
                                 live_writers=False)

    def make_part() -> Outcome:
        state = inspect_part(library, part)
        if state.status not in (PRESENT, *NEEDS_TEXT):
            return Outcome(part, PLACEHOLDER, reason=f"{part.key} is {state.status}")
        try:
            start = time.monotonic()
            made = make(request)
        except GenerationError as e:
            return Outcome(part, PLACEHOLDER, reason=records.reason_of(e))
        if made is None:
            return Outcome(part, PLACEHOLDER, reason="left as a placeholder")
        data = made.text.encode("utf-8")
        target = folder / part.name  # the top writable layer, over any lower one's part
        try:
            write_atomic(target, data)
        except OSError as e:  # a full disk, a read-only folder: nothing was kept
            return Outcome(part, PLACEHOLDER, reason=records.reason_of(e, target))
        if made.model is None:
            return Outcome(part, WRITTEN, made.text, sha256=sha256_bytes(data),
                           how=records.WRITTEN)
        told = request._replace(description=made.description or request.description)
        write_provenance(library, part, told, made.model, sha256_bytes(data),
                         time.monotonic() - start)
        return Outcome(part, GENERATED, made.text, sha256=sha256_bytes(data), how=records.MADE)

    try:
        how, outcome = ensure(lock_path(library, part), look, make_part, timeout=lock_timeout,
                              what=part.key, quick=False, clean=clean,
                              on_wait=(lambda: on_wait(part)) if on_wait else None)
    except StepFailed as e:
        return Outcome(part, PLACEHOLDER, reason=records.reason_of(e))
    if how == records.OTHER:  # found only after waiting: another process made it
        return outcome._replace(status=OTHER_RUN, how=how)
    return outcome


def write_provenance(library: Library, part: Part, request: PartRequest, model: str,
                     sha256: str, seconds: float | None = None) -> None:
    """How a part was made, kept beside it and never inside it.

    Written after the part: a crash between the two leaves a part without a record
    (shown as not generated), never a record that makes a missing part look present.
    """
    # A part's key is what it was made from: the goal, what it is for, and the model.
    asked = json.dumps({"part": part.key, "goal": request.goal.name,
                        "description": request.description, "model": model},
                       sort_keys=True).encode("utf-8")
    record = {
        "part": part.key,
        "goal": request.goal.name,
        "description": request.description,
        "model": model,
        "generated_at": records.now(),
        "sha256": sha256,
        "tool_version": __version__,
        records.HEADER: records.header(
            records.PART, sha256_bytes(asked), {"request": sha256_bytes(asked),
                                                "part": sha256},
            status=records.MADE, model=model, provider=_provider(model), seconds=seconds),
    }
    try:
        from meta_prompting.models.keys import scrub_data  # a --describe or --model may hold it

        write_atomic(provenance_path(library, part),
                     (json.dumps(scrub_data(record), indent=2) + "\n").encode("utf-8"))
    except OSError:
        pass  # the part itself is whole and in place; the record is a courtesy


def supply_parts(library: Library, goal: Goal | None,
                 states: tuple[PartState, ...] | list[PartState], regenerate: set[Part],
                 options: SupplyOptions, owner: dict[Part, Goal] | None = None
                 ) -> dict[Part, Outcome]:
    """Generate what is missing (and what --regenerate names), concurrently.

    Each part is generated for `goal`, or for its `owner` goal when filling a library.
    """
    targets = [s for s in states if s.status in NEEDS_TEXT or s.part in regenerate]
    if not targets:
        return {}
    make, reason = options.make, None
    if make is None:
        make, reason = default_maker(options)
    if make is None:
        return {s.part: Outcome(s.part, PLACEHOLDER, reason=reason) for s in targets}
    from meta_prompting.library.goals import load_jobs

    jobs_file, _ = load_jobs(library.root)
    progress = options.progress

    def task(state: PartState) -> Outcome:
        request = request_for(library, goal or (owner or {})[state.part], state.part, options,
                              jobs_file)
        start = time.monotonic()
        try:
            outcome = supply_part(library, request, make, lock_timeout=options.timeout + 30,
                                  regenerate=state.part in regenerate, on_wait=options.on_wait)
        except OSError as e:  # e.g. out of file descriptors: this part fails, not the build
            outcome = Outcome(state.part, PLACEHOLDER, reason=f"{state.part.key}: {os_reason(e)}")
        if progress:
            why = f": {outcome.reason}" if outcome.reason else ""
            word = {records.OTHER: "made by another run", records.FAILED: "failed",
                    records.WRITTEN: "written"}.get(outcome.state, outcome.status)
            progress(f"  {word} {state.part.key} ({time.monotonic() - start:.1f}s){why}")
        return outcome

    if progress:
        what = targets[0].part.key if len(targets) == 1 else f"{len(targets)} parts"
        verb = "Generating" if any(s.status in NEEDS_TEXT for s in targets) else "Regenerating"
        progress(f"{verb} {what} with {options.model.name}...")
    from meta_prompting.store.step import run_all

    tasks = [partial(task, s) for s in targets]
    jobs = 1 if options.make is not None else options.jobs  # a person answers one at a time
    return {o.part: o for o in run_all(jobs, tasks)}


def default_maker(options: SupplyOptions, named: bool = True
                  ) -> tuple[MakeText | None, str | None]:
    """The model, bounded by --timeout; or None and why generation cannot happen.

    `named`: a notice says which part it is about ("retrying x.txt in 2.0s (...)"), as
    parts are made side by side.
    """
    blocker = generation_blocker(options)
    if blocker:
        return None, blocker
    from meta_prompting.models.budget import budgeted
    from meta_prompting.parts.prompt import generate_part

    lazy = options.model.open(timeout=options.timeout)
    why = lazy.connect()
    if why is not None:
        return None, why
    model = budgeted(lazy, options.budget)
    notice = options.on_notice

    def make(request: PartRequest) -> Generated:
        told = notice
        if notice is not None and named:
            told = partial(_named, notice, request.part.name)
        return generate_part(model, request, told)

    return make, None


def _named(notice: Callable[[str], None], name: str, line: str) -> None:
    notice(re.sub(r"^retrying ", f"retrying {name} ", line, count=1))


def planned_parts(library: Library, goal: Goal, parts: list[Part], options: SupplyOptions
                  ) -> list[Planned]:
    """The calls generating `parts` would make: one each, its request as it is now."""
    from meta_prompting.library.goals import load_jobs
    from meta_prompting.models.budget import PART, Planned
    from meta_prompting.parts.prompt import SYSTEM_INSTRUCTION, build_prompt

    jobs, _ = load_jobs(library.root)
    return [Planned(PART, len(SYSTEM_INSTRUCTION) + len(build_prompt(
        request_for(library, goal, part, options, jobs))), None) for part in parts]


def request_for(library: Library, goal: Goal, part: Part, options: SupplyOptions,
                jobs: dict[str, str]) -> PartRequest:
    """What the model is told about one part (the wizard shows the description first)."""
    description = describe(part, goal, options.describe, jobs)
    # The goal's other parts go whole, so that a new protocol asks for the headings its
    # rules require; a rubric also sees the protocol of each goal it grades.
    siblings = tuple((p.key, inspect_part(library, p).text) for p in goal.parts if p != part)
    grades: tuple[tuple[str, str], ...] = ()
    if part == goal.protocol:
        graded = [g for g in library.goals.values() if g.rubric == goal.name]
        grades = tuple((g.name, text) for g in graded
                       if (text := inspect_part(library, g.protocol).text))
    return PartRequest(goal, part, description,
                       pick_examples(library, part, goal, description=description, jobs=jobs),
                       siblings=siblings, grades=grades)


def _provider(model: str) -> str | None:
    """The provider a part's model spec names (a bare name is Gemini's)."""
    from meta_prompting.models import parse_spec

    try:
        return parse_spec(model).provider
    except Exception:  # noqa: BLE001 - a record says what it can; a spec it cannot read: none
        return None
