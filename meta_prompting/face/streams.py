"""The standard streams, made safe to use: closed, gone, full or of any encoding.

cli.main sets them up first and, when stdout fails, decides the exit here: a reader
that went away is a quiet exit like any CLI killed by SIGPIPE, a full disk one line.
"""

from __future__ import annotations

import _thread
import errno
import os
import sys

from meta_prompting.errors import EXIT_USER_ERROR

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell shows when any CLI's reader left


# threading's own re-entrant lock, without threading's import (a build that says
# nothing is meant to cost about three bare Python start-ups, and threading is a tenth
# of one); re-entered by a status board drawing what is said above it.
_SAYING = _thread.RLock()


class Above:
    """What takes over stderr's last lines (face.board): said lines go above it."""

    def above(self, line: str) -> None: ...


def say(line: str) -> None:
    """A line on stderr, if there is one to write to: never on stdout instead.

    Parts and samples are made on several threads: one whole write per line, one at
    a time, or two lines land on one (print() writes the text and its newline apart).
    """
    if sys.stderr is None:
        return
    with _SAYING:
        if _Stream.board is not None:
            _Stream.board.above(line)
            return
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except OSError:
            pass  # stderr is gone or full: nobody is there to read the line


class _Stream:
    """An answer streaming to stdout: whether its last line is open, and whether the
    command was stopped (a model thread's late pieces then show nothing more)."""

    open_line = False
    stopped = False
    board: Above | None = None  # a live status board on stderr, while a chain runs


def stream(text: str) -> None:
    """A piece of a streamed answer on stdout, as it comes."""
    with _SAYING:
        if _Stream.stopped or not text:
            return
        sys.stdout.write(text)
        sys.stdout.flush()
        _Stream.open_line = not text.endswith("\n")


def hold(board: Above | None) -> None:
    """Hand stderr's last lines to `board` (None: give them back)."""
    with _SAYING:
        _Stream.board = board


def end_stream() -> None:
    """Stop showing a streamed answer; end its line, so what is said next starts on
    one of its own (never "...6c9Stopped by user")."""
    with _SAYING:
        _Stream.stopped = True
        if _Stream.open_line:
            _Stream.open_line = False
            try:
                sys.stdout.write("\n")
                sys.stdout.flush()
            except OSError:
                pass


def set_up() -> None:
    """Never die on a stream: a closed one becomes /dev/null, any encoding can print.

    Python leaves sys.stdout None when descriptor 1 is closed (`>&-`); print() would
    then write errors to stdout, and the next file opened would take descriptor 1.
    """
    with _SAYING:  # a command starts with no answer streaming (tests run many in-process)
        _Stream.open_line = _Stream.stopped = False
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        stream = getattr(sys, name)
        if stream is None:
            try:
                os.fstat(fd)
            except OSError:
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
            setattr(sys, name, open(fd, "w" if fd else "r", encoding="utf-8",  # noqa: SIM115
                                    errors="backslashreplace", closefd=False))
        elif fd and hasattr(stream, "reconfigure") and getattr(stream, "errors", "") in (
                "strict", "surrogateescape"):  # PYTHONIOENCODING=ascii, LANG=C: é would fail
            stream.reconfigure(errors="backslashreplace")


def stdout_failed(e: OSError) -> bool:
    """Was `e` stdout failing (a gone reader, a full disk), rather than a bug?

    Such an error names no file, and stdout fails again when tried: what it failed to
    write may be gone from its buffer, so a newline is tried too. Were stdout fine, that
    newline goes out just before the traceback of a real bug.
    """
    if e.filename is not None:
        return False
    try:
        sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()
    except OSError:
        return True
    return False


def lost_stdout(e: OSError) -> int:
    from meta_prompting.store.files import os_reason

    try:  # the interpreter's last flush must not fail again, with a traceback
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass
    if e.errno == errno.EPIPE:
        return EXIT_BROKEN_PIPE  # the reader went away (`| head`): nothing to say
    say(f"error: cannot print the result: stdout: {os_reason(e)} (what the command "
         "wrote to disk is kept)")
    return EXIT_USER_ERROR
