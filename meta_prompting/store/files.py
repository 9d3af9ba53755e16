"""File primitives: atomic writes, hashing, and names that cannot escape their folder."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from meta_prompting.errors import UnsafeNameError, UserError

# SHA-256 starts with the interpreter's own module, not hashlib's: hashlib loads OpenSSL
# first, a quarter of a bare Python start-up, and a build hashes a few kilobytes. The
# own module is five times slower a byte, so past half a MiB in one process (a chain
# of many stages) hashlib's import has paid for itself and takes over. The module is
# _sha256 up to Python 3.11 and _sha2 since 3.12; hashlib wherever neither is built.
try:
    from _sha256 import sha256 as _small  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    try:
        from _sha2 import sha256 as _small  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        from hashlib import sha256 as _small  # type: ignore[assignment,no-redef,unused-ignore]
_SMALL_BYTES = 1 << 19
_hashed = 0  # bytes hashed with _small so far (threads may race: it is a threshold)

# A temporary file is hidden (leading dot) and carries this suffix, so that no reader
# of the parts bin or a toolkit can ever take it for a finished file.
TMP_SUFFIX = ".tmp"
# ELOOP in our words: the OS says "too many levels of symbolic links", Python 3.10-3.12's
# resolve() "Symlink loop from ...", so the cause reads the same wherever it is met.
LOOP = "a symlink loop"

# The longest name the tool derives from a part's is the temporary file of its
# provenance record, `..<name>.provenance.json.<pid>.<8 hex>.tmp`: 52 bytes around the
# name with a 20-digit pid (a 64-bit one). Names are ASCII, so 255 - 52 = 203 bytes fit
# any file system's limit; 200 is the round number below it.
MAX_PART_NAME = 200
MAX_PROJECT_NAME = 64
# Names Windows reserves for devices, with any extension and in any case: a library
# shared through git with a Windows colleague cannot hold them.
WINDOWS_DEVICES = r"(?i:con|prn|aux|nul|com[0-9]|lpt[0-9])"
PART_NAME_RE = re.compile(rf"^(?!{WINDOWS_DEVICES}(?:\.|$))(?=.{{1,{MAX_PART_NAME}}}$)"
                          r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\.(txt|md)$")
PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_DEVICE_RE = re.compile(rf"^{WINDOWS_DEVICES}(?:\.|$)")

# Caps on what one read takes in, so that a huge file cannot exhaust memory. A part is
# a prompt: 1 MiB is hundreds of pages. A map or jobs file of 50,000 goals is ~10 MiB.
# A toolkit file holds a goal's parts; a manifest and a provenance record are small.
PART_LIMIT = 1 << 20
MAP_LIMIT = 32 << 20
TOOLKIT_LIMIT = 64 << 20
RECORD_LIMIT = 1 << 20


def sha256_bytes(data: bytes) -> str:
    global _hashed
    if _hashed < _SMALL_BYTES:
        _hashed += len(data)
        digest: str = _small(data).hexdigest()
        return digest
    import hashlib

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
    if len(name) > MAX_PART_NAME:
        return (f"{name[:20]!r}... is {len(name)} characters long; the limit is "
                f"{MAX_PART_NAME}, so that the files made beside it fit a file name")
    if _DEVICE_RE.match(name):
        return f"{name!r} is a name Windows reserves for a device ({name.split('.')[0]})"
    if name.endswith((".", " ")):
        return f"{name!r} must not end in a dot or a space (Windows drops them)"
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
    if name.startswith("-"):
        return f"project name {name!r} must not start with '-' (it would read as a flag)"
    if len(name) > MAX_PROJECT_NAME:
        return f"project name {name[:20]!r}... is longer than {MAX_PROJECT_NAME} characters"
    if _DEVICE_RE.match(name):
        return (f"project name {name!r} is a name Windows reserves for a device "
                f"({name.split('.')[0]})")
    if name.endswith((".", " ")):
        return f"project name {name!r} must not end in a dot or a space (Windows drops them)"
    if not PROJECT_NAME_RE.fullmatch(name):
        return f"project name {name!r} may use only letters, digits, '-', '_' and '.'"
    return None


class NotRegularFile(OSError):
    """A path that is not a regular file where one was expected: never opened to read."""


# Each toolkit's hidden folder of what its runs were asked (runs.requests).
REQUESTS = ".requests"
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"),
          (stat.S_ISREG, "a regular file"))


def file_kind(mode: int) -> str:
    """"a named pipe (FIFO)", "a folder"...: what a non-regular file is, for messages."""
    return next((word for test, word in _KINDS if test(mode)), "not a regular file")


def read_regular(path: Path | str, limit: int, *, follow_links: bool = True) -> bytes:
    """The bytes of a regular file, at most `limit` of them; never blocks.

    A FIFO blocks an open() for reading until a writer comes, a device can give bytes
    forever: both are refused before they are opened (stat), and the open itself is
    non-blocking in case one is swapped in between (then fstat refuses it). Raises
    FileNotFoundError, NotRegularFile (an OSError whose strerror says what it is) or
    another OSError.
    """
    st = os.stat(path, follow_symlinks=follow_links)
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode)
        if st.st_size > limit:
            raise _too_large(path, limit)
        chunks: list[bytes] = []
        size = 0
        while True:  # a file may grow while we read it: still stop at the cap
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20) or 1)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _too_large(path, limit)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _not_regular(path: Path | str, mode: int) -> NotRegularFile:
    if stat.S_ISDIR(mode):
        return NotRegularFile(errno.EISDIR, "is a folder, not a file", str(path))
    return NotRegularFile(errno.EINVAL, f"is {file_kind(mode)}, not a regular file", str(path))


def _too_large(path: Path | str, limit: int) -> NotRegularFile:
    return NotRegularFile(errno.EFBIG, f"is larger than {limit >> 20} MiB, more than this "
                          "tool reads", str(path))


def real_path(path: Path) -> Path:
    """`path` with every link resolved; a symlink loop is an OSError (ELOOP)."""
    try:
        real = path.resolve()
    except RuntimeError as e:  # Python 3.10-3.12 say "Symlink loop" this way
        raise OSError(errno.ELOOP, LOOP, str(path)) from e
    if real.is_symlink():  # 3.13 stops at a loop and hands back the link unresolved
        raise OSError(errno.ELOOP, LOOP, str(path))
    return real


def nice_path(path: Path) -> str:
    """`path` relative to the current folder when it is below it: shorter to read."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def resolve_inside(folder: Path, name: str) -> Path:
    """`folder/name`, refused if it resolves (symlinks included) outside `folder`."""
    path = folder / name
    real_folder = real_path(folder)
    real = real_path(path)
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


