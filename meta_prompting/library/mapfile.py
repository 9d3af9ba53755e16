"""Reading a goal map's and a jobs file's text: pure, bounded, and precise on error.

Every problem in a map is collected, so that `--check` can list them all and a build
can refuse the whole map before it writes. Each names file:line:col.
"""

from __future__ import annotations

import re
from typing import Any

from meta_prompting.library.layers import FOLDERS, JOBS_FILE, MAP_FILE
from meta_prompting.store.files import PART_NAME_RE, check_part_name
from meta_prompting.store.jsontext import (  # noqa: F401  (MAX_DEPTH, TOO_DEEP: said here too)
    _SURROGATE,
    MAX_DEPTH,
    TOO_DEEP,
    _Locator,
    _parse_json,
    escape_surrogates,
)

GOAL_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
GOAL_KEYS = {"description", "persona", "protocol", "constraints", "rubric"}
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

    data, problem = _parse_json(text, filename, object_pairs_hook=no_duplicates)
    if problem:
        return {}, [problem]
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
    return specs, [escape_surrogates(p) for p in problems]


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
    elif _SURROGATE.search(description):
        field_problem("description", "holds a lone surrogate code point (like \\ud800), "
                                     "which is not Unicode text")
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
    rubric = spec.get("rubric")
    if "rubric" in spec and not (isinstance(rubric, str) and GOAL_NAME_RE.fullmatch(rubric)):
        field_problem("rubric", 'must name the goal that grades this one\'s answers, like '
                                '"GRADE_AUDIT"')
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
    rubric = spec.get("rubric", "GRADE")  # absent is fine: any valid name stands in
    return bool(type(rubric) is str and GOAL_NAME_RE.fullmatch(rubric)
                and type(persona) is str and PART_NAME_RE.fullmatch(persona)
                and type(protocol) is str and PART_NAME_RE.fullmatch(protocol)
                and type(constraints) is list and type(description) is str
                and (description.isascii() or not _SURROGATE.search(description))
                and all(type(c) is str and PART_NAME_RE.fullmatch(c) for c in constraints)
                and len(set(constraints)) == len(constraints))


def rubric_problems(text: str, filename: str, specs: dict[str, dict[str, Any]],
                    known: set[str]) -> list[str]:
    """Pure: each goal in `specs` whose "rubric" names no goal in `known`, at file:line:col.

    `known` is every layer's goals: a project's goal may be graded by a built-in rubric.
    """
    import difflib

    missing = [(name, spec["rubric"]) for name, spec in specs.items()
               if spec.get("rubric") is not None and spec["rubric"] not in known]
    if not missing:
        return []
    where = _Locator(text, filename)
    problems = []
    for name, rubric in missing:
        close = difflib.get_close_matches(rubric, sorted(known), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        problems.append(f'{where.key("rubric", after=name)}: goal "{name}": "rubric" names '
                        f'no goal "{rubric}"{hint}')
    return problems


def parse_jobs(text: str, label: str = JOBS_FILE) -> tuple[dict[str, str], list[str]]:
    """Pure: a jobs file's "<folder>/<file>" -> description, and every problem in it."""
    data, problem = _parse_json(text, label)
    if problem:
        return {}, [problem]
    if not isinstance(data, dict):
        return {}, [f'{label}:1:1: must be a JSON object mapping "folder/file" to a '
                    "description"]
    where = _Locator(text, label)
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
        elif _SURROGATE.search(value):
            problems.append(f'{where.key(key)}: "{key}": the description holds a lone '
                            "surrogate code point, which is not Unicode text")
        else:
            jobs[key] = " ".join(value.split())
    return jobs, [escape_surrogates(p) for p in problems]
