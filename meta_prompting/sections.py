"""Pure: the Markdown sections of an answer, so a chain can hand on just one of them."""

from __future__ import annotations

import re

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def headings(text: str) -> list[tuple[int, str, int]]:
    """(level, title, line index) of every heading outside code fences, in order."""
    found: list[tuple[int, str, int]] = []
    fence: str | None = None
    for i, line in enumerate(text.splitlines()):
        opened = _FENCE.match(line)
        if opened:
            mark = opened.group(1)[0]
            fence = None if fence == mark else (fence or mark)
            continue
        if fence is None and (m := _HEADING.match(line)):
            found.append((len(m.group(1)), m.group(2).strip(), i))
    return found


def extract_section(text: str, title: str) -> str | None:
    """The section headed `title` (any case), with its heading, up to the next heading
    of the same or a higher level; None when the answer has no such heading."""
    wanted = _normal(title)
    lines = text.splitlines()
    marks = headings(text)
    for n, (level, found, start) in enumerate(marks):
        if _normal(found) != wanted:
            continue
        end = next((line for lv, _, line in marks[n + 1:] if lv <= level), len(lines))
        return "\n".join(lines[start:end]).strip("\n") + "\n"
    return None


def _normal(title: str) -> str:
    return " ".join(title.strip().strip("*_:").split()).casefold()
