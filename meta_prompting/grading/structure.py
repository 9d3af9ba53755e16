"""Pure: the headings an answer was asked for, and those it lacks, checked before a judge.

A protocol's output format lists the headings its answer must use, and the request
carries it in its `<output_format>` block. Which of them an answer lacks is a fact the
tool can check itself, the way a chain finds a section (numbering, emphasis, a
trailing colon and case aside; a bold line counts): it is named before the judge is
asked, shown beside the scorecard, and given to the judge as evidence for its
structure criterion. The judge still decides.
"""

from __future__ import annotations

import re

from meta_prompting.toolkit.prompt import Document
from meta_prompting.toolkit.sections import normal_title, outline

# The output format is the block just before the task: both tags are ours, chosen so
# that no text a person supplied holds them (an evidence line "<output_format>" is not).
_CLOSED = re.compile(r"\n</(output_format(?:-\d+)?)>\n\n<task(?:-\d+)?>\n$")
CHECK_DOCUMENT = "structure check"


def required_headings(prompt: str) -> list[str]:
    """The top-level headings the request's output format asks for, in order."""
    from meta_prompting.toolkit.prompt import task_opening

    opened = task_opening(prompt)
    if opened is None:
        return []
    head = max(0, opened - 80)  # the closing tag and the task's opening: a short tail
    closed = _CLOSED.search(prompt, head, opened)
    if closed is None:
        return []
    start = prompt.rfind(f"<{closed.group(1)}>\n", 0, closed.start())
    if start < 0:
        return []
    block = prompt[start:closed.start()]
    marks = [h for h in outline(block) if not h.bold_line and h.title]
    if not marks:
        return []
    top = min(h.level for h in marks)
    return list(dict.fromkeys(h.title for h in marks if h.level == top))


def missing_headings(prompt: str, answer: str) -> tuple[str, ...]:
    """The headings of the request's output format that the answer does not have: found
    as extract_section finds a section (any level, or a bold line), in one pass."""
    wanted = required_headings(prompt)
    if not wanted:
        return ()
    has = {normal_title(h.title) for h in outline(answer)}
    return tuple(t for t in wanted if normal_title(t) not in has)


def check_document(prompt: str, missing: tuple[str, ...]) -> Document:
    """What the judge is told of the check, as one more document of its evidence."""
    asked = ", ".join(f'"{t}"' for t in required_headings(prompt))
    lacks = ", ".join(f'"{t}"' for t in missing)
    return Document(CHECK_DOCUMENT, (
        "Not part of the answer: a check the grading tool made of the answer's Markdown "
        f"before the judge was asked. The request's output format asks for the headings "
        f"{asked}. The answer has no heading, nor a bold line standing for one, titled "
        f"{lacks} (titles compared with numbering, emphasis, a trailing colon and case "
        "set aside). Evidence for the criterion on the requested structure, to be weighed "
        "with the answer itself.\n"))


def lacks_line(missing: tuple[str, ...]) -> str:
    """One line for people: "lacks the headings "A", "B" of its output format"."""
    names = ", ".join(f'"{t}"' for t in missing)
    return f"lacks the heading{'s' if len(missing) > 1 else ''} {names} of its output format"
