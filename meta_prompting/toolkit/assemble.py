"""The toolkit: rendering output/<project>/ (pure) and writing it without losing edits."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

from meta_prompting import __version__
from meta_prompting.errors import ConflictError, UnsafeNameError, UserError
from meta_prompting.library.goals import Goal, Library, Part
from meta_prompting.store.files import (
    RECORD_LIMIT,
    TOOLKIT_LIMIT,
    NotRegularFile,
    check_project_name,
    is_temporary,
    os_reason,
    read_regular,
    real_path,
    remove_stale_temporaries,
    sha256_bytes,
    write_atomic,
)
from meta_prompting.toolkit.prompt import (
    Filling,
    Sections,
    person_blocks,
    refill,
    render_prompt,
    unfill,
)

PERSONA_FILE = "00_PERSONA.md"
TEMPLATE_FILE = "01_PROMPT_TEMPLATE.md"
PROMPT_FILE = "02_PROMPT.md"  # the template filled with a task and evidence: what --run sends
MANIFEST_FILE = "manifest.json"
TOOLKIT_FILES = (PERSONA_FILE, TEMPLATE_FILE, PROMPT_FILE)
TOOL = "meta-prompting"


class Filled(NamedTuple):
    """A part's text for the toolkit, or the reason it has none (a placeholder)."""

    part: Part
    text: str | None
    source: str  # "library", "generated" or "placeholder"
    reason: str | None = None
    sha256: str | None = None


def render_files(goal: Goal, filled: list[Filled], command: str,
                 filling: Filling | None = None,
                 carried: dict[str, str] | None = None) -> dict[str, bytes]:
    """Pure: the toolkit files for `goal`, from its parts in map order.

    With a `filling` (a task and evidence) the prompt ready to send is written too;
    `carried` puts back the blocks a person filled into an earlier template by hand.
    """
    persona, sections = toolkit_texts(goal, filled, command)
    template = render_prompt(sections, None)
    files = {
        PERSONA_FILE: persona.encode("utf-8"),
        TEMPLATE_FILE: refill(template, carried or {}).encode("utf-8"),
    }
    if filling is not None:
        files[PROMPT_FILE] = render_prompt(sections, filling).encode("utf-8")
    return files


def toolkit_texts(goal: Goal, filled: list[Filled], command: str) -> tuple[str, Sections]:
    """Pure: the persona as sent and the prompt's blocks, from the parts in map order."""
    by_part = {f.part: f for f in filled}
    sections = Sections(_body(by_part[goal.protocol], command),
                        tuple(_body(by_part[p], command) for p in goal.constraints))
    return _body(by_part[goal.persona], command) + "\n", sections


def _body(filled: Filled, command: str) -> str:
    if filled.text is not None:
        # Literal: no template engine ever sees a part, so {{x}}, $HOME and {# survive.
        return filled.text.rstrip("\n")
    return "\n".join([
        f"> **MISSING PART: {filled.part.key}.** This toolkit is incomplete.",
        f"> Why: {filled.reason or 'it could not be made'}.",
        f"> To finish it, run: `{command}`",
    ])


def render_manifest(goal: Goal, filled: list[Filled], files: dict[str, bytes],
                    kept: dict[str, str] | None = None) -> bytes:
    """Pure: manifest.json, what a rebuild reads to tell our files from a person's edits."""
    manifest = {
        "tool": TOOL,
        "version": __version__,
        "goal": goal.name,
        "complete": all(f.text is not None for f in filled),
        "parts": [
            {"kind": f.part.kind, "file": f.part.key, "sha256": f.sha256, "source": f.source}
            | ({"reason": f.reason} if f.reason else {})
            for f in filled
        ],
        # Sorted: a build with a task and one without must write the same bytes for
        # the same files, or each would rewrite (and fsync) the other's manifest.
        "files": dict(sorted({**(kept or {}), **{name: sha256_bytes(data)
                                                for name, data in files.items()}}.items())),
    }
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def project_dir(library: Library, project: str, stage: str | None = None) -> Path:
    """output/<project> (or a chain stage's output/<project>/<stage>), refused unless
    each name is a safe one that stays inside its folder."""
    why = check_project_name(project)
    if why:
        raise UnsafeNameError(f"--project: {why}")
    if stage is not None and (why := check_project_name(stage)):
        raise UnsafeNameError(f"stage: {why.replace('project name', 'stage name')}")
    top = library.output
    out = top / project if stage is None else top / project / stage
    try:
        real_top = real_path(top)
        real = real_path(out)
    except OSError as e:  # a symlink loop
        raise UnsafeNameError(f"{out}: cannot be used: {os_reason(e)}") from e
    expected = real_top if stage is None else real_top / project
    if real.parent != expected or (stage is not None and real_path(top / project) != expected):
        raise UnsafeNameError(f"{out} resolves to {real}, outside {real_top}; refused")
    return out


