"""The library: every layer's goal_map.json and parts bin (components/), merged.

Loading is strict and complete: every problem in every layer's map is collected, so
that `--check` can list them all and a build can refuse before it writes. A map is
only ever read; nothing in this package opens one for writing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from meta_prompting.errors import LibraryError, UnknownGoalError
from meta_prompting.library.layers import (
    COMPONENTS,
    FOLDERS,
    JOBS_FILE,
    KINDS,
    MAP_FILE,
    OUTPUT,
    PROJECT,
    Layer,
    discover,
    find_root,
)
from meta_prompting.library.mapfile import parse_jobs, read_goal_map, rubric_problems
from meta_prompting.store.files import MAP_LIMIT, os_reason, read_regular, real_path

__all__ = ["COMPONENTS", "FOLDERS", "JOBS_FILE", "KINDS", "MAP_FILE", "OUTPUT", "Goal",
           "Library", "Part", "find_root", "load_jobs", "load_library", "parse_goal_map",
           "read_goal_map"]


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
    rubric: str | None = None  # the goal whose protocol grades this goal's answers

    @property
    def parts(self) -> tuple[Part, ...]:
        return (self.persona, self.protocol, *self.constraints)


class Library:
    """The merged library: goals from every layer, parts looked up layer by layer.

    `root` is the project library (or the current folder when there is none): its
    output/ is where toolkits go. New parts go to `write_root`'s parts bin.
    """

    def __init__(self, root: Path, goals: Mapping[str, Goal],
                 layers: tuple[Layer, ...] | None = None, write_root: Path | None = None,
                 goal_layers: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.root = root
        self.goals = goals
        self.layers = layers if layers is not None else (Layer(PROJECT, root),)
        self.write_root = write_root or root
        self.goal_layers = goal_layers or {}  # goal -> the layers defining it, highest first
        self._unsafe: dict[Path, str | None] = {}

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
        """Where new parts of `kind` are written: the top writable layer's parts bin."""
        return _folder(self.write_root, kind)

    def locate(self, part: Part) -> Path:
        """The part's file in the highest layer that has one, else where it would be made.

        Anything under the name counts, a FIFO or a broken link too: it is then refused
        by name rather than silently passed over for a lower layer's part.
        """
        for layer in self.layers:
            path = _folder(layer.root, part.kind) / part.name
            if os.path.lexists(path):
                return path
        return self.folder(part.kind) / part.name

    def layer_of(self, path: Path) -> str:
        """The name of the layer a part's file is in ("project", "user", "built-in")."""
        root = path.parent.parent.parent
        for layer in self.layers:
            if layer.root == root:
                return layer.name
        return self.layers[0].name if self.write_root == self.root else "user"

    def part_layers(self, part: Part) -> list[str]:
        """Every layer holding a file of this name, highest first (the first one wins)."""
        return [layer.name for layer in self.layers
                if os.path.lexists(_folder(layer.root, part.kind) / part.name)]

    def unsafe_folder(self, folder: Path) -> str | None:
        """Why a parts folder may not be used (it leads out of its library), or None.

        Its files would be read (and sent to the model as examples) and new parts,
        locks and records written wherever the link points: a private folder, say.
        """
        if folder not in self._unsafe:
            self._unsafe[folder] = _folder_escape(folder)
        return self._unsafe[folder]

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


def _folder_escape(folder: Path) -> str | None:
    library = folder.parent.parent
    # Only a link can lead out; resolving costs a walk of the whole path, so only then.
    if not (os.path.islink(folder) or os.path.islink(folder.parent)):
        return None
    try:
        real, real_library = real_path(folder), real_path(library)
    except OSError as e:
        return f"{folder}: {os_reason(e)}"
    if real_library in real.parents:
        return None
    return (f"{folder} is a symlink leading outside its library (to {real}); refused: "
            "its files are never read and nothing is written there")


