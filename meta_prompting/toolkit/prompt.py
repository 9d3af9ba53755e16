"""Pure: the text a model reads — the template, and the prompt with its blocks filled.

Shaped the way both vendors' prompting guides ask for long inputs: the evidence first,
then the protocol, the rules and the output format, and the task last, worded to
refer to the material above. Every block has its own tag, and no tag can be closed
early by the text inside it: when a document (or the task) contains a block's closing
tag, that block gets a numbered tag the text does not contain.
"""

from __future__ import annotations

import re
from typing import NamedTuple

TASK_PLACEHOLDER = "REPLACE THIS LINE with what you want done, and what a good answer looks like."
EVIDENCE_PLACEHOLDER = ("REPLACE THIS LINE with the code, logs, documents or data the task "
                        "is about.")
CLOSING = ("Carry out the task above on the evidence at the top, following the protocol and "
           "every rule, and answer in the output format.")
# The library's rules are "rules": "constraints" are the user's own, stated in the task
# or the evidence, and one word must not mean both in what the model reads.
RULES_INTRO = ("Each rule below is non-negotiable. These are the library's rules; the user's "
               "own constraints, if any, are stated in the task or the evidence.")
NO_EVIDENCE = "(No evidence was given: work from the task alone, and say what you would need.)"

_OUTPUT_FORMAT = re.compile(r"^[ \t]*(?:#{1,6}[ \t]*)?output format:?[ \t]*$",
                            re.IGNORECASE | re.MULTILINE)


class Document(NamedTuple):
    """One piece of evidence: its name (a path relative to where the command ran) and text."""

    name: str
    text: str


class Filling(NamedTuple):
    """What fills the template's blocks: the task and the evidence documents."""

    task: str
    documents: tuple[Document, ...] = ()


class Frame(NamedTuple):
    """The tags of the prompt's own blocks and its closing line.

    A toolkit's prompt uses the plain names; a judge's prompt names its blocks apart
    (`grading_protocol`, ...) because the request it grades sits in its evidence with
    the plain ones, and has no output format when the answer is JSON under a schema.
    """

    protocol: str = "protocol"
    rules: str = "rules"
    task: str = "task"
    output_format: bool = True
    closing: str = CLOSING


TOOLKIT = Frame()


class Sections(NamedTuple):
    """The rendered text of each block's contents (a missing part is a placeholder note)."""

    protocol: str
    constraints: tuple[str, ...]


def split_title(text: str) -> tuple[str | None, str]:
    """A part's first line is its title when a blank line follows it: (title, body)."""
    first, sep, rest = text.strip("\n").partition("\n")
    if sep and rest.startswith("\n") and 0 < len(first.strip()) <= 80:
        title = first.strip().lstrip("#").strip().rstrip(".:").strip()
        if title:
            return title, rest.strip("\n")
    return None, text.strip("\n")


def as_section(text: str) -> str:
    """A part's text with its title as a "##" heading (a model reads structure, not prose)."""
    title, body = split_title(text)
    return f"## {title}\n\n{body}" if title else body


def split_output_format(protocol: str) -> tuple[str, str | None]:
    """(the protocol's steps, its output format section), split at an "Output format" line."""
    # The last such line: a protocol may mention the words earlier.
    found = max(_OUTPUT_FORMAT.finditer(protocol), key=lambda m: m.start(), default=None)
    if found is None:
        return protocol, None
    tail = protocol[found.end():].strip("\n")
    return protocol[:found.start()].rstrip("\n"), tail or None


def render_prompt(sections: Sections, filling: Filling | None, frame: Frame = TOOLKIT) -> str:
    """The user turn: the template (no filling) or the prompt ready to send."""
    steps, output_format = split_output_format(sections.protocol)
    task = filling.task.strip("\n") if filling else TASK_PLACEHOLDER
    evidence, inner = _evidence(filling)
    blocks = [("evidence", evidence, inner), (frame.protocol, as_section(steps), [steps])]
    if sections.constraints:
        rules = [RULES_INTRO, *(as_section(c) for c in sections.constraints)]
        blocks.append((frame.rules, "\n\n".join(rules), list(sections.constraints)))
    if output_format and frame.output_format:
        blocks.append(("output_format", output_format, [output_format]))
    blocks.append((frame.task, task, [task]))
    # Every tag avoids everything a person supplied: a document holding "<task>" must
    # not be able to pass for the real task, even inside its own block.
    supplied = [task, *(d.text for d in filling.documents)] if filling else []
    out: list[str] = []
    for name, body, texts in blocks:
        tag = pick_tag(name, texts + supplied)
        out += [f"<{tag}>", body, f"</{tag}>", ""]
    out.append(frame.closing)
    return "\n".join(out) + "\n"


def _evidence(filling: Filling | None) -> tuple[str, list[str]]:
    """The evidence block's text, and the texts its tag must avoid."""
    if filling is None:
        return EVIDENCE_PLACEHOLDER, [EVIDENCE_PLACEHOLDER]
    if not filling.documents:
        return NO_EVIDENCE, [NO_EVIDENCE]
    inner = [filling.task, *(d.text for d in filling.documents)]
    doc_tag = pick_tag("document", inner)
    return "\n\n".join(
        f'<{doc_tag} name="{_attribute(d.name)}">\n{d.text.rstrip(chr(10))}\n</{doc_tag}>'
        for d in filling.documents), inner