class FileAction(NamedTuple):
    name: str
    action: str  # "create", "replace" or "unchanged"
    previous: str | None = None  # sha256 of what "replace" replaces


def plan_writes(out: Path, files: dict[str, bytes] | None, force: bool,
                carried: frozenset[str] = frozenset()) -> list[FileAction]:
    """Decide what writing `files` into `out` would do; raise if it would lose edits.

    With `files` None (their content not known yet, before parts are generated), only
    what no content could excuse is checked: an edit to a file a manifest vouches for,
    or a person's files in a folder with no manifest. Files named in `carried` hold a
    person's filled-in blocks that the new content carries over: not a conflict.
    """
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder")
    if out.exists():
        _check_writable(out)
    else:
        parent = out.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise UserError(f"{parent} is a file, not a folder: cannot make {out} there")
        _check_writable(parent)
    existing = _existing(out)
    recorded, manifest_problem = _recorded_hashes(out) if MANIFEST_FILE in existing else ({}, None)
    conflicts: list[str] = []
    actions: list[FileAction] = []
    names = list(files) if files is not None else [
        n for n in TOOLKIT_FILES if n != PROMPT_FILE or n in existing]
    for name in names:
        current = existing.get(name)
        new = None if files is None else sha256_bytes(files[name])
        if current is None:
            actions.append(FileAction(name, "create"))
        elif current == new:
            actions.append(FileAction(name, "unchanged"))
        else:
            if (name not in carried and current not in recorded.get(name, ())
                    and (files is not None or recorded)):
                conflicts.append(f"{name} (edited since the last build)" if recorded
                                 else name)
            actions.append(FileAction(name, "replace", current))
    if manifest_problem:
        conflicts.append(f"{MANIFEST_FILE} ({manifest_problem})")
    elif MANIFEST_FILE not in existing:
        # A folder the tool did not make: anything but our own files is a person's.
        conflicts += sorted(n for n in existing if n not in TOOLKIT_FILES)
    if conflicts and not force:
        raise ConflictError(
            f"{out} holds work this tool did not write, which a rebuild would overwrite"
            f" or mix with: {', '.join(conflicts)}. Keep it by choosing another --project,"
            " or pass --force to overwrite (other files are never deleted)",
            conflicts,
        )
    return actions


def carried_blocks(out: Path) -> dict[str, str]:
    """The blocks a person filled into our template by hand, when that is their only edit.

    Following the tool's own advice (fill in the blocks) must not turn a re-run into a
    conflict: the new template carries the person's text over, and nothing is lost.
    """
    try:
        data = read_regular(out / TEMPLATE_FILE, TOOLKIT_LIMIT, follow_links=False)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    recorded = _recorded_hashes(out)[0].get(TEMPLATE_FILE, set())
    blocks = person_blocks(text)
    if blocks and (sha256_bytes(data) in recorded  # carried by an earlier build
                   or sha256_bytes(unfill(text, blocks).encode("utf-8")) in recorded):
        return blocks
    return {}


