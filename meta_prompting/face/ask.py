"""Asking a person at a terminal: questions that Ctrl+C or Ctrl+D stop, and an editor.

Only the wizard imports this module, so questionary's import cost (~0.2 s) stays off
every plain build. Each question is asked with unsafe_ask(): ask() swallows Ctrl+C
and returns None, which would let a stopped run carry on with no answer.
"""

from __future__ import annotations

import os
import shlex
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import questionary
from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings
from questionary import Choice, Separator
from questionary.constants import DEFAULT_SELECTED_POINTER
from questionary.prompts.common import InquirerControl

FINISH_HINT = "press Esc then Enter to finish"


def select(message: str, choices: list[Any], default: Any = None,
           nothing: str = "nothing matches") -> Any:
    """One of `choices`: arrows move, typing filters; the answer stays on screen, short.

    Not questionary.select: its filter keeps list order (typing "test" lit DEBUG, whose
    description mentions a test, above TEST) and, when nothing matches, shows the whole
    list, where Enter took the first. Here a match on a choice's name ranks first, and
    Enter takes only the line that is highlighted.
    """
    from prompt_toolkit import Application
    from prompt_toolkit.keys import Keys
    from questionary.prompts.common import create_inquirer_layout
    from questionary.styles import merge_styles_default

    control = _Ranked(choices, default, nothing)

    def prompt() -> list[tuple[str, str]]:
        tokens = [("class:qmark", "?"), ("class:question", f" {message} ")]
        if control.is_answered:
            return [*tokens, ("class:answer", _name(control.get_pointed_at()))]
        return [*tokens, ("class:instruction", "(Use arrow keys, type to filter)")]

    keys = KeyBindings()

    @keys.add(Keys.ControlC, eager=True)
    def _stop(event: Any) -> None:
        event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

    @keys.add(Keys.Down, eager=True)
    def _down(event: Any) -> None:
        control.move(1)

    @keys.add(Keys.Up, eager=True)
    def _up(event: Any) -> None:
        control.move(-1)

    def _type(event: Any) -> None:
        control.add_search_character(event.key_sequence[0].key)

    for key in string.printable.strip() + " ":  # no j/k moving: they are letters to type
        keys.add(key, eager=True)(_type)
    keys.add(Keys.Backspace, eager=True)(_type)

    @keys.add(Keys.ControlM, eager=True)
    def _enter(event: Any) -> None:
        if control.is_selection_valid():  # nothing shown, nothing taken
            control.is_answered = True
            event.app.exit(result=control.get_pointed_at().value)

    @keys.add(Keys.Any)
    def _other(event: Any) -> None:
        """Nothing else is typed into a list."""

    return _ask(questionary.Question(Application(
        layout=create_inquirer_layout(control, prompt), key_bindings=keys,
        style=merge_styles_default([None]))))


def rank(choices: list[Choice], typed: str) -> list[Choice]:
    """The choices `typed` matches, best first: the start of a name, then anywhere in a
    name, then anywhere in the rest of the line; in list order within each."""
    typed = typed.lower()
    ranked: list[tuple[int, int, Choice]] = []
    for i, choice in enumerate(choices):
        name = _name(choice).lower()
        names = (name, name.replace("_", " "))
        if any(n.startswith(typed) for n in names):
            ranked.append((0, i, choice))
        elif any(typed in n for n in names):
            ranked.append((1, i, choice))
        elif typed in _title(choice).lower():
            ranked.append((2, i, choice))
    return [choice for _, _, choice in sorted(ranked, key=lambda r: r[:2])]


class _Ranked(InquirerControl):
    """questionary's list, filtered by `rank`, that says when nothing matches."""

    def __init__(self, choices: list[Any], default: Any, nothing: str) -> None:
        super().__init__(choices, pointer=DEFAULT_SELECTED_POINTER, use_indicator=False,
                         initial_choice=default)
        self.nothing = nothing

    @property
    def filtered_choices(self) -> list[Choice]:
        if not self.search_filter:
            return list(self.choices)
        found = rank(list(self.choices), self.search_filter)
        self.found_in_search = bool(found)
        return found

    def _get_choice_tokens(self) -> list[tuple[str, str]]:
        if self.filtered_choices:
            tokens: list[tuple[str, str]] = super()._get_choice_tokens()  # type: ignore[no-untyped-call]
            return tokens
        return [("class:text", "   "), ("class:search_none", self.nothing)]

    def add_search_character(self, char: Any) -> None:
        super().add_search_character(char)
        self.pointed_at = 0
        if not self.is_selection_valid():
            self.move(1)  # past a disabled line

    def move(self, step: int) -> None:
        shown = self.filtered_choices
        for _ in shown:  # at most once round, even when every line is disabled
            self.pointed_at = (self.pointed_at + step) % len(shown)
            if self.is_selection_valid():
                return

    def is_selection_disabled(self) -> Any:
        # questionary looks this up in the unfiltered list: the wrong line once filtered.
        shown = self.filtered_choices
        return shown[self.pointed_at].disabled if self.pointed_at < len(shown) else True

    def is_selection_valid(self) -> bool:
        shown = self.filtered_choices
        return (self.pointed_at < len(shown) and not shown[self.pointed_at].disabled
                and not isinstance(shown[self.pointed_at], Separator))


def _name(choice: Choice) -> str:
    """What a choice is called: its value when that is text (a goal's name), else its title."""
    return choice.value if isinstance(choice.value, str) else _title(choice)


def _title(choice: Choice) -> str:
    title = choice.title
    return title if isinstance(title, str) else "".join(t[1] for t in title or [])


def confirm(message: str, default: bool = True) -> bool:
    return bool(_ask(questionary.confirm(message, default=default)))


def text(message: str, **kwargs: Any) -> str:
    return str(_ask(questionary.text(message, **kwargs)))


def path(message: str, default: str = "") -> str:
    """A file or folder's path; Tab completes it, as in a shell.

    Only Tab: questionary also opens its list as one types and at each "/", and then
    Enter closes the list instead of answering, depending on how fast one typed.
    """
    question = questionary.path(message, default=default, complete_while_typing=False)
    plain = KeyBindings()

    @plain.add(os.path.sep, eager=True)
    def _separator(event: Any) -> None:
        event.app.current_buffer.insert_text(os.path.sep)

    app = question.application
    app.key_bindings = merge_key_bindings([b for b in (app.key_bindings, plain) if b])
    return str(_ask(question))


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
