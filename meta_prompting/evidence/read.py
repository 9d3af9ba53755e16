"""Filling the toolkit: the task and the evidence documents, read and checked.

Everything is read and refused here, before any file is written or any model called:
a missing path, a named file that is binary or not UTF-8, an empty task, evidence over
the limit. A named file is sent as it is; a folder is walked by `walk`, which never
leaves it and leaves out what git would, secrets and this tool's own results.
"""

from __future__ import annotations

import errno
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from meta_prompting.errors import UserError
from meta_prompting.evidence.walk import (
    SNIFF,
    Walk,
    escaped_name,
    is_utf8,
    relative_name,
    walk_folder,
)
from meta_prompting.store.files import file_kind, read_regular
from meta_prompting.toolkit.prompt import Document, Filling

# 1 MiB of text is about 250,000 tokens: a quarter of the context window of the Gemini
# Flash models, leaving the rest for the instructions and a long answer, and a request
# a person would not send by accident. Larger evidence is better cut down by hand.
MAX_EVIDENCE_BYTES = 1024 * 1024
MAX_TASK_BYTES = 64 * 1024


class Evidence(NamedTuple):
    filling: Filling
    notes: tuple[str, ...] = ()  # e.g. "skipped binary file logs/core.dump"
    size: int = 0  # bytes of evidence text


def read_task(text: str | None, file: str | None,
              read_stdin: Callable[[], bytes] | None = None) -> str | None:
    """The task from --task or --task-file (`-`: standard input); None when neither."""
    if text is not None and file is not None:
        raise UserError("--task and --task-file: give one of them")
    if file is not None:
        data = _stdin(read_stdin, "--task-file") if file == "-" else _read_named(
            file, "--task-file", MAX_TASK_BYTES)
        where = "--task-file -" if file == "-" else f"--task-file {file}"
        text = _decode(data, where)
        if len(data) > MAX_TASK_BYTES:
            raise UserError(f"{where}: the task is over {MAX_TASK_BYTES // 1024} KiB; put "
                            "long material in --evidence instead")
    if text is None:
        return None
    if not is_utf8(text):  # a byte the shell passed that is not UTF-8 (`$'\xff'`)
        raise UserError(f"--task {escaped_name(text)!r}: not UTF-8 text; give the task in "
                        "UTF-8")
    if not text.strip():
        raise UserError("--task: the task is empty; say what you want done")
    return text.strip("\n") + "\n"


def collect(paths: list[str], task: str, base: Path | None = None,
            read_stdin: Callable[[], bytes] | None = None, *, everything: bool = False,
            skip: tuple[Path, ...] = ()) -> Evidence:
    """The documents --evidence names, each named by its path relative to `base`.

    `everything` is --evidence-all (what .gitignore leaves out is sent too); `skip` are
    this tool's output folders, never walked into.
    """
    base = base or Path.cwd()
    walk = Walk(MAX_EVIDENCE_BYTES, everything, skip)
    documents: list[Document] = []
    notes: list[str] = []
    seen: set[str] = set()
    size = 0
    for given in paths:
        if given == "-":
            data = _stdin(read_stdin, "--evidence")
            if b"\0" in data[:SNIFF]:  # as a named binary file is refused
                raise UserError("--evidence -: standard input is binary, not text")
            found = [Document("stdin", _decode(data, "--evidence -"))]
        else:
            found = _documents(Path(given), given, base, notes, walk)
        for doc in found:
            if doc.name in seen:
                continue  # named twice (a file and its folder): once is enough
            seen.add(doc.name)
            size += len(doc.text.encode("utf-8"))
            if size > MAX_EVIDENCE_BYTES:
                raise UserError(f"--evidence: over {MAX_EVIDENCE_BYTES // 1024} KiB of text "
                                f"(at {doc.name}); give fewer or smaller files")
            documents.append(doc)
    return Evidence(Filling(task, tuple(documents)), tuple(notes), size)


def _documents(path: Path, given: str, base: Path, notes: list[str], walk: Walk
               ) -> list[Document]:
    if not is_utf8(given):
        raise UserError(f"--evidence {escaped_name(given)}: the name is not UTF-8 text; "
                        "rename it")
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UserError(f"--evidence {given}: no such file or folder") from None
    except OSError as e:
        raise UserError(f"--evidence {given}: cannot read: {_reason(e)}") from e
    if stat.S_ISREG(info.st_mode):
        # Named on purpose: read even if hidden, ignored by git or holding secrets.
        data = _read_named(given, "--evidence", MAX_EVIDENCE_BYTES)
        if b"\0" in data[:SNIFF]:
            raise UserError(f"--evidence {given}: a binary file, not text")
        return [Document(relative_name(path, base), _decode(data, f"--evidence {given}"))]
    if not stat.S_ISDIR(info.st_mode):
        raise UserError(f"--evidence {given}: is {file_kind(info.st_mode)}, not a regular "
                        "file or folder")
    return walk_folder(path, given, base, notes, walk)


def read_text(given: str, flag: str, limit: int = MAX_EVIDENCE_BYTES) -> str:
    """A named UTF-8 text file, or one line saying why not (--answer, a chain's files)."""
    data = _read_named(given, flag, limit)
    if b"\0" in data[:SNIFF]:
        raise UserError(f"{flag} {given}: a binary file, not text")
    return _decode(data, f"{flag} {given}")


def _read_named(given: str, flag: str, limit: int) -> bytes:
    try:
        return read_regular(given, limit)
    except FileNotFoundError:
        raise UserError(f"{flag} {given}: no such file") from None
    except OSError as e:
        if e.errno == errno.EFBIG:
            raise UserError(f"{flag} {given}: over {limit // 1024} KiB of text") from None
        raise UserError(f"{flag} {given}: {_reason(e)}") from e


def _stdin(read_stdin: Callable[[], bytes] | None, flag: str) -> bytes:
    if read_stdin is not None:
        return read_stdin()
    if sys.stdin is None or sys.stdin.closed:
        raise UserError(f"{flag} -: standard input is closed")
    return sys.stdin.buffer.read(MAX_EVIDENCE_BYTES + 1)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{where}: not UTF-8 text (byte {e.start})") from None


def _reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower()
