"""Asking a person at a terminal: questions that Ctrl+C or Ctrl+D stop, and an editor.

Only the wizard imports this module, so questionary's import cost (~0.2 s) stays off
every plain build. Each question is asked with unsafe_ask(): ask() swallows Ctrl+C
and returns None, which would let a stopped run carry on with no answer.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import questionary
from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

FINISH_HINT = "press Esc then Enter to finish"


def select(message: str, choices: list[Any], **kwargs: Any) -> Any:
    # Typing filters the list and arrows move in it (j/k would be eaten by the filter).
    return _ask(questionary.select(message, choices=choices, use_search_filter=True,
                                   use_jk_keys=False, **kwargs))


def confirm(message: str) -> bool:
    return bool(_ask(questionary.confirm(message, default=True)))


def text(message: str, **kwargs: Any) -> str:
    return str(_ask(questionary.text(message, **kwargs)))


def edit(draft: str, name: str, say: Callable[[str], None]) -> str:
    """`draft` after the person edits it: in $VISUAL or $EDITOR when set, else inline."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        say(f"Edit the text; {FINISH_HINT}.")
        return text(f"{name}:", default=draft, multiline=True, instruction="\n")
    # In the temporary folder, not the parts bin: nothing there may look like a part.
    fd, path = tempfile.mkstemp(prefix=f"{Path(name).stem}-", suffix=Path(name).suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(draft)
        try:
            code = subprocess.call([*shlex.split(editor), path])
        except OSError as e:
            code, why = -1, f"cannot run {editor!r}: {e.strerror or e}"
        else:
            why = f"{editor!r} exited with {code}"
        if code == 0:
            return Path(path).read_text(encoding="utf-8")
        say(f"{why}; the text is unchanged.")
        return draft
    finally:
        os.unlink(path)


@contextmanager
def keys_ignored() -> Iterator[None]:
    """Keys typed meanwhile are neither echoed nor kept for the next question: an
    impatient Enter during a generation must not accept a text nobody has read."""
    try:
        import termios
    except ImportError:  # not POSIX: nothing to do
        yield
        return
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):  # not a terminal
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO  # Ctrl+C still interrupts: ISIG stays on
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)  # TCSAFLUSH drops what was typed


def _ask(question: questionary.Question) -> Any:
    """The answer; Ctrl+C or Ctrl+D raises KeyboardInterrupt ("Stopped by user", 130).

    A text prompt turns Ctrl+D on an empty line into EOFError itself; a list ignores
    it, so it is bound here for every prompt (keeping "delete" in a typed text).
    """
    extra = KeyBindings()

    @extra.add("c-d", eager=True)
    def _eof(event: Any) -> None:
        buffer = event.app.current_buffer
        if buffer.text:
            buffer.delete()
        else:
            event.app.exit(exception=EOFError, style="class:aborting")

    app = question.application
    app.key_bindings = merge_key_bindings([b for b in (app.key_bindings, extra) if b])
    try:
        return question.unsafe_ask()
    except EOFError:
        raise KeyboardInterrupt from None
