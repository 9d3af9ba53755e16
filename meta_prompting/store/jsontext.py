"""JSON text read for people: bounded depth, and every problem as file:line:col.

The json module keeps no positions and gives up at its own depth, which differs by
Python; a map, a chain file and a price table are each read here, so that a fault
names the same place the same way everywhere.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left, bisect_right
from typing import Any

# A lone surrogate (\ud800) is valid JSON but not Unicode text: it cannot be printed
# or written as UTF-8, so it is refused where it is read, not where it would crash.
_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE = "holds a lone surrogate code point (like \\ud800), which is not Unicode text"
TOO_DEEP = "nested too deeply to read"
# Far deeper than any map or chain needs, and shallower than where any supported
# Python's json gives up: 3.10-3.12 overflow near 1000 levels, 3.13 reads far more.
MAX_DEPTH = 500
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')  # a string, or a bracket


def _parse_json(text: str, filename: str, **kwargs: Any) -> tuple[Any, str | None]:
    """The JSON value in `text`, or None and a one-line problem naming the file."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if (at := _too_deep(text)) is not None:
        line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
        return None, f"{filename}:{line}:{column}: {TOO_DEEP}"
    try:
        return json.loads(text, **kwargs), None
    except json.JSONDecodeError as e:
        return None, f"{filename}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}"
    except RecursionError:  # a deep stack already, or a lowered recursion limit
        return None, f"{filename}:1:1: {TOO_DEEP}"


def _too_deep(text: str) -> int | None:
    """The offset of the first bracket nested deeper than MAX_DEPTH, if any.

    Our own limit, so that the same file is refused the same way on every Python."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None  # every real map: no need to look closer
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        kind = token.group()
        if kind in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return token.start()
        elif kind in ("]", "}"):
            depth -= 1
    return None


def escape_surrogates(text: str) -> str:
    """`text` with any lone surrogate written as \\udxxx, so that it can be printed."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def holds_surrogate(value: Any) -> bool:
    """Whether a JSON value holds a lone surrogate anywhere: not text, so neither a path
    nor something that can be sent."""
    if isinstance(value, str):
        return bool(_SURROGATE.search(value))
    if isinstance(value, list):
        return any(holds_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(holds_surrogate(k) or holds_surrogate(v) for k, v in value.items())
    return False


def unknown_field(key: str, known: tuple[str, ...]) -> str:
    """`"key" is not a known field (did you mean "x"?)`: for the files a person writes."""
    import difflib  # only when a file is wrong

    close = difflib.get_close_matches(key, known, n=1)
    return f'"{key}" is not a known field' + (f' (did you mean "{close[0]}"?)' if close else "")


class _Locator:
    """Finds where a key sits in the map's text, so errors can say file:line:col.

    The json module keeps no positions; the first `"key":` (after the goal's own key,
    for a field) is right for any map a person would write. The text is scanned once,
    on the first problem, into an index: 20,000 bad goals report in one pass, where a
    search from the top for each took 33 s.
    """

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self._keys: dict[str, list[int]] | None = None
        self._lines: list[int] = []
        self.scans = 0  # how many times the text was scanned (a test holds it to one)

    def key(self, key: str, after: str | None = None) -> str:
        start = 0
        if after is not None:
            found = self._find(after, 0)
            start = found if found >= 0 else 0
        pos = self._find(key, start)
        return self.at(pos if pos >= 0 else start)

    def find(self, key: str, start: int = 0) -> int:
        """Where the first `"key":` at or after `start` is, or -1."""
        return self._find(key, start)

    def at(self, pos: int) -> str:
        """file:line:col of a position in the text."""
        if self._keys is None:
            self._scan()
        line = bisect_right(self._lines, pos - 1)  # newlines before pos
        col = pos - (self._lines[line - 1] + 1 if line else 0) + 1
        return f"{self.filename}:{line + 1}:{col}"

    def _find(self, key: str, start: int) -> int:
        if self._keys is None:
            self._scan()
        assert self._keys is not None
        spots = self._keys.get(json.dumps(key)[1:-1], [])
        i = bisect_left(spots, start)
        return spots[i] if i < len(spots) else -1

    def _scan(self) -> None:
        self.scans += 1
        keys: dict[str, list[int]] = {}
        # Strings in order, so a quote inside one is never taken for the start of another.
        for match in _STRING.finditer(self.text):
            if match.group(2) is not None:  # followed by a colon: a key
                keys.setdefault(match.group(1), []).append(match.start())
        self._keys = keys
        self._lines = [m.start() for m in re.finditer("\n", self.text)]


_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"(\s*:)?')