def load_library(root: Path) -> Library:
    """Read and validate every layer's map; raise LibraryError listing every problem."""
    library, problems = read_library(root)
    if problems:
        more = f" (and {len(problems) - 1} more; run --check)" if len(problems) > 1 else ""
        raise LibraryError(problems[0] + more, problems)
    if not library.goals:
        raise LibraryError(f"no goals: no layer has a {MAP_FILE}")
    return library


def read_library(root: Path) -> tuple[Library, list[str]]:
    """The library merged from the valid goals of every layer, and every map problem."""
    found = discover(root)
    specs: dict[str, dict[str, Any]] = {}
    origins: dict[str, list[str]] = {}
    problems: list[str] = []
    read: list[tuple[Layer, dict[str, dict[str, Any]]]] = []
    for layer in found.layers:  # highest first: its goals come first, and win
        layer_specs, layer_problems = read_layer_map(layer)
        problems += layer_problems
        read.append((layer, layer_specs))
        for name, spec in layer_specs.items():
            specs.setdefault(name, spec)
            origins.setdefault(name, []).append(layer.name)
    # A rubric may live in any layer, so names are checked once all are read; the map's
    # text is read again only to place a problem, which a valid library never has.
    for layer, layer_specs in read:
        if any(s.get("rubric") not in (None, *specs) for s in layer_specs.values()):
            text = read_text(layer.root / MAP_FILE, MAP_LIMIT)
            problems += rubric_problems(text, layer.label(MAP_FILE), layer_specs, set(specs))
    library = Library(root, _Goals(specs), found.layers, found.write_root,
                      {name: tuple(layers) for name, layers in origins.items()})
    return library, problems


def read_layer_map(layer: Layer) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """One layer's goal specs and problems; a layer without a map has neither."""
    path = layer.root / MAP_FILE
    label = layer.label(MAP_FILE)
    try:
        text = read_text(path, MAP_LIMIT)
    except FileNotFoundError:
        if layer.name == PROJECT:
            return {}, [f"{path}: not found"]
        return {}, []
    except (OSError, UnicodeDecodeError) as e:
        return {}, [f"{label}: cannot read: {os_reason(e)}"]
    return read_goal_map(text, label)


def read_text(path: Path, limit: int) -> str:
    """A UTF-8 file's text; a byte-order mark (Notepad writes one) is dropped."""
    return read_regular(path, limit).decode("utf-8-sig")


def parse_goal_map(text: str, filename: str = MAP_FILE) -> tuple[dict[str, Goal], list[str]]:
    """Pure: the goals in a goal map's text (the valid ones), and every problem in it."""
    specs, problems = read_goal_map(text, filename)
    problems += rubric_problems(text, filename, specs, set(specs))
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


def _make_goal(name: str, spec: dict[str, Any]) -> Goal:
    return Goal(name, spec.get("description", "").strip(), Part("persona", spec["persona"]),
                Part("protocol", spec["protocol"]),
                tuple(Part("constraint", c) for c in spec["constraints"]), spec.get("rubric"))


def load_jobs(root: Path) -> tuple[dict[str, str], list[str]]:
    """Every layer's generation_jobs.json merged, the highest layer's description winning.

    Each is optional: "<folder>/<file>" -> what the part is for, told to the model.
    """
    jobs: dict[str, str] = {}
    problems: list[str] = []
    for layer in reversed(discover(root).layers):
        layer_jobs, layer_problems = read_layer_jobs(layer)
        jobs.update(layer_jobs)
        problems += layer_problems
    return jobs, problems


def read_layer_jobs(layer: Layer) -> tuple[dict[str, str], list[str]]:
    label = layer.label(JOBS_FILE)
    try:
        text = read_text(layer.root / JOBS_FILE, MAP_LIMIT)
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError) as e:
        return {}, [f"{label}: cannot read: {os_reason(e)}"]
    return parse_jobs(text, label)
