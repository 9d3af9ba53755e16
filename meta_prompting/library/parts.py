"""What state each part is in: present, missing, empty, unreadable or unsafe."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from meta_prompting.errors import UnsafeNameError, UserError
from meta_prompting.library.goals import COMPONENTS, FOLDERS, Library, Part
from meta_prompting.store.files import (
    PART_LIMIT,
    RECORD_LIMIT,
    os_reason,
    read_regular,
    resolve_inside,
    sha256_bytes,
)

PRESENT = "present"
MISSING = "missing"
EMPTY = "empty"  # whitespace only: treated like missing, and so may be generated
UNREADABLE = "unreadable"
UNSAFE = "unsafe"  # resolves outside its folder (a symlink): never read, never written

NEEDS_TEXT = (MISSING, EMPTY)  # what generation may fill in
PROVENANCE_SUFFIX = ".provenance.json"


class PartReport(NamedTuple):
    kind: str
    file: str  # relative to components/, e.g. "protocols/x.txt"
    status: str  # "present", "generated", "placeholder"; in a dry run "missing"/"empty"
    reason: str | None = None


class PartState(NamedTuple):
    part: Part
    path: Path
    status: str
    text: str | None = None
    sha256: str | None = None
    reason: str | None = None  # why it is unreadable or unsafe

    @property
    def usable(self) -> bool:
        return self.status == PRESENT


def inspect_part(library: Library, part: Part) -> PartState:
    """Read one part from the highest layer that has it, never following a link out of
    its folder, and never blocking on a file that is not a regular one."""
    path = library.locate(part)
    folder = path.parent
    unsafe = library.unsafe_folder(folder)
    if unsafe:
        return PartState(part, path, UNSAFE, reason=unsafe)
    try:
        # The name is a bare one (the map was validated), so only a link can lead out
        # of the folder; resolving every part would cost a walk of the whole path each.
        if os.path.islink(path):
            resolve_inside(folder, part.name)
    except UnsafeNameError as e:
        return PartState(part, path, UNSAFE, reason=str(e))
    except OSError as e:  # e.g. a symlink loop
        return PartState(part, path, UNREADABLE, reason=os_reason(e))
    try:
        data = read_regular(path, PART_LIMIT)
    except FileNotFoundError:
        if os.path.islink(path):
            return PartState(part, path, UNREADABLE, reason="a symlink to nothing")
        return PartState(part, path, MISSING)
    except OSError as e:  # NotRegularFile among them: a FIFO, a device, a folder
        return PartState(part, path, UNREADABLE, reason=os_reason(e))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return PartState(part, path, UNREADABLE, reason=f"not UTF-8 text (byte {e.start})")
    if not text.strip():
        return PartState(part, path, EMPTY)
    return PartState(part, path, PRESENT, text=text, sha256=sha256_bytes(data))


def provenance_path(library: Library, part: Part) -> Path:
    """Where the record of how a generated part was made is kept: hidden, beside it."""
    return library.locate(part).parent / f".{part.name}{PROVENANCE_SUFFIX}"


def read_provenance(library: Library, part: Part) -> dict[str, Any] | None:
    """The part's provenance record; None when there is none that can be read."""
    try:
        data = json.loads(read_regular(provenance_path(library, part), RECORD_LIMIT,
                                       follow_links=False))
    except (OSError, ValueError, RecursionError):  # a record is a courtesy: never fatal
        return None
    return data if isinstance(data, dict) else None


def parts_with_records(library: Library) -> set[str]:
    """Keys ("protocols/x.txt") of parts with a provenance record: one listing a folder.

    Cheaper than trying to open a record for each of thousands of parts, most of which
    have none (each miss raises an exception).
    """
    found: set[str] = set()
    for folder, layer in ((f, layer) for f in FOLDERS.values() for layer in library.layers):
        try:
            names = os.listdir(layer.root / COMPONENTS / folder)
        except OSError:
            continue
        found.update(f"{folder}/{name[1:-len(PROVENANCE_SUFFIX)]}" for name in names
                     if name.startswith(".") and name.endswith(PROVENANCE_SUFFIX))
    return found


def source_of(library: Library, part: Part, sha256: str | None) -> str:
    """"generated" for a part a model made and nobody has edited since, else "library".

    From the provenance record, not from what this run did, so that a rebuild writes
    a byte-identical manifest.
    """
    record = read_provenance(library, part)
    return "generated" if record and record.get("sha256") == sha256 else "library"


def inspect_parts(library: Library, parts: list[Part] | tuple[Part, ...]) -> list[PartState]:
    return [inspect_part(library, part) for part in parts]


def select_parts(names: frozenset[str], parts: tuple[Part, ...] | list[Part], flag: str,
                 scope: str) -> set[Part]:
    """The parts that flag values like "protocols/x.txt" or "x.txt" name; refuse others."""
    chosen: set[Part] = set()
    for name in sorted(names):
        found = [p for p in parts if name in (p.key, p.name)]
        if not found:
            known = ", ".join(dict.fromkeys(p.key for p in parts))
            raise UserError(f"{flag} {name}: not a part of {scope} (its parts: {known})")
        chosen.update(found)
    return chosen
