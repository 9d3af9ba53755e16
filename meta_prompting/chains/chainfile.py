"""A chain file: stages of fresh sessions, validated whole before any call.

Checked as strictly as the goal map, every problem with file:line:col: unknown keys
(with a did-you-mean), wrong types, unknown goals, duplicate names, an `after` that
names no stage, a missing task or evidence file, and cycles. A chain that passes is a
graph the scheduler can run; one that does not costs nothing.

Its paths stay inside the chain file's folder (links resolved), so a chain someone
hands you cannot send /etc/passwd or ~/.ssh to the model: a chain that means to reach
out says so with `"allow_outside": true` at its top, for all its paths at once.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.errors import LibraryError
from meta_prompting.evidence.confine import path_problem
from meta_prompting.store.files import MAP_LIMIT, check_project_name, os_reason, read_regular
from meta_prompting.store.jsontext import (
    _SURROGATE,
    SURROGATE,
    _Locator,
    _parse_json,
    escape_surrogates,
)
from meta_prompting.store.jsontext import holds_surrogate as _holds_surrogate
from meta_prompting.store.jsontext import unknown_field as _unknown

if TYPE_CHECKING:
    from meta_prompting.library.goals import Library

CHAIN_KEYS = ("description", "stages", "allow_outside")
STAGE_KEYS = ("name", "goal", "task", "task_file", "evidence", "after", "grade", "attempts",
              "refine")
AFTER_KEYS = ("stage", "section")
MAX_ATTEMPTS = 10
CHAIN_FILE = "CHAIN.md"  # the chain's index, in output/<project>/ beside the stages
# A stage's folder sits in output/<project>/ beside the index; a plain toolkit built
# into the same project writes these there too. Compared in lower case: on macOS and
# Windows "chain.md" is the same file as "CHAIN.md".
RESERVED_NAMES = frozenset(n.lower() for n in (
    CHAIN_FILE, "runs", "manifest.json", "00_PERSONA.md", "01_PROMPT_TEMPLATE.md",
    "02_PROMPT.md", "report.html", "RESULTS.md", "results.jsonl"))


class After(NamedTuple):
    """An earlier stage whose answer (or one section of it) this stage is given."""

    stage: str
    section: str | None = None

    @property
    def document(self) -> str:
        """The name of the evidence document it becomes."""
        return f"stage {self.stage}" + (f": {self.section}" if self.section else "")


class Stage(NamedTuple):
    name: str
    goal: str  # as the library spells it
    task: str | None
    task_file: Path | None
    evidence: tuple[Path, ...]
    after: tuple[After, ...]
    grade: bool = False
    attempts: int = 1  # fresh sessions of the same request until one passes
    refine: int = 0  # attempts, each refined from the one before's scorecard (0: none)


class Chain(NamedTuple):
    path: Path
    description: str
    stages: tuple[Stage, ...]  # in an order where every stage comes after its `after`

    @property
    def folder(self) -> Path:
        return self.path.parent

    def children(self, name: str) -> list[str]:
        return [s.name for s in self.stages if any(a.stage == name for a in s.after)]


def load_chain(path: Path, library: Library, grade_with: str | None = None) -> Chain:
    """The chain in `path`, or LibraryError listing every problem in it.

    `grade_with` (--grade-with) grades every graded stage; without it, a graded stage's
    goal must name its own rubric in the map.
    """
    label = str(path)
    try:
        text = read_regular(path, MAP_LIMIT).decode("utf-8")
    except FileNotFoundError:
        raise LibraryError(f"--chain {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LibraryError(f"--chain {path}: cannot read: {os_reason(e)}") from e
    data, problem = _parse_json(text, label)
    if problem:
        raise LibraryError(problem)
    chain, problems = _validate(data, _Locator(text, label), path, library,
                                grade_with is not None)
    if problems or chain is None:
        problems = [escape_surrogates(p) for p in problems]
        more = (f" (and {len(problems) - 1} more: see them all with --check --chain "
                f"{path})" if len(problems) > 1 else "")
        raise LibraryError(problems[0] + more, problems)
    return chain


def _validate(data: Any, where: _Locator, path: Path, library: Library,
              rubric_given: bool = False) -> tuple[Chain | None, list[str]]:
    if not isinstance(data, dict):
        return None, [f"{where.at(0)}: a chain file is a JSON object with \"stages\""]
    problems = [f"{where.key(k)}: {_unknown(k, CHAIN_KEYS)}" for k in data
                if k not in CHAIN_KEYS]
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where.key('description')}: \"description\" must be a string")
        description = ""
    elif _SURROGATE.search(description):
        problems.append(f"{where.key('description')}: \"description\" {SURROGATE}")
        description = ""
    outside = data.get("allow_outside", False)
    if not isinstance(outside, bool):
        problems.append(f"{where.key('allow_outside')}: \"allow_outside\" must be true or "
                        "false")
        outside = False
    raw = data.get("stages")
    if not isinstance(raw, list) or not raw:
        return None, problems + [f"{where.key('stages')}: \"stages\" must be a non-empty "
                                 "list of stages"]
    stages: list[Stage] = []
    at: dict[str, int] = {}  # each valid stage's own start: its lines, not a neighbour's
    starts = _stage_starts(where, len(raw))
    for i, spec in enumerate(raw):
        stage, found = _stage(spec, i, starts[i], where, path.parent, library, outside,
                               rubric_given)
        problems += found
        if stage is not None:
            if any(s.name == stage.name for s in stages):
                problems.append(f"{where.at(starts[i])}: stage \"{stage.name}\": the name is "
                                "used twice")
            else:
                stages.append(stage)
                at[stage.name] = starts[i]
    # A stage with a problem of its own still exists: an "after" naming it is not wrong.
    names = {spec["name"] for spec in raw if isinstance(spec, dict)
             and isinstance(spec.get("name"), str)}
    for stage in stages:
        start = at[stage.name]
        for after in stage.after:
            if after.stage not in names:
                close = difflib.get_close_matches(after.stage, sorted(names), n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                problems.append(f"{where.at(where.find('after', start))}: stage "
                                f"\"{stage.name}\": \"after\" names no stage "
                                f"\"{after.stage}\"{hint}")
            elif after.stage == stage.name:
                problems.append(f"{where.at(start)}: stage \"{stage.name}\" comes after "
                                "itself")
    if problems:
        return None, problems
    ordered, cycle = _order(stages)
    if cycle:
        return None, [f"{where.key('stages')}: stages {' -> '.join(cycle)} form a cycle: "
                      "none of them could ever start"]
    return Chain(path, description.strip(), tuple(ordered)), []


def _stage(spec: Any, i: int, start: int, where: _Locator, folder: Path, library: Library,
           outside: bool = False,
           rubric_given: bool = False) -> tuple[Stage | None, list[str]]:
    if not isinstance(spec, dict):
        return None, [f"{where.at(start)}: stage {i + 1} must be an object"]
    name = spec.get("name")
    who = f'stage "{name}"' if isinstance(name, str) else f"stage {i + 1}"
    problems: list[str] = []

    def bad(field: str, message: str) -> None:
        pos = where.find(field, start)
        problems.append(f"{where.at(pos if pos >= 0 else start)}: {who}: \"{field}\" {message}")

    for key in spec:
        if key not in STAGE_KEYS:
            problems.append(f"{where.at(where.find(key, start))}: {who}: "
                            f"{_unknown(key, STAGE_KEYS)}")
    for key in STAGE_KEYS:  # not text: it could be neither a path nor sent
        if key in spec and _holds_surrogate(spec[key]):
            bad(key, SURROGATE)
    if problems:
        return None, problems
    if not isinstance(name, str):
        bad("name", "must be given, as a string")
    elif (why := check_project_name(name)):
        bad("name", why.replace("project name", "a stage name"))
    elif name.lower() in RESERVED_NAMES:
        bad("name", f"{name!r} is reserved: output/<project>/{name} is this tool's own file")
    goal = spec.get("goal")
    if not isinstance(goal, str):
        bad("goal", "must be given, as a string")
    elif goal.upper() not in library.goals:
        close = difflib.get_close_matches(goal.upper(), list(library.goals), n=1)
        bad("goal", f"names no goal \"{goal}\"" + (f' (did you mean "{close[0]}"?)'
                                                    if close else ""))
    task, task_file = spec.get("task"), spec.get("task_file")
    if (task is None) == (task_file is None):
        bad("task", 'or "task_file": give exactly one')
    elif task is not None and (not isinstance(task, str) or not task.strip()):
        bad("task", "must be a non-empty string")
    elif task_file is not None:
        if not isinstance(task_file, str) or not task_file:
            bad("task_file", "must be a path, relative to the chain file")
        elif (why := _path_problem(folder, task_file, outside, folders=False)):
            bad("task_file", why)
    evidence = spec.get("evidence", [])
    if not isinstance(evidence, list) or not all(isinstance(e, str) and e for e in evidence):
        bad("evidence", "must be a list of paths, relative to the chain file")
        evidence = []
    for item in evidence:
        if (why := _path_problem(folder, item, outside, folders=True)):
            bad("evidence", why)
    after = _after(spec.get("after", []), bad)
    grade = spec.get("grade", False)
    if not isinstance(grade, bool):
        bad("grade", "must be true or false")
    elif (grade and not rubric_given and isinstance(goal, str) and goal.upper() in library.goals
          and library.goals[goal.upper()].rubric is None):
        bad("grade", f"goal {goal.upper()} names no rubric in the map, and no other goal's "
                     "criteria fit its answers (or run with --grade-with GOAL)")
    attempts = spec.get("attempts", 1)
    if "attempts" in spec and not grade:
        bad("attempts", 'goes with "grade": true (sessions until one passes)')
    if type(attempts) is not int or not 1 <= attempts <= MAX_ATTEMPTS:
        bad("attempts", f"must be a whole number from 1 to {MAX_ATTEMPTS}")
    refine = spec.get("refine", 0)
    if "refine" in spec:
        if not grade:
            bad("refine", 'goes with "grade": true (each attempt refined from a failing '
                          'scorecard)')
        elif "attempts" in spec:
            bad("refine", 'and "attempts" are two ways to try again: "attempts" asks the '
                          'same request again, "refine" refines it; keep one')
        if type(refine) is not int or not 1 <= refine <= MAX_ATTEMPTS:
            bad("refine", f"must be a whole number from 1 to {MAX_ATTEMPTS}")
    if problems:
        return None, problems
    assert isinstance(name, str) and isinstance(goal, str)
    return Stage(name, library.goal(goal).name, task,
                 folder / task_file if task_file else None,
                 tuple(folder / e for e in evidence), after, bool(grade), int(attempts),
                 int(refine)), []


def _path_problem(folder: Path, given: str, outside: bool, folders: bool) -> str | None:
    """Why the chain's path `given` cannot be used, or None."""
    return path_problem(folder, given, folders=folders, owner="the chain file",
                        outside=outside, way_out='a chain that means to read it says '
                        '"allow_outside": true at its top')


