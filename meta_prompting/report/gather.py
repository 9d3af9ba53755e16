"""What a report shows, read from what a project keeps: every record taken as it may be.

Records are people's files too: edited by hand, written by an older version, cut short
or replaced by something else. Each reader here returns what it could read and says
what it could not (a `problem` shown in the report), never raises for a record's
content. Every file is read through `read_regular` (no FIFO, no device, a size cap).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.chains.index import parse_index
from meta_prompting.report.cards import Card, read_card, requote
from meta_prompting.report.records import read_json, read_text
from meta_prompting.report.records import total as _total
from meta_prompting.store.files import (
    RECORD_LIMIT,
    TOOLKIT_LIMIT,
    check_part_name,
    os_reason,
    read_regular,
    sha256_bytes,
)

if TYPE_CHECKING:
    from meta_prompting.library.goals import Library

RUNS, ANSWER, RUN, MANIFEST, PROMPT = "runs", "answer.md", "run.json", "manifest.json", \
    "02_PROMPT.md"
CHAIN_INDEX = "CHAIN.md"
SCORECARD = re.compile(r"scorecard(?:-[a-z0-9_.-]+)?\.json")


class Run(NamedTuple):
    run_id: str
    sample: str
    record: dict[str, Any]
    answer: str | None
    edited: bool = False
    cards: tuple[Card, ...] = ()
    problem: str | None = None

    @property
    def tokens(self) -> int | None:
        return _total(self.record.get("tokens"))


class Group(NamedTuple):
    """The runs of one input (the same prompt, persona and settings)."""

    key: str
    runs: tuple[Run, ...]
    current: bool  # made from the toolkit's 02_PROMPT.md as it stands


class PartView(NamedTuple):
    kind: str
    file: str
    source: str  # "library", "generated", "placeholder" or what the manifest says
    layer: str | None = None  # where in the library it is now
    provenance: dict[str, Any] | None = None


class Toolkit(NamedTuple):
    folder: Path
    goal: str | None
    parts: tuple[PartView, ...]
    prompt: str | None  # 02_PROMPT.md (cut to PROMPT_SHOWN)
    prompt_size: int
    task: str | None
    groups: tuple[Group, ...]
    problems: tuple[str, ...] = ()


class Stage(NamedTuple):
    name: str
    goal: str
    status: str  # from CHAIN.md; "not run" when the index does not name it
    reason: str
    after: tuple[tuple[str, str | None], ...]  # (stage, section handed on)
    handed: str | None  # the run id whose answer is handed on
    grade: bool
    toolkit: Toolkit | None


class ChainView(NamedTuple):
    description: str
    source: str
    stages: tuple[Stage, ...]
    problems: tuple[str, ...] = ()


class Project(NamedTuple):
    name: str
    folder: Path
    toolkit: Toolkit | None
    chain: ChainView | None


PROMPT_SHOWN = 256 << 10  # characters: evidence can be MiBs; the file is a click away
ANSWER_SHOWN = 512 << 10


def gather_project(library: Library, name: str, folder: Path,
                   chain: Any | None = None) -> Project:
    """The project in `folder`: its toolkit, or its chain's stages (`chain`: a loaded
    chain file, else the one CHAIN.md names, else the stages CHAIN.md lists)."""
    index, problem = read_text(folder / CHAIN_INDEX, RECORD_LIMIT * 4)
    if chain is None and index is None and problem is None:
        return Project(name, folder, gather_toolkit(library, folder), None)
    rows = parse_index(index or "")
    problems = [problem] if problem else []
    if chain is None and index is not None:
        chain, why = _load_named_chain(library, index)
        if why:
            problems.append(why)
    stages: list[Stage] = []
    specs = ([(s.name, s.goal, tuple((a.stage, a.section) for a in s.after), s.grade)
              for s in chain.stages] if chain is not None else
             [(n, row[0], (), False) for n, row in rows.items()])
    for stage_name, goal, after, grade in specs:
        row = rows.get(stage_name)
        sub = folder / stage_name
        toolkit = gather_toolkit(library, sub) if _is_folder(sub) else None
        status, reason, handed = row[1:] if row else ("not run", "", None)
        stages.append(Stage(stage_name, goal, status, reason, after, handed, grade, toolkit))
    if chain is not None:
        description, source = chain.description, str(chain.path)
    else:
        found = re.search(r"^# Chain: (.*)$", index or "", re.MULTILINE)
        description, source = (found.group(1) if found else ""), CHAIN_INDEX
    return Project(name, folder, None, ChainView(description, source, tuple(stages),
                                                 tuple(problems)))


def _load_named_chain(library: Library, index: str) -> tuple[Any | None, str | None]:
    """The chain file CHAIN.md says it came from, if it can still be loaded."""
    from meta_prompting.chains.chainfile import load_chain
    from meta_prompting.errors import UserError

    found = re.search(r"^From `([^`\n]+)`", index, re.MULTILINE)
    if not found:
        return None, None
    try:
        return load_chain(Path(found.group(1)), library), None
    except UserError as e:
        return None, (f"the chain file CHAIN.md names cannot be read ({e}); its stages are "
                      "shown without their hand-offs: give it with --chain FILE")


def gather_toolkit(library: Library, folder: Path) -> Toolkit:
    problems: list[str] = []
    manifest, why = read_json(folder / MANIFEST)
    if why:
        problems.append(why)
    manifest = manifest if isinstance(manifest, dict) else {}
    goal = manifest.get("goal") if isinstance(manifest.get("goal"), str) else None
    parts = tuple(_part(library, p) for p in manifest.get("parts", ())
                  if isinstance(p, dict)) if isinstance(manifest.get("parts"), list) else ()
    data = None
    try:
        data = read_regular(folder / PROMPT, TOOLKIT_LIMIT, follow_links=False)
    except FileNotFoundError:
        pass
    except OSError as e:
        problems.append(f"{PROMPT}: {os_reason(e)}")
    prompt = data.decode("utf-8", "replace") if data is not None else None
    prompt_sha = sha256_bytes(data) if data is not None else None
    task = None
    if prompt is not None:
        from meta_prompting.toolkit.prompt import person_blocks

        task = person_blocks(prompt).get("task")
    groups = gather_runs(folder / RUNS, prompt_sha, task, problems)
    shown = prompt[:PROMPT_SHOWN] if prompt is not None else None
    return Toolkit(folder, goal, parts, shown, len(prompt or ""), task, groups,
                   tuple(problems))


def _part(library: Library, entry: dict[str, Any]) -> PartView:
    from meta_prompting.library.goals import Part
    from meta_prompting.library.parts import read_provenance

    kind, file = str(entry.get("kind", "?")), str(entry.get("file", "?"))
    source = str(entry.get("source", "unknown"))
    name = file.partition("/")[2]
    if check_part_name(name) is not None or kind not in ("persona", "protocol", "constraint"):
        return PartView(kind, file, source)
    part = Part(kind, name)
    try:
        layer = library.layer_of(library.locate(part))
    except (OSError, ValueError):
        layer = None
    record = read_provenance(library, part)
    if record is not None and record.get("sha256") != entry.get("sha256"):
        record = None  # the record of an earlier text, not of the one this toolkit used
    return PartView(kind, file, source, layer, record)


def gather_runs(runs: Path, prompt_sha: str | None, task: str | None,
                problems: list[str]) -> tuple[Group, ...]:
    try:
        names = sorted(n for n in os.listdir(runs) if not n.startswith("."))
    except FileNotFoundError:
        return ()
    except OSError as e:
        problems.append(f"{RUNS}/: {os_reason(e)}")
        return ()
    by_key: dict[str, list[Run]] = {}
    for name in names:
        if _is_folder(runs / name):
            by_key.setdefault(name.partition("-")[0], []).append(read_run(runs / name))
    groups = []
    for key, found in by_key.items():
        found.sort(key=lambda r: (not r.sample.isdigit(), int(r.sample) if r.sample.isdigit()
                                  else 0, r.run_id))
        prompts = {_sha(r.record, "prompt") for r in found}
        groups.append(Group(key, tuple(found), prompt_sha is not None and prompt_sha in prompts))
    groups.sort(key=lambda g: (not g.current, -max((_date(r) for r in g.runs), default=0)))
    return tuple(groups)


def read_run(folder: Path) -> Run:
    record, why = read_json(folder / RUN)
    problems = [why] if why else []
    if record is None and why is None:
        problems.append(f"{RUN}: missing")
    record = record if isinstance(record, dict) else {}
    answer, why = read_text(folder / ANSWER)
    if why:
        problems.append(why)
    elif answer is None:
        problems.append(f"{ANSWER}: missing (run the command again to make it)")
    edited = False
    if answer is not None:
        edited = _sha(record, "answer") != sha256_bytes(answer.encode("utf-8"))
    number = record.get("sample")
    sample = ("imported" if record.get("imported") else str(number) if type(number) is int
              else folder.name.rpartition("-")[2])
    cards: list[Card] = []
    try:
        files = sorted(n for n in os.listdir(folder) if SCORECARD.fullmatch(n))
    except OSError:
        files = []
    for file in files:
        card = read_card(folder / file)
        if card.edited and answer is not None:  # as grading reads a person's verdicts
            card = requote(card, answer)
        cards.append(card)
    if answer is not None and len(answer) > ANSWER_SHOWN:
        problems.append(f"{ANSWER}: {len(answer):,} characters; the first "
                        f"{ANSWER_SHOWN:,} are shown")
        answer = answer[:ANSWER_SHOWN]
    return Run(folder.name, sample, record, answer, edited, tuple(cards),
               "; ".join(problems) or None)


def _sha(record: dict[str, Any], what: str) -> str | None:
    found = record.get("sha256")
    value = found.get(what) if isinstance(found, dict) else None
    return value if isinstance(value, str) else None


def _date(run: Run) -> int:
    date = run.record.get("date")
    return int(re.sub(r"\D", "", date)[:14] or 0) if isinstance(date, str) else 0


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