def kept_records(out: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Toolkit files this build does not write but a manifest vouches for: still ours.

    A build without a task leaves an earlier 02_PROMPT.md alone; the new manifest must
    keep vouching for it, or the next build would take it for a person's file.
    """
    recorded = _recorded_hashes(out)[0]
    kept: dict[str, str] = {}
    for name in TOOLKIT_FILES:
        if name in files or name not in recorded:
            continue
        try:
            sha = sha256_bytes(read_regular(out / name, TOOLKIT_LIMIT, follow_links=False))
        except OSError:
            continue
        if sha in recorded[name]:
            kept[name] = sha
    return kept


def manifest_is(out: Path, manifest: bytes) -> bool:
    """Whether `out`'s manifest already says exactly this (then nothing needs writing)."""
    try:
        return read_regular(out / MANIFEST_FILE, RECORD_LIMIT, follow_links=False) == manifest
    except OSError:
        return False


def write_toolkit(out: Path, files: dict[str, bytes], manifest: bytes,
                  actions: list[FileAction]) -> None:
    """Write the toolkit files, then the manifest last: it vouches for what is there.

    Before the first file is touched, the manifest is written as a statement of intent
    that vouches for both each file's old content and its new one. A build killed
    half-way then leaves every file in a state the manifest knows, so the next build
    replaces them without taking them for a person's edits, even if a part changed.
    """
    changing = [a.name for a in actions if a.action != "unchanged"]
    if not os.path.lexists(out):
        # A new toolkit appears whole, by one rename: nothing is ever half there to vouch
        # for, and it takes half the syncs of writing it file by file. Under the
        # project's lock, a hidden folder of the same name is a killed build's.
        from meta_prompting.store.files import publish_folder, remove_dead_folders

        out.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_folders(out.parent, out.name)
        publish_folder(out, {**{name: files[name] for name in changing}, MANIFEST_FILE: manifest})
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in (*TOOLKIT_FILES, MANIFEST_FILE):  # no lock here: only dead writers' files
        remove_stale_temporaries(out, name)
    if changing:
        intent = json.loads(manifest)
        intent["writing"] = True
        intent["previous"] = {a.name: a.previous for a in actions if a.previous}
        write_atomic(out / MANIFEST_FILE, (json.dumps(intent, indent=2) + "\n").encode())
    for name in changing:
        write_atomic(out / name, files[name])
    path = out / MANIFEST_FILE
    try:
        if read_regular(path, RECORD_LIMIT, follow_links=False) == manifest:
            return
    except OSError:
        pass
    write_atomic(path, manifest)


def _existing(out: Path) -> dict[str, str]:
    """Name -> sha256 of each entry in `out` (folders and links count, as "")."""
    found: dict[str, str] = {}
    try:
        entries = list(os.scandir(out))
    except FileNotFoundError:
        return found
    except OSError as e:
        raise UserError(f"{out}: cannot read: {os_reason(e)}") from e
    from meta_prompting.store.files import REQUESTS
    from meta_prompting.store.lock import LOCKS

    for entry in entries:
        if is_temporary(entry.name) or entry.name in (LOCKS, REQUESTS):
            continue  # a write cut short by a crash, the locks, the requests: never a
            # person's file
        if entry.is_file(follow_symlinks=False):
            try:
                found[entry.name] = sha256_bytes(read_regular(entry.path, TOOLKIT_LIMIT,
                                                              follow_links=False))
            except NotRegularFile:  # too large, or swapped for a FIFO: not ours either way
                found[entry.name] = ""
            except OSError as e:
                raise UserError(f"{entry.path}: cannot read: {os_reason(e)}") from e
        else:  # a folder, a link, a FIFO: never opened, and never a file we wrote
            found[entry.name] = ""
    return found


def _recorded_hashes(out: Path) -> tuple[dict[str, set[str]], str | None]:
    """What the manifest vouches for: each file's sha256 (two, mid-write: old and new)."""
    try:
        data = json.loads(read_regular(out / MANIFEST_FILE, RECORD_LIMIT, follow_links=False))
    except (OSError, ValueError, RecursionError):
        return {}, "not a manifest this tool can read"
    if not isinstance(data, dict) or data.get("tool") != TOOL or not isinstance(
            data.get("files"), dict):
        return {}, "not a manifest this tool wrote"
    recorded = {str(k): {str(v)} for k, v in data["files"].items()}
    previous = data.get("previous")
    if data.get("writing") and isinstance(previous, dict):
        for name, sha in previous.items():
            recorded.setdefault(str(name), set()).add(str(sha))
    return recorded, None


def project_goal(out: Path) -> str | None:
    """The goal whose toolkit `out` holds, from its manifest; None when it holds none."""
    try:
        data = json.loads(read_regular(out / MANIFEST_FILE, RECORD_LIMIT, follow_links=False))
    except (OSError, ValueError, RecursionError):
        return None
    goal = data.get("goal") if isinstance(data, dict) and data.get("tool") == TOOL else None
    return goal if isinstance(goal, str) else None


def _check_writable(folder: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{folder}: permission denied (cannot write the toolkit there)")
