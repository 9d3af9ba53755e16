"""A tasks file: rows of tasks for one goal's toolkit, validated whole before any call.

JSONL (one JSON object a line) or CSV with a header row. A row has an "id", a "task"
or a "task_file", and optional "evidence" paths (JSONL: a list; CSV: one cell, the
paths separated by ";"). The id becomes part of file names, so it is a bare name;
ids are compared without case, as macOS and Windows compare file names. Paths are
relative to the tasks file and stay inside its folder (links resolved), as a chain's
do: a tasks file someone hands you cannot send ~/.ssh to the model.

Checked as strictly as a chain file, every problem with file:line: unknown fields
(with a did-you-mean), wrong types, duplicate or unsafe ids, a missing task or
evidence file, one that is a FIFO or a device, and a file with no rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from meta_prompting.errors import LibraryError
from meta_prompting.evidence.confine import path_problem
from meta_prompting.store.files import (
    MAP_LIMIT,
    check_project_name,
    os_reason,
    read_regular,
    real_path,
)
from meta_prompting.store.jsontext import (
    SURROGATE,
    escape_surrogates,
    holds_surrogate,
    unknown_field,
)

ROW_KEYS = ("id", "task", "task_file", "evidence")
EVIDENCE_SEPARATOR = ";"  # CSV: the paths in one "evidence" cell
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
OWNER = "the tasks file"
WAY_OUT = "put the tasks file in a folder that holds what its rows name"


class Row(NamedTuple):
    """One task: the toolkit filled with it is run in a fresh session of its own."""

    id: str
    line: int  # where it starts in the tasks file, for messages
    task: str | None
    task_file: Path | None
    evidence: tuple[Path, ...]


class TaskFile(NamedTuple):
    path: Path
    rows: tuple[Row, ...]

    @property
    def folder(self) -> Path:
        return self.path.parent

    def where(self, row: Row) -> str:
        """file:line: row "id": the start of a message about one row."""
        return f'{self.path}:{row.line}: row "{row.id}"'


def load_tasks(path: Path) -> TaskFile:
    """The rows of the tasks file `path`, or LibraryError naming its first problem (and
    how many more there are; `.problems` holds them all)."""
    label = str(path)
    if path.suffix.lower() not in JSONL_SUFFIXES + CSV_SUFFIXES:
        raise LibraryError(f"--tasks {path}: a tasks file is JSONL (.jsonl, a JSON object a "
                           "line) or CSV with a header (.csv)")
    try:
        text = read_regular(path, MAP_LIMIT).decode("utf-8-sig")
    except FileNotFoundError:
        raise LibraryError(f"--tasks {path}: no such file") from None
    except UnicodeDecodeError as e:
        raise LibraryError(f"--tasks {path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise LibraryError(f"--tasks {path}: cannot read: {os_reason(e)}") from e
    if path.suffix.lower() in CSV_SUFFIXES:
        specs, problems = _csv_rows(text, label)
    else:
        specs, problems = _jsonl_rows(text, label)
    rows: list[Row] = []
    seen: dict[str, Row] = {}
    check = _checker(path.parent)
    for line, spec in specs:
        row, found = _row(spec, line, label, path.parent, check)
        problems += found
        if row is None:
            continue
        first = seen.get(row.id.casefold())
        if first is not None:
            same = "" if first.id == row.id else (
                f' as "{first.id}": ids that differ only in case name the same files on '
                "macOS and Windows")
            problems.append(f'{label}:{line}: row "{row.id}": the id is used twice (first at '
                            f"line {first.line}{same})")
            continue
        seen[row.id.casefold()] = row
        rows.append(row)
    if not problems and not rows:
        problems.append(f'{label}: holds no rows; a row is like {{"id": "a1", "task": '
                        '"what you want done", "evidence": ["src/a.py"]}')
    if problems:
        problems = sorted((escape_surrogates(p) for p in problems),
                          key=lambda p: _line_of(p, label))
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise LibraryError(problems[0] + more, problems)
    return TaskFile(path, tuple(rows))


def _jsonl_rows(text: str, label: str) -> tuple[list[tuple[int, Any]], list[str]]:
    """(line, value) for each non-blank line, and the lines that are not JSON."""
    specs: list[tuple[int, Any]] = []
    problems: list[str] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as e:
            problems.append(f"{label}:{n}:{e.colno}: invalid JSON: {e.msg} (each line is one "
                            "row, a JSON object)")
            continue
        except RecursionError:
            problems.append(f"{label}:{n}: nested too deeply to read")
            continue
        except _Twice as e:
            problems.append(f'{label}:{n}: field "{e.args[0]}" appears twice')
            continue
        specs.append((n, value))
    return specs, problems


def _line_of(problem: str, label: str) -> int:
    """The line a problem names (problems are told in the file's order)."""
    number = problem[len(label) + 1:].partition(":")[0]
    return int(number) if number.isdigit() else 0


class _Twice(ValueError):
    """A field given twice in one row: JSON allows it, and the last would silently win."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Twice(key)
            seen.add(key)
    return obj


def _csv_rows(text: str, label: str) -> tuple[list[tuple[int, Any]], list[str]]:
    """(line, {field: value}) for each CSV record after the header; "" is not given."""
    reader = csv.reader(io.StringIO(text), strict=True)
    specs: list[tuple[int, Any]] = []
    problems: list[str] = []
    header: list[str] | None = None
    last = 0  # the line the previous record ended on: a record may span lines
    try:
        for record in reader:
            start, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [cell.strip() for cell in record]
                problems = _header_problems(header, label, start)
                if problems:
                    return [], problems
                continue
            if len(record) != len(header):
                problems.append(f"{label}:{start}: has {len(record)} fields; the header has "
                                f"{len(header)}")
                continue
            spec: dict[str, Any] = {}
            for name, cell in zip(header, record, strict=True):
                if cell.strip():
                    spec[name] = cell
            if "evidence" in spec:
                spec["evidence"] = [p.strip() for p in spec["evidence"].split(
                    EVIDENCE_SEPARATOR) if p.strip()]
            specs.append((start, spec))
    except csv.Error as e:
        return [], [f"{label}:{reader.line_num}: invalid CSV: {e}"]
    return specs, problems


def _header_problems(header: list[str], label: str, line: int) -> list[str]:
    problems = [f"{label}:{line}: column {unknown_field(name, ROW_KEYS)}"
                for name in header if name not in ROW_KEYS]
    twice = sorted({name for name in header if header.count(name) > 1})
    problems += [f'{label}:{line}: column "{name}" appears twice' for name in twice]
    if "id" not in header:
        problems.append(f'{label}:{line}: the header has no "id" column (the first line '
                        'names the columns: id,task,task_file,evidence)')
    if "task" not in header and "task_file" not in header:
        problems.append(f'{label}:{line}: the header has neither a "task" nor a "task_file" '
                        "column")
    return problems


def _checker(folder: Path) -> Callable[[str, bool], str | None]:
    """path_problem for this file's paths, each path checked once: a thousand rows
    often name the same evidence, and resolving links costs a system call a part."""
    try:
        top: Path | None = real_path(folder)
    except OSError:
        top = None  # said by path_problem, for each path
    checked: dict[tuple[str, bool], str | None] = {}

    def check(given: str, folders: bool) -> str | None:
        if (given, folders) not in checked:
            checked[(given, folders)] = path_problem(folder, given, folders=folders,
                                                     owner=OWNER, way_out=WAY_OUT, top=top)
        return checked[(given, folders)]

    return check


def _row(spec: Any, line: int, label: str, folder: Path,
         check: Callable[[str, bool], str | None]) -> tuple[Row | None, list[str]]:
    """One row, or the problems with it."""
    if not isinstance(spec, dict):
        return None, [f"{label}:{line}: a row is a JSON object, like {{\"id\": \"a1\", "
                      "\"task\": \"...\"}"]
    ident = spec.get("id")
    who = f'row "{ident}"' if isinstance(ident, str) and ident else "row"
    problems: list[str] = []

    def bad(field: str, message: str) -> None:
        problems.append(f'{label}:{line}: {who}: "{field}" {message}')

    problems += [f"{label}:{line}: {who}: {unknown_field(k, ROW_KEYS)}" for k in spec
                 if k not in ROW_KEYS]
    for key in ROW_KEYS:  # not text: it could be neither a path, a name nor sent
        if key in spec and holds_surrogate(spec[key]):
            bad(key, SURROGATE)
    if problems:
        return None, problems
    if not isinstance(ident, str):
        bad("id", "must be given, as a string")
    elif (why := check_project_name(ident)):
        bad("id", why.replace("the project name", "it").replace("project name", "the id")
            + " (it becomes part of file names)")
    task, task_file = spec.get("task"), spec.get("task_file")
    if (task is None) == (task_file is None):
        bad("task", 'or "task_file": give exactly one')
    elif task is not None and (not isinstance(task, str) or not task.strip()):
        bad("task", "must be a non-empty string")
    elif task_file is not None:
        if not isinstance(task_file, str) or not task_file:
            bad("task_file", "must be a path, relative to the tasks file")
        elif (why := check(task_file, False)):
            bad("task_file", why)
    evidence = spec.get("evidence", [])
    if not isinstance(evidence, list) or not all(isinstance(e, str) and e for e in evidence):
        bad("evidence", "must be a list of paths, relative to the tasks file")
        evidence = []
    for item in evidence:
        if (why := check(item, True)):
            bad("evidence", why)
    if problems:
        return None, problems
    assert isinstance(ident, str)
    return Row(ident, line, task, folder / task_file if task_file else None,
               tuple(folder / e for e in evidence)), []