def read_filling(prompt: str) -> Filling | None:
    """The task and evidence documents a filled prompt was made from, or None when they
    cannot be read back exactly (a prompt edited by hand past recognition).

    Every tag avoids every text a person supplied, so the outermost tags are ours, and
    what is read is checked by rendering it again: the same evidence block and task.
    """
    task = person_blocks(prompt).get("task")
    opening = re.search(r"^<(evidence(?:-\d+)?)>\n", prompt, re.MULTILINE)
    if task is None or opening is None:
        return None
    end = prompt.find(f"\n</{opening.group(1)}>\n", opening.end() - 1)
    if end < 0:
        return None
    block = prompt[opening.end():end]
    documents: list[Document] = []
    if block != NO_EVIDENCE:
        tag = re.match(r'<(document(?:-\d+)?) name="', block)
        if tag is None:
            return None
        found = re.finditer(rf'<{tag.group(1)} name="([^"\n]*)">\n(.*?)\n</{tag.group(1)}>'
                            r"(?:\n\n|$)", block, re.DOTALL)
        documents = [Document(_unattribute(m.group(1)), m.group(2) + "\n") for m in found]
    filling = Filling(task, tuple(documents))
    if _evidence(filling)[0] != block:
        return None
    return filling


def _unattribute(value: str) -> str:
    return value.replace("&lt;", "<").replace("&quot;", '"').replace("&amp;", "&")


def pick_tag(base: str, texts: list[str]) -> str:
    """`base`, or `base-N` with the smallest N that no text mentions, as a tag of its own.

    Deterministic, so the same inputs give the same prompt (and the same run).
    """
    def clashes(tag: str) -> bool:
        pattern = re.compile(rf"</?\s*{re.escape(tag)}(?![\w-])", re.IGNORECASE)
        return any(pattern.search(t) for t in texts)

    if not clashes(base):
        return base
    n = 1
    while clashes(f"{base}-{n}"):
        n += 1
    return f"{base}-{n}"


def _attribute(value: str) -> str:
    return (value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace("\n", " "))


def person_blocks(template: str) -> dict[str, str]:
    """What a person wrote into a template's <task> and <evidence> blocks (filled only).

    The evidence block is the first and the task the last, so the outermost tags are
    ours; a wrong guess (a person's text holding our own markers) is caught by the
    caller, which checks that taking the blocks out gives back the file we wrote.
    """
    found: dict[str, str] = {}
    opening = re.search(r"^<evidence(?:-\d+)?>\n", template, re.MULTILINE)
    closings = list(re.finditer(r"\n</evidence(?:-\d+)?>\n", template))
    if opening and closings and closings[-1].start() >= opening.end() - 1:
        found["evidence"] = template[opening.end():closings[-1].start()]
    opened = task_opening(template)
    close = template.rfind("\n</task")
    if opened is not None and close >= opened - 1:
        found["task"] = template[opened:close]
    return {k: v for k, v in found.items()
            if v.strip() and v.strip() not in (TASK_PLACEHOLDER, EVIDENCE_PLACEHOLDER)}


def task_opening(prompt: str) -> int | None:
    """Where the task block's text starts: after the opening of the tag the last block
    closes with. A task may hold a line "<task>" itself; the tag it got then is one no
    text holds, so its first opening is the real one."""
    close = prompt.rfind("\n</task")  # str methods: a prompt may be megabytes long
    tag = prompt[close + 3:prompt.find(">", close)] if close >= 0 else "task"
    if not re.fullmatch(r"task(?:-\d+)?", tag):
        tag = "task"
    if prompt.startswith(f"<{tag}>\n"):
        return len(tag) + 3
    found = prompt.find(f"\n<{tag}>\n")
    return found + len(tag) + 4 if found >= 0 else None


def refill(template: str, blocks: dict[str, str]) -> str:
    """`template` (ours, with placeholders) with a person's block texts put back."""
    for name, placeholder in (("evidence", EVIDENCE_PLACEHOLDER), ("task", TASK_PLACEHOLDER)):
        if name in blocks:
            template = template.replace(f"\n{placeholder}\n", f"\n{blocks[name]}\n", 1)
    return template


def unfill(template: str, blocks: dict[str, str]) -> str:
    """The template as this tool wrote it, before a person filled `blocks` in."""
    for name, placeholder in (("evidence", EVIDENCE_PLACEHOLDER), ("task", TASK_PLACEHOLDER)):
        text = blocks.get(name)
        if text is None:
            continue
        if name == "evidence":
            template = template.replace(f"\n{text}\n", f"\n{placeholder}\n", 1)
        else:
            head, sep, tail = template.rpartition(f"\n{text}\n")
            template = f"{head}\n{placeholder}\n{tail}" if sep else template
    return template
