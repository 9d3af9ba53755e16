"""A chain's stages in a terminal: a line each at the bottom of stderr, redrawn in place.

Each stage that does something gets a line (a stage found kept never does), showing its
state as it changes: waiting, running, grading, done or failed. Whatever else is said
meanwhile (a retry, a warning) is printed above the board, which is drawn again below
it. Lines are cut to the terminal's width so that redrawing never meets a wrapped line;
a board taller than the terminal, or a terminal that cannot move the cursor, gets plain
lines instead, as a pipe does.
"""

from __future__ import annotations

import os
import sys

from meta_prompting.face import streams
from meta_prompting.face.show import printable


class Board(streams.Above):
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.states: dict[str, str] = {}
        self.drawn = 0  # lines of the board on screen now
        self.plain = False  # too many stages for the screen: plain lines from now on

    def set(self, name: str, state: str) -> None:
        """A stage's state changed: draw the board again (or say it, plainly)."""
        with streams._SAYING:
            if self.plain or len(self.states | {name: state}) > self.height - 2:
                self._clear()
                self.plain = True
                self._write(f"  {name}: {state}\n")
                return
            self.states[name] = state
            self._draw()

    def above(self, line: str) -> None:
        """A line said while the board is up: above it, then the board again."""
        self._clear()
        self._write(line + "\n")
        if not self.plain:
            self._draw()

    def _draw(self) -> None:
        self._clear()
        left = max(len(n) for n in self.states)
        for name, state in self.states.items():
            line = printable(f"  {name:<{left}}  {state}")
            if len(line) > self.width - 1:
                line = line[:self.width - 2] + "…"
            self._write(line + "\n")
        self.drawn = len(self.states)

    def _clear(self) -> None:
        if self.drawn:
            # To the start of the board's first line, then clear to the end of the screen.
            self._write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def _write(self, text: str) -> None:
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except OSError:
            pass


def open_board() -> Board | None:
    """A board on stderr when it is a terminal that moves its cursor; else None."""
    try:
        if sys.stderr is None or not sys.stderr.isatty():
            return None
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    if os.environ.get("TERM", "") in ("", "dumb") or size.columns < 20 or size.lines < 4:
        return None
    board = Board(size.columns, size.lines)
    streams.hold(board)
    return board


def close_board(board: Board | None) -> None:
    """Leave the board's last state on screen and give stderr back."""
    if board is not None:
        streams.hold(None)
