"""Pure: the Markdown sections of an answer, so a chain can hand on just one of them.

Real models number their headings (`### 3. Revised Algorithm`), set them in bold
(`## **Revised Algorithm**`), or write a bold line instead of a heading
(`**3. Revised Algorithm**`). A section is found by its title with the numbering, the
emphasis, a trailing colon and the case set aside; a bold line counts only when no
heading has the title. Code fences follow CommonMark, so a heading shown inside a code
block never passes for the answer's own.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
# CommonMark: a backtick fence's info string holds no backtick; a fence is closed only
# by the same character, at least as many times, and nothing after it but spaces.
_FENCE = re.compile(r"^ {0,3}(`{3,}(?=[^`]*$)|~{3,})")
_BOLD_LINE = re.compile(r"^ {0,3}(\*\*|__)(?=\S)((?:(?!\1).)+?)(?<=\S)\1[ \t]*:?[ \t]*$")
BOLD_LEVEL = 7  # a bold line with no heading above it: below every real heading

# "3.", "3)", "(3)", "3.1", "III.", "C)", "Step 3:", "Part C -", "Section 2 —": numbering
# a model put before the title. A bare number with no mark stays: "2024 Plan" is a title.
_NUMBER = r"(?:\d+(?:\.\d+)*|[ivxlcdm]+|[a-z])"
_NUMBERING = re.compile(
    rf"^(?:(?:step|part|section|phase|stage|chapter)[ \t]+{_NUMBER}\b[ \t]*[.):\-–—]?"
    rf"|\(?{_NUMBER}(?:[.):]|[ \t]+[-–—])(?=[ \t])|\d+(?:\.\d+)+(?=[ \t]))[ \t]*",
    re.IGNORECASE)


class Heading(NamedTuple):
    level: int  # 1-6 for "#" headings; a bold line's is one below the heading above it
    title: str  # as written, emphasis and all
    line: int  # index in the answer's lines
    bold_line: bool = False


def outline(text: str) -> list[Heading]:
    """Every heading and bold line outside code fences, in order."""
    found: list[Heading] = []
    fence: str | None = None  # the open fence's characters
    level = BOLD_LEVEL - 1
    for i, line in enumerate(text.splitlines()):
        mark = _FENCE.match(line)
        if fence is not None:
            if (mark and mark.group(1)[0] == fence[0] and len(mark.group(1)) >= len(fence)
                    and not line[mark.end():].strip()):
                fence = None
            continue
        if mark:
            fence = mark.group(1)
        elif m := _HEADING.match(line):
            level = len(m.group(1))
            found.append(Heading(level, (m.group(2) or "").strip(), i))
        elif b := _BOLD_LINE.match(line):
            found.append(Heading(min(level + 1, BOLD_LEVEL), b.group(2).strip(), i, True))
    return found


def headings(text: str) -> list[tuple[int, str, int]]:
    """(level, title, line index) of every "#" heading outside code fences, in order."""
    return [(h.level, h.title, h.line) for h in outline(text) if not h.bold_line]


def extract_section(text: str, title: str) -> str | None:
    """The section titled `title`, with its heading, up to the next heading of the same
    or a higher level; None when the answer has no such heading or bold line."""
    wanted = normal_title(title)
    lines = text.splitlines()
    marks = outline(text)
    for bold in (False, True):  # a real heading wins over a bold line of the same title
        # Bold lines end a section only when one of them is the section sought.
        candidates = marks if bold else [h for h in marks if not h.bold_line]
        for n, h in enumerate(candidates):
            if h.bold_line != bold or normal_title(h.title) != wanted:
                continue
            end = next((e.line for e in candidates[n + 1:] if e.level <= h.level), len(lines))
            return "\n".join(lines[h.line:end]).strip("\n") + "\n"
    return None


def normal_title(title: str) -> str:
    """A title as compared: numbering, emphasis, code marks, a trailing colon, spacing
    and case aside."""
    text = re.sub(r"(?<![^\W_])_+|_+(?![^\W_])", "", title.replace("*", "").replace("`", ""))
    text = " ".join(text.split())
    text = _NUMBERING.sub("", text, count=1)
    return " ".join(text.rstrip(" :.").split()).casefold()