def _after(raw: Any, bad: Any) -> tuple[After, ...]:
    if not isinstance(raw, list):
        bad("after", "must be a list of stage names or {\"stage\", \"section\"} objects")
        return ()
    found: list[After] = []
    for item in raw:
        if isinstance(item, str) and item:
            found.append(After(item))
        elif isinstance(item, dict) and set(item) <= set(AFTER_KEYS) and isinstance(
                item.get("stage"), str) and isinstance(item.get("section", ""), str) and (
                item.get("section") is None or item["section"].strip()):
            found.append(After(item["stage"], (item.get("section") or "").strip() or None))
        else:
            bad("after", f"item {item!r:.60}: must be a stage name or "
                         '{"stage": NAME, "section": HEADING}')
    if len(set(found)) != len(found):
        bad("after", "names the same stage (and section) twice")
    return tuple(found)


def _stage_starts(where: _Locator, count: int) -> list[int]:
    """Where each stage's object starts, near enough to name its lines: at its "name"."""
    starts: list[int] = []
    pos = max(where.find("stages"), 0)
    for _ in range(count):
        found = where.find("name", pos + 1 if starts else pos)
        pos = found if found >= 0 else pos
        starts.append(pos)
    return starts


def _order(stages: list[Stage]) -> tuple[list[Stage], list[str]]:
    """The stages with each after what it needs (file order where free), or a cycle.

    Kahn's algorithm, not recursion: a chain of thousands of stages must not overflow.
    """
    waiting = {s.name: {a.stage for a in s.after} for s in stages}
    ordered: list[Stage] = []
    progress = True
    while progress:
        progress = False
        for stage in stages:
            if stage.name in waiting and not waiting[stage.name]:
                del waiting[stage.name]
                ordered.append(stage)
                for needs in waiting.values():
                    needs.discard(stage.name)
                progress = True
    if not waiting:
        return ordered, []
    # Every stage left waits on another one left: walking back from any finds a loop.
    name, path = next(iter(waiting)), []
    while name not in path:
        path.append(name)
        name = sorted(waiting[name])[0]
    return [], path[path.index(name):] + [name]