def publish_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Make `folder` appear with `files` in it, whole or not at all (one rename).

    The files are written and synced in a hidden temporary folder beside it, which is
    then renamed into place: a kill at any moment leaves the folder complete or absent.
    Call it under the folder's lock; a leftover temporary folder is a dead run's.
    """
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        tmp.mkdir(parents=True)
        for name, data in files.items():
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        fsync_dir(tmp)
        os.rename(tmp, folder)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(folder.parent)


def remove_dead_folders(parent: Path, name: str) -> None:
    """Remove the temporary folders killed writes of `parent/name` left (under its lock)."""
    prefix = f".{name}."
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        if entry.startswith(prefix) and entry.endswith(".tmp") and (parent / entry).is_dir():
            import shutil

            shutil.rmtree(parent / entry, ignore_errors=True)


def os_reason(e: BaseException) -> str:
    """"permission denied", not "[Errno 13] Permission denied: '/x'" (we name the path)."""
    if isinstance(e, NotRegularFile):
        return str(e.strerror)
    if isinstance(e, OSError) and e.errno == errno.ELOOP:  # each OS words it its own way
        return LOOP
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    return str(e)


_TEMPORARY = re.compile(rf"\..+\.(\d+)\.[0-9a-f]{{8}}{re.escape(TMP_SUFFIX)}")


def clear_dead_temporaries(folder: Path) -> int:
    """Remove every temporary file in `folder` that a process now gone left (write_atomic's
    and write_new's names); those of living processes stay. Returns how many went."""
    return _remove_temporaries(folder, _TEMPORARY, live_writers=True)


def remove_stale_temporaries(folder: Path, name: str, *, live_writers: bool = True) -> int:
    """Remove the temporary files a killed write of `folder/name` left behind.

    With `live_writers` False (the caller holds the lock for `name`, so nobody else can be
    writing it) every one is stale; otherwise only those whose process is gone.
    Returns how many were removed.
    """
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[0-9a-f]{{8}}{re.escape(TMP_SUFFIX)}")
    return _remove_temporaries(folder, pattern, live_writers=live_writers)


def _remove_temporaries(folder: Path, pattern: re.Pattern[str], *, live_writers: bool) -> int:
    removed = 0
    try:
        entries = os.listdir(folder)
    except OSError:
        return 0
    for entry in entries:
        found = pattern.fullmatch(entry)
        # A number no process id can be is not a name write_atomic made: someone
        # else's file, left alone (and never passed to os.kill, which overflows).
        if found is None or len(found.group(1)) > 10 or int(found.group(1)) > MAX_PID:
            continue
        if live_writers and _alive(int(found.group(1))):
            continue
        try:
            os.unlink(folder / entry)
            removed += 1
        except OSError:
            pass
    return removed


MAX_PID = 2**31 - 1  # pid_t is a signed 32-bit int on every system we run on


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # another user's, or not a pid: not ours
        return True
    return True


def write_new(path: Path, data: bytes) -> bool:
    """Create `path` whole with `data`; False, touching nothing, if it already exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TMP_SUFFIX}")
    if os.path.lexists(path):
        return False
    # Written in place, not through write_atomic: a temporary of a temporary is a name
    # remove_stale_temporaries(folder, path.name) would not know, left for good by a kill.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    try:
        # link() refuses to replace an existing name, so a file made meanwhile survives.
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: the check above has to do
        if os.path.lexists(path):
            return False
        os.replace(tmp, path)
        fsync_dir(path.parent)
        return True
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    fsync_dir(path.parent)
    return True


def is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def check_own(path: Path, *, folder: bool, keeps: str) -> None:
    """Refuse `path` unless it is absent or a real file (`folder`: a real folder): what
    this tool keeps there is never read or written through a link, a FIFO or a device."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise UserError(f"{path}: cannot be read: {os_reason(e)}") from e
    if not (stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)):
        raise UserError(f"{path}: is {file_kind(mode)}, where this tool keeps {keeps}; "
                        "move it away")
