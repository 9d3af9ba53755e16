"""The library: goal_map.json and the parts bin (components/) it names.

Loading is strict and complete: every problem in the map is collected, so that
`--check` can list them all and a build can refuse the whole map before it writes.
The map is only ever read; nothing in this package opens it for writing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from meta_prompting.errors import LibraryError, UnknownGoalError
from meta_prompting.files import PART_NAME_RE, check_part_name, os_reason

MAP_FILE = "goal_map.json"
JOBS_FILE = "generation_jobs.json"
COMPONENTS = "components"
OUTPUT = "output"

KINDS = ("persona", "protocol", "constraint")
FOLDERS = {"persona": "personas", "protocol": "protocols", "constraint": "constraints"}
GOAL_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
GOAL_KEYS = {"description", "persona", "protocol", "constraints"}


class Part(NamedTuple):
    """One text file in the parts bin, as a goal names it."""

    kind: str  # one of KINDS
    name: str  # bare file name, e.g. "root_cause_analysis_drilldown.txt"

    @property
    def folder(self) -> str:
        return FOLDERS[self.kind]

    @property
    def key(self) -> str:
        """The part's name relative to components/, e.g. "protocols/x.txt"."""
        return f"{self.folder}/{self.name}"


class Goal(NamedTuple):
    name: str
    description: str
    persona: Part
    protocol: Part
    constraints: tuple[Part, ...]

    @property
    def parts(self) -> tuple[Part, ...]:
        return (self.persona, self.protocol, *self.constraints)


class Library(NamedTuple):
    root: Path
    goals: Mapping[str, Goal]

    @property
    def map_path(self) -> Path:
        return self.root / MAP_FILE

    @property
    def components(self) -> Path:
        return self.root / COMPONENTS

    @property
    def output(self) -> Path:
        return self.root / OUTPUT

    def folder(self, kind: str) -> Path:
        return _folder(self.root, kind)

    def goal(self, name: str) -> Goal:
        """The goal called `name`, in any case; an unknown one names the closest."""
        goal = self.goals.get(name.upper())
        if goal is not None:
            return goal
        import difflib  # only on this error path

        valid = ", ".join(self.goals)
        close = difflib.get_close_matches(name.upper(), list(self.goals), n=1, cutoff=0.5)
        hint = f'; did you mean "{close[0]}"?' if close else "."
        raise UnknownGoalError(f'unknown goal "{name}"{hint} Valid goals: {valid}')

    def all_parts(self) -> list[Part]:
        """Every part the map names, once each, in map order."""
        seen: dict[Part, None] = {}
        for goal in self.goals.values():
            for part in goal.parts:
                seen.setdefault(part)
        return list(seen)


@lru_cache(maxsize=32)
def _folder(root: Path, kind: str) -> Path:
    # Cached: --check over 6,000 parts spent a third of its time joining these paths.
    return root / COMPONENTS / FOLDERS[kind]


def find_root(explicit: str | None = None) -> Path:
    """The folder holding goal_map.json: --root, $META_PROMPTING_ROOT, cwd, or ours."""
    given = explicit or os.environ.get("META_PROMPTING_ROOT")
    if given:
        root = Path(given).expanduser()
        flag = "--root" if explicit else "META_PROMPTING_ROOT"
        if not root.is_dir():
            raise LibraryError(f"{flag} {given}: no such folder")
        if not (root / MAP_FILE).is_file():
            raise LibraryError(f"{flag} {given}: no {MAP_FILE} in that folder")
        return root
    cwd = Path.cwd()
    if (cwd / MAP_FILE).is_file():
        return cwd
    # The checkout this package lives in, so `python /path/to/orchestrator.py` works
    # from anywhere.
    home = Path(__file__).resolve().parent.parent
    if (home / MAP_FILE).is_file():
        return home
    raise LibraryError(
        f"no {MAP_FILE} in {cwd}: run from a folder that has one, or pass --root DIR "
        "(or set META_PROMPTING_ROOT)"
    )


def load_library(root: Path) -> Library:
    """Read and validate goal_map.json; raise LibraryError listing every problem."""
    path = root / MAP_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LibraryError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LibraryError(f"{path}: cannot read: {os_reason(e)}") from e
    specs, problems = read_goal_map(text, MAP_FILE)
    if problems:
        more = f" (and {len(problems) - 1} more; run --check)" if len(problems) > 1 else ""
        raise LibraryError(problems[0] + more, problems)
    return Library(root=root, goals=_Goals(specs))


def parse_goal_map(text: str, filename: str = MAP_FILE) -> tuple[dict[str, Goal], list[str]]:
    """Pure: the goals in a goal map's text (the valid ones), and every problem in it."""
    specs, problems = read_goal_map(text, filename)
    return {name: _make_goal(name, spec) for name, spec in specs.items()}, problems


class _Goals(Mapping[str, Goal]):
    """Goals made from their (validated) specs when first asked for.

    Every goal is validated on every run, but a build asks for one: making 2,000 Goal
    and 8,000 Part objects it never looks at was a third of a big library's cost.
    """

    def __init__(self, specs: dict[str, dict[str, Any]]) -> None:
        self._specs = specs
        self._made: dict[str, Goal] = {}

    def __getitem__(self, name: str) -> Goal:
        goal = self._made.get(name)
        if goal is None:
            goal = self._made[name] = _make_goal(name, self._specs[name])
        return goal

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def read_goal_map(text: str, filename: str = MAP_FILE
                  ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Pure: the specs of the valid goals in a map's text, and every problem in it."""
    duplicates: list[str] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):  # rare: only then find which
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    duplicates.append(key)
                seen.add(key)
        return obj

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        return {}, [f"{filename}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}"]
    where = _Locator(text, filename)
    problems = [f"{where.key(k)}: key \"{k}\" appears twice" for k in duplicates]
    if not isinstance(data, dict):
        return {}, [f"{filename}:1:1: must be a JSON object mapping goal names to goals"]
    if not data:
        return {}, [f"{filename}:1:1: defines no goals"]
    specs: dict[str, dict[str, Any]] = {}
    for name, spec in data.items():
        if _is_valid_goal(name, spec):
            specs[name] = spec
        else:
            problems += _goal_problems(name, spec, where)
    return specs, problems


