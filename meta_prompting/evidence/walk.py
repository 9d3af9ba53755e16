"""A folder given as evidence: the text files in it, and nothing from anywhere else.

The walk is in sorted order, files before subfolders (os.walk's), so the same folder
always gives the same prompt, and so the same run. What it leaves out, and why:

- anything reached through a link that leads out of the folder, and links to folders
  (never followed: a loop, or the same files twice), each with a note;
- this tool's own results (output/, any toolkit folder), with a note: `--evidence .`
  must not feed the tool the answers it made last time, a prompt that grows each run
  and a cache that never hits;
- files that commonly hold secrets (`.env`, keys, certificates), with a note: a file
  named on its own is sent, one inside a folder is not, unless named;
- hidden entries (`.git/`, the tool's locks and temporary files among them);
- what .gitignore files and .git/info/exclude leave out, as git does (one note);
  `--evidence-all` sends those too;
- binary files, files that are not UTF-8 and names that are not UTF-8, with a note.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import stat
from pathlib import Path
from typing import NamedTuple

from meta_prompting.errors import UserError
from meta_prompting.evidence.ignore import IGNORE_FILE, Ignore, rules_above
from meta_prompting.store.files import (
    RECORD_LIMIT,
    NotRegularFile,
    os_reason,
    read_regular,
    real_path,
)
from meta_prompting.toolkit.assemble import MANIFEST_FILE, TOOL
from meta_prompting.toolkit.prompt import Document

SNIFF = 8192  # a NUL byte this early is a binary file
SECRET_NAMES = (".env", ".env.*", "*.env", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
                "*.pem", "*.key", "*.p12", "*.pfx", "credentials*.json", ".netrc",
                ".pgpass", ".pypirc", ".npmrc")
_SHOWN_IGNORED = 5  # names in the one note about ignored entries; the rest are counted


class Walk(NamedTuple):
    """How folders are walked: every option is a flag's."""

    limit: int  # the most bytes one file may hold
    everything: bool = False  # --evidence-all: what .gitignore leaves out too
    skip: tuple[Path, ...] = ()  # this tool's output folders


def holds_secrets(name: str) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in SECRET_NAMES)


def walk_folder(path: Path, given: str, base: Path, notes: list[str], walk: Walk
                ) -> list[Document]:
    """The text documents in the folder `path` (named `given` on the command line)."""
    try:
        top = real_path(path)
    except OSError as e:
        raise UserError(f"--evidence {given}: cannot read: {os_reason(e)}") from e
    ignore, prefix = (Ignore(), "") if walk.everything else rules_above(top)
    skip = {_real(p) for p in walk.skip}
    found: list[Document] = []
    ignored: list[str] = []
    todo: list[tuple[Path, str, Ignore]] = [(path, prefix, ignore)]
    while todo:  # a stack, not recursion: a folder tree thousands deep must not overflow
        folder, rel, ignore = todo.pop()
        if not walk.everything:
            ignore = ignore.read(folder / IGNORE_FILE, rel)
        subfolders: list[tuple[Path, str, Ignore]] = []
        for entry in _entries(folder, base):
            name = entry.name
            file = Path(folder) / name
            shown = relative_name(file, base)
            if not is_utf8(name):
                notes.append(f"skipped {escaped_name(shown)}: its name is not UTF-8 text")
                continue
            target = file
            if entry.is_symlink():
                target_or_why = _link_target(file, top, given)
                if isinstance(target_or_why, str):
                    notes.append(f"skipped {shown}: {target_or_why}")
                    continue
                target = target_or_why
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as e:
                raise UserError(f"--evidence {shown}: cannot read: {os_reason(e)}") from e
            is_folder = stat.S_ISDIR(mode)
            if is_folder and (_real(file) in skip or _is_toolkit(file)):
                notes.append(f"skipped {shown}/: this tool's own results")
                continue
            if not is_folder and holds_secrets(name):
                notes.append(f"skipped {shown}: may hold secrets (name it on its own with "
                             "--evidence to send it)")
                continue
            if name.startswith("."):
                continue
            if ignore.ignored(rel + name, is_folder):
                ignored.append(shown + ("/" if is_folder else ""))
                continue
            if is_folder:
                subfolders.append((file, f"{rel}{name}/", ignore))
                continue
            document = _read(target, shown, walk.limit, notes)
            if document is not None:
                found.append(document)
        todo.extend(reversed(subfolders))
    if ignored:
        names = ", ".join(ignored[:_SHOWN_IGNORED])
        more = f" and {len(ignored) - _SHOWN_IGNORED} more" if len(ignored) > _SHOWN_IGNORED \
            else ""
        notes.append(f"skipped what .gitignore leaves out: {names}{more} (--evidence-all "
                     "sends it)")
    return found


def _entries(folder: Path, base: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=lambda e: e.name)
    except OSError as e:
        raise UserError(f"--evidence {relative_name(folder, base)}: cannot read: {os_reason(e)}"
                        ) from e


def _link_target(link: Path, top: Path, given: str) -> Path | str:
    """Where a link inside the walk leads, when it is a file inside it; else why not."""
    try:
        target = real_path(link)
    except OSError as e:
        return f"a link that cannot be followed ({os_reason(e)})"
    if not target.is_relative_to(top) or target == top:
        return f"a link leading out of {given}"
    if not os.path.lexists(target):
        return "a link to nothing"
    if target.is_dir():
        return "a link to a folder (never followed: its files are read where they are)"
    return target


def _read(file: Path, shown: str, limit: int, notes: list[str]) -> Document | None:
    try:
        # The link, if any, is already resolved: never follow another one swapped in.
        data = read_regular(file, limit, follow_links=False)
    except FileNotFoundError:
        return None  # removed while we walked: it is not there to send
    except NotRegularFile as e:
        if e.errno == errno.EFBIG:
            raise UserError(f"--evidence {shown}: over {limit // 1024} KiB of text") from None
        notes.append(f"skipped {shown}: {e.strerror}")  # a FIFO, a device: never opened
        return None
    except OSError as e:
        raise UserError(f"--evidence {shown}: cannot read: {os_reason(e)}") from e
    if b"\0" in data[:SNIFF]:
        notes.append(f"skipped binary file {shown}")
        return None
    try:
        return Document(shown, data.decode("utf-8"))
    except UnicodeDecodeError:
        notes.append(f"skipped {shown}: not UTF-8 text")
        return None


def _is_toolkit(folder: Path) -> bool:
    """A folder holding a manifest this tool wrote: a toolkit, with its runs and grades."""
    try:
        manifest = json.loads(read_regular(folder / MANIFEST_FILE, RECORD_LIMIT,
                                           follow_links=False))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(manifest, dict) and manifest.get("tool") == TOOL


def _real(path: Path) -> Path:
    try:
        return real_path(path)
    except OSError:
        return path


def relative_name(path: Path, base: Path) -> str:
    """The path as the person would type it from where they ran the command."""
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive on Windows
        return path.as_posix()


def is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def escaped_name(name: str) -> str:
    """A name that is not UTF-8, with its bad bytes written as \\xff, to print."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
