"""Where the libraries are: the project's, the user's, and the one built into the package.

A library is a folder holding any of goal_map.json, generation_jobs.json and
components/. Three layers, highest first: the project library (--root,
$META_PROMPTING_ROOT, or the current folder when it has a goal_map.json), the user
library ($META_PROMPTING_HOME, else the platform's user config folder), and the
built-in library. A goal is taken whole from the highest layer that defines it, a part
by file name from the highest layer that has it. New parts go to the project library,
else to the user's; never into the package.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from meta_prompting.errors import LibraryError, UserError
from meta_prompting.store.files import (
    MAP_LIMIT,
    PART_LIMIT,
    check_part_name,
    os_reason,
    read_regular,
    write_new,
)
from meta_prompting.store.home import APP, user_home

MAP_FILE = "goal_map.json"
JOBS_FILE = "generation_jobs.json"
COMPONENTS = "components"
OUTPUT = "output"
KINDS = ("persona", "protocol", "constraint")
FOLDERS = {"persona": "personas", "protocol": "protocols", "constraint": "constraints"}

PROJECT, USER, BUILTIN = "project", "user", "built-in"


class Layer(NamedTuple):
    name: str  # PROJECT, USER or BUILTIN
    root: Path

    def label(self, file: str) -> str:
        """How messages name one of its files: the project's bare, as it always was."""
        if self.name == PROJECT:
            return file
        if self.name == BUILTIN:
            return f"built-in {file}"
        return str(self.root / file)


class Layers(NamedTuple):
    layers: tuple[Layer, ...]  # highest first; only those that exist
    write_root: Path  # where new parts go: the project library, else the user's


def builtin_root() -> Path:
    """The starter library: inside an installed package, or this checkout's own."""
    here = Path(__file__).resolve().parent.parent  # the package: library/ is one level in
    packaged = here / "builtin"
    if (packaged / MAP_FILE).is_file():
        return packaged
    return here.parent  # a source checkout: the repository keeps the one copy


def find_root(explicit: str | None = None) -> Path:
    """The project library's folder (--root, $META_PROMPTING_ROOT), else the cwd.

    The current folder is the project library only when it holds a goal_map.json;
    otherwise it is just where output/ goes. An empty $META_PROMPTING_ROOT counts as
    unset, as shells make `VAR= cmd` easy; an empty --root is refused.
    """
    if explicit is not None and not explicit.strip():
        raise LibraryError("--root: empty folder name; give a folder, or leave --root out")
    given = explicit or os.environ.get("META_PROMPTING_ROOT")
    if given:
        root = Path(given).expanduser()
        flag = "--root" if explicit else "META_PROMPTING_ROOT"
        if not root.is_dir():
            raise LibraryError(f"{flag} {given}: no such folder")
        if not os.path.lexists(root / MAP_FILE):
            raise LibraryError(f"{flag} {given}: no {MAP_FILE} in that folder (start one "
                               f"with: {APP} --init {given})")
        return root
    return Path.cwd()


def discover(root: Path) -> Layers:
    """The layers that exist for a project library at `root` (or a bare cwd)."""
    layers: list[Layer] = []
    if os.path.lexists(root / MAP_FILE):
        layers.append(Layer(PROJECT, root))
    home = user_home()
    if home.is_dir():
        layers.append(Layer(USER, home))
    builtin = builtin_root()
    if not any(_same(builtin, layer.root) for layer in layers):
        layers.append(Layer(BUILTIN, builtin))
    write_root = root if layers and layers[0].name == PROJECT else home
    return Layers(tuple(layers), write_root)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _make_folders(folder: Path, name: str) -> None:
    """Make the folders of `folder/name` one by one, refusing any that is a link."""
    folder.mkdir(parents=True, exist_ok=True)  # the one named: the person's to choose
    here = folder
    for part in Path(name).parts:
        path = here / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            if path == folder / name:
                return
            path.mkdir(exist_ok=True)
            mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            raise UserError(f"--init {folder}: {path} is a symbolic link; --init never "
                            "writes through a link: remove it, or choose another folder")
        here = path


class InitReport(NamedTuple):
    folder: Path
    created: tuple[str, ...]
    kept: tuple[str, ...]  # already there: left alone


# Keeps what the tool makes beside the parts (locks, cut-short writes) out of git status.
PARTS_IGNORE = f"{COMPONENTS}/.gitignore"


def library_files(root: Path) -> list[str]:
    """The files that make up a library, relative to it: the map, the jobs, the parts'
    .gitignore and the parts."""
    found = [name for name in (MAP_FILE, JOBS_FILE, PARTS_IGNORE) if (root / name).is_file()]
    for folder in FOLDERS.values():
        try:
            names = sorted(os.listdir(root / COMPONENTS / folder))
        except OSError:
            continue
        found += [f"{COMPONENTS}/{folder}/{n}" for n in names if check_part_name(n) is None]
    return found


def init_library(folder: Path) -> InitReport:
    """Copy the built-in library into `folder`, never overwriting a file.

    The folder named may itself be a link (the person chose it); nothing inside it is
    followed: a `components` linked elsewhere would fill a folder nobody named.
    """
    source = builtin_root()
    if os.path.lexists(folder) and not folder.is_dir():
        raise UserError(f"--init {folder}: exists and is not a folder")
    created: list[str] = []
    kept: list[str] = []
    for name in library_files(source):
        target = folder / name
        try:
            data = read_regular(source / name, MAP_LIMIT if name.endswith(".json")
                                else PART_LIMIT)
            _make_folders(folder, name)
            (created if write_new(target, data) else kept).append(name)
        except OSError as e:
            where = e.filename or target
            raise UserError(f"--init: {where}: {os_reason(e)} (files made so far are "
                            "kept; run it again once fixed)") from e
    return InitReport(folder, tuple(created), tuple(kept))