def _goal_problems(name: str, spec: Any, where: _Locator) -> list[str]:
    """Every problem with one goal that failed the quick check, each with file:line:col."""
    problems: list[str] = []

    def at() -> str:  # only on error: each lookup searches the map's text
        return where.key(name)

    if not GOAL_NAME_RE.fullmatch(name):
        problems.append(f'{at()}: goal "{name}": the name must be UPPER_SNAKE_CASE, like "AUDIT"')
    if not isinstance(spec, dict):
        return problems + [f'{at()}: goal "{name}" must be an object with "persona", '
                           '"protocol" and "constraints"']

    def field_problem(field: str, message: str) -> None:
        problems.append(f'{where.key(field, after=name)}: goal "{name}": "{field}" {message}')

    for field in spec:
        if field not in GOAL_KEYS:
            import difflib

            close = difflib.get_close_matches(field, sorted(GOAL_KEYS), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            field_problem(field, f"is not a known field{hint}")
    description = spec.get("description", "")
    if not isinstance(description, str):
        field_problem("description", "must be a string")
        description = ""
    for kind in ("persona", "protocol"):
        if kind not in spec:
            problems.append(f'{at()}: goal "{name}": "{kind}" is missing')
            continue
        why = check_part_name(spec[kind])
        if why:
            field_problem(kind, why)
    constraints: list[str] = []
    raw = spec.get("constraints")
    if "constraints" not in spec:
        problems.append(f'{at()}: goal "{name}": "constraints" is missing (use [] for none)')
    elif not isinstance(raw, list):
        field_problem("constraints", "must be a list of file names")
    else:
        for i, item in enumerate(raw):
            why = check_part_name(item)
            if why:
                field_problem("constraints", f"item {i + 1}: {why}")
            elif item in constraints:
                field_problem("constraints", f"item {i + 1}: {item!r} is listed twice")
            else:
                constraints.append(item)
    return problems


def _is_valid_goal(name: str, spec: Any) -> bool:
    """One cheap pass over a goal; the same verdict as _goal_problems finding nothing.

    A build validates the whole map on every run, so this is per-goal cost: a library
    of 2,000 goals must not make a one-goal build noticeably slower.
    """
    if not (type(spec) is dict and spec.keys() <= GOAL_KEYS and GOAL_NAME_RE.fullmatch(name)):
        return False
    persona, protocol = spec.get("persona"), spec.get("protocol")
    constraints, description = spec.get("constraints"), spec.get("description", "")
    return bool(type(persona) is str and PART_NAME_RE.fullmatch(persona)
                and type(protocol) is str and PART_NAME_RE.fullmatch(protocol)
                and type(constraints) is list and type(description) is str
                and all(type(c) is str and PART_NAME_RE.fullmatch(c) for c in constraints)
                and len(set(constraints)) == len(constraints))


def _make_goal(name: str, spec: dict[str, Any]) -> Goal:
    return Goal(name, spec.get("description", "").strip(), Part("persona", spec["persona"]),
                Part("protocol", spec["protocol"]),
                tuple(Part("constraint", c) for c in spec["constraints"]))


class _Locator:
    """Finds where a key sits in the map's text, so errors can say file:line:col.

    The json module keeps no positions; a search for `"key":` (after the goal's own
    key, for a field) is right for any map a person would write.
    """

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename

    def key(self, key: str, after: str | None = None) -> str:
        start = 0
        if after is not None:
            found = self._find(after, 0)
            start = found if found >= 0 else 0
        pos = self._find(key, start)
        if pos < 0:
            pos = start
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"{self.filename}:{line}:{col}"

    def _find(self, key: str, start: int) -> int:
        match = re.compile(re.escape(json.dumps(key)) + r"\s*:").search(self.text, start)
        return match.start() if match else -1


def load_jobs(root: Path) -> tuple[dict[str, str], list[str]]:
    """generation_jobs.json (optional): "<folder>/<file>" -> one-line description."""
    path = root / JOBS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as e:
        return {}, [f"{JOBS_FILE}: cannot read: {os_reason(e)}"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return {}, [f"{JOBS_FILE}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}"]
    if not isinstance(data, dict):
        return {}, [f'{JOBS_FILE}:1:1: must be a JSON object mapping "folder/file" to a '
                    "description"]
    where = _Locator(text, JOBS_FILE)
    jobs: dict[str, str] = {}
    problems: list[str] = []
    folders = set(FOLDERS.values())
    for key, value in data.items():
        folder, _, name = key.partition("/")
        why = check_part_name(name) if folder in folders else (
            f"must start with one of {', '.join(sorted(folders))}/")
        if why:
            problems.append(f"{where.key(key)}: \"{key}\": {why}")
        elif not isinstance(value, str) or not value.strip():
            problems.append(f'{where.key(key)}: "{key}": the description must be a non-empty '
                            "string")
        else:
            jobs[key] = " ".join(value.split())
    return jobs, problems
