"""The lock of one thing that can race: cheap to import, as a first build takes one.

On POSIX the lock is flock on the lock file, as filelock takes it; filelock's ~40 ms
import is paid only elsewhere. The lock files live in a hidden .locks/ of the toolkit
or parts bin they guard (earlier versions kept them beside what they guarded, so a
run of one of those is not waited for: finish it before starting this one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from meta_prompting.store.files import os_reason

# Every lock of a toolkit (its files, each run, each scorecard) or of a parts bin is a
# file in this hidden folder of it: out of the folders people browse (runs/, the parts),
# and out of git status wherever they are kept (its own .gitignore ignores it all).
LOCKS = ".locks"
_IGNORE_ALL = b"*\n# meta-prompting's locks (empty files, kept between runs)\n"


def lock_file(folder: Path, name: str) -> Path:
    """The lock `name` of what `folder` (a toolkit, or a parts bin) keeps: one path for
    one guarded thing, so two processes that need it take the same lock."""
    return folder / LOCKS / f"{name}.lock"


class StepFailed(Exception):
    """The step could not be made now (busy, unwritable); its reason is the message."""

    @property
    def reason(self) -> str:
        return str(self)


@contextmanager
def locked(lock_file: Path, *, timeout: float, what: str,
           on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold `lock_file` (made if need be); StepFailed when busy past `timeout`."""
    try:
        if lock_file.parent.name == LOCKS:
            _make_locks(lock_file.parent)
        else:
            lock_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StepFailed(f"cannot create {lock_file.parent}: {os_reason(e)}") from e
    hold = _flock if os.name == "posix" else _filelock
    with hold(lock_file, timeout, what, on_wait):
        yield


def _make_locks(folder: Path) -> None:
    """The hidden .locks/ folder with its .gitignore. Made in place, not published from a
    temporary folder: a kill mid-way must leave nothing no later run would clear, and an
    empty .locks/ is as good a home for locks. The .gitignore is one write of a new file
    (which a kill does not tear), made by whichever run first finds it missing."""
    ignore = folder / ".gitignore"
    if os.path.lexists(ignore):
        return
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(ignore, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return  # another run's, and the same
    with os.fdopen(fd, "wb") as f:
        f.write(_IGNORE_ALL)


# How often a waiting run looks at a busy lock again (filelock's own default).
POLL = 0.05


@contextmanager
def _flock(lock_file: Path, timeout: float, what: str,
           on_wait: Callable[[], None] | None) -> Iterator[None]:
    """The lock as filelock takes it on POSIX (flock on the file), without its ~40 ms
    import: a first build pays for its project lock only in system calls."""
    import fcntl
    import time

    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:  # e.g. a read-only folder
        raise StepFailed(f"cannot lock {lock_file}: {os_reason(e)}") from e
    try:
        deadline, waited = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            except OSError as e:
                raise StepFailed(f"cannot lock {lock_file}: {os_reason(e)}") from e
            if not waited:
                waited = True
                if on_wait is not None:
                    on_wait()
            if time.monotonic() >= deadline:
                raise StepFailed(f"busy: another run has held the lock on {what} for "
                                 f"{timeout:g}s")
            time.sleep(POLL)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _filelock(lock_file: Path, timeout: float, what: str,
              on_wait: Callable[[], None] | None) -> Iterator[None]:
    from filelock import FileLock, Timeout  # ~40 ms: only where flock is not to be had

    lock = FileLock(str(lock_file), timeout=timeout)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait()
            lock.acquire()
    except Timeout:
        raise StepFailed(f"busy: another run has held the lock on {what} for "
                         f"{timeout:g}s") from None
    except OSError as e:  # e.g. a read-only folder
        raise StepFailed(f"cannot lock {lock_file}: {os_reason(e)}") from e
    try:
        yield
    finally:
        lock.release()
