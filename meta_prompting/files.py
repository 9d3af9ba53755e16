"""File primitives: atomic writes, hashing, and names that cannot escape their folder."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from meta_prompting.errors import UnsafeNameError

# A temporary file is hidden (leading dot) and carries this suffix, so that no reader
# of the parts bin or a toolkit can ever take it for a finished file.
TMP_SUFFIX = ".tmp"

PART_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(txt|md)$")
PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_part_name(name: object) -> str | None:
    """Why `name` is not a safe part file name, or None when it is."""
    if not isinstance(name, str):
        return f"must be a file name (a string), not {type(name).__name__}"
    if not name:
        return "must not be empty"
    if "/" in name or "\\" in name or name in (".", ".."):
        return f"{name!r} must be a bare file name, with no directory part"
    if name.startswith("."):
        return f"{name!r} must not start with a dot"
    if not PART_NAME_RE.fullmatch(name):
        return (
            f"{name!r} must use only letters, digits, '_', '-', '.' "
            "and end in .txt or .md"
        )
    return None


def check_project_name(name: str) -> str | None:
    """Why `name` is not a safe project name, or None when it is."""
    if not name:
        return "the project name must not be empty"
    if "/" in name or "\\" in name or name in (".", "..") or os.path.isabs(name):
        return f"project name {name!r} must be a bare name, with no '/' or '..'"
    if name.startswith("."):
        return f"project name {name!r} must not start with a dot"
    if len(name) > 64:
        return f"project name {name[:20]!r}... is longer than 64 characters"
    if not PROJECT_NAME_RE.fullmatch(name):
        return f"project name {name!r} may use only letters, digits, '-', '_' and '.'"
    return None


def resolve_inside(folder: Path, name: str) -> Path:
    """`folder/name`, refused if it resolves (symlinks included) outside `folder`."""
    path = folder / name
    real_folder = folder.resolve()
    real = path.resolve()
    if real == real_folder or not real.is_relative_to(real_folder):
        raise UnsafeNameError(f"{path} resolves to {real}, outside {real_folder}; refused")
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` appears whole or not at all.

    Crash safety rests on this: "the file exists" means "the part is done", so a
    kill -9 or power cut must leave either the old file or the new one, never half.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Ctrl+C or a full disk: take the half-written temporary file with us.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable: the directory entry itself must reach the disk."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename still happened
    finally:
        os.close(fd)


def os_reason(e: BaseException) -> str:
    """"permission denied", not "[Errno 13] Permission denied: '/x'" (we name the path)."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return str(e)


def remove_stale_temporaries(folder: Path, name: str, *, live_writers: bool = True) -> int:
    """Remove the temporary files a killed write of `folder/name` left behind.

    With `live_writers` False (the caller holds the lock for `name`, so nobody else can be
    writing it) every one is stale; otherwise only those whose process is gone.
    Returns how many were removed.
    """
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{8}}{re.escape(TMP_SUFFIX)}")
    removed = 0
    try:
        entries = os.listdir(folder)
    except OSError:
        return 0
    for entry in entries:
        found = pattern.fullmatch(entry)
        if found is None or (live_writers and _alive(int(found.group(1)))):
            continue
        try:
            os.unlink(folder / entry)
            removed += 1
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive, and not ours to judge
        return True
    return True


def is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX)
