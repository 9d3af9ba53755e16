"""What we ask a model for a part, and what we accept back: all pure but `generate_part`.

The prompts live here, with the library's words (goal, part, rubric); the model seam
(`meta_prompting.models`) knows none of them. Making a part is: build a ModelRequest,
call `Model.complete`, clean the text and check that it says something.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from meta_prompting.errors import GenerationError
from meta_prompting.library.goals import Goal, Part
from meta_prompting.models.base import Model, ModelRequest, Notice

MIN_WORDS = 5  # fewer, once the preamble, titles and fences are gone, is no part

# What the parser and the renderer rely on is spelled out, not left to the examples: the
# title line (the renderer makes it a heading), "Output format" and its "## " headings
# (a grader and a chain find sections by them), and a rubric's "Criterion N:" and
# "Final question:" lines (--grade reads them). No word caps: the house parts exceed any.
KIND_INSTRUCTIONS = {
    "persona": (
        "A persona defines a role and a voice: who the model is, its expertise, how it "
        "speaks, what it values, and what it refuses to do. Write it in the second person. "
        "A persona has no title line: its first line begins \"You are\". End with what it "
        "refuses to do, as a short list."
    ),
    "protocol": (
        "A protocol defines the steps of the interaction. Its first line is a short title "
        "(at most 60 characters, no \"#\", no final period), then a blank line, then the "
        "numbered steps: what the model must produce at each, when to stop, and which "
        "headings a stop still writes. It ends with a line reading exactly \"Output "
        "format\", then the headings the answer must use, in order, each on a line \"## "
        "Heading\" followed by a line saying what the section holds. Every heading one of "
        "the goal's rules asks for (such as \"Assumptions\" or \"Open Questions\") must be "
        "among them; no other line of the protocol starts with \"#\"."
    ),
    "constraint": (
        "A constraint states exactly one non-negotiable rule. Its first line is a short "
        "title (at most 60 characters, no \"#\", no final period), then a blank line, then "
        "the rule, what to do instead of breaking it, and a last sentence beginning "
        "\"Check:\" saying how a reader can tell that the rule was followed. In the "
        "rendered prompt these parts are called rules; \"constraints\" are the user's own."
    ),
}

RUBRIC_INSTRUCTION = (
    "This protocol is a rubric: the code that grades reads it. Name each criterion on a "
    "line of its own reading exactly \"Criterion 1: Name\", \"Criterion 2: Name\", and "
    "so on, numbered from 1 without gaps, no two names alike, each followed by a line "
    "\"- Poor: ...\" and a line \"- Excellent: ...\". Ask one question answered YES or NO "
    "on a line beginning exactly \"Final question: \". The criteria hold an answer to the "
    "output format of the protocol it grades, shown below; put the final question before "
    "the overall verdict, and reasoning before every verdict."
)

SYSTEM_INSTRUCTION = (
    "You write parts for a library of reusable prompts that senior engineers send to LLM "
    "sessions. Each part is one plain-text file. Write original, specific, actionable "
    "text; no filler, no marketing, no mention of being an AI. Answer with the text of the "
    "part and nothing else: its title line as the library's parts have (a persona starts "
    "\"You are\" instead), then its body; no preamble, no code fence, no closing remarks, "
    "no template placeholders, and no file names."
)


class PartRequest(NamedTuple):
    """Everything the model is told about one part; one fresh request each."""

    goal: Goal
    part: Part
    description: str
    examples: tuple[tuple[str, str], ...] = ()  # (file name, text) of same-kind parts
    draft: str | None = None  # only when a person asks for a revision
    comment: str | None = None
    # (the part's key, its text or None when not written yet) for the goal's other parts
    siblings: tuple[tuple[str, str | None], ...] = ()
    # (goal name, its protocol's text) of each goal this goal is the rubric of
    grades: tuple[tuple[str, str], ...] = ()


class Generated(NamedTuple):
    text: str
    model: str | None  # the model version that answered; None: a person wrote it
    description: str | None = None  # what the model was told, when a person changed it


def build_prompt(request: PartRequest) -> str:
    """Pure: the user prompt for one part."""
    goal, part = request.goal, request.part
    lines = [
        f"Write the {part.kind} `{part.name}` for the {goal.name} goal.",
        "",
        f"The goal: {goal.name} - {goal.description or 'no description given'}",
        f"This part: {request.description}",
        f"The goal's parts: persona {goal.persona.name}, protocol {goal.protocol.name}, "
        f"constraints {', '.join(c.name for c in goal.constraints) or 'none'}.",
        "",
        KIND_INSTRUCTIONS[part.kind],
    ]
    if part.kind == "protocol" and request.grades:
        lines += ["", RUBRIC_INSTRUCTION]
    written = [(key, text) for key, text in request.siblings if text]
    if written:
        lines += ["", "The goal's other parts, as written: this part must agree with them "
                      "(the headings its rules ask for, the steps its persona expects):"]
        for key, text in written:
            lines += ["", f'<part file="{key}">', text.strip(), "</part>"]
    for name, protocol in request.grades:
        lines += ["", f"The protocol of the {name} goal, whose answers this rubric grades:",
                  f'<graded goal="{name}">', protocol.strip(), "</graded>"]
    if request.examples:
        lines += ["", f"The nearest existing {part.kind} parts of the same library, to show "
                      "its voice and level of detail (do not copy them):"]
        for name, text in request.examples:
            lines += ["", f'<example file="{name}">', text.strip(), "</example>"]
    if request.draft is not None:
        lines += ["", "Revise this draft:", "<draft>", request.draft.strip(), "</draft>",
                  "", f"What to change: {request.comment or 'make it better'}"]
    lines += ["", f"Answer with the text of {part.name} only, starting with its "
                  + ("\"You are\" line." if part.kind == "persona" else "title line.")]
    return "\n".join(lines)


_FENCE = re.compile(r"^\s*```[\w-]*[ \t]*\n(?P<body>.*?)\n```\s*$", re.DOTALL)
_PREAMBLE = re.compile(
    r"^(sure|certainly|of course|okay|ok|absolutely|great|here(?:'s| is| are))\b[^\n]{0,200}"
    r"[:.!]\s*\n", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"\n\s*(let me know|i hope|feel free|hope this helps)[^\n]*\s*$", re.IGNORECASE)


def clean_answer(text: str) -> str:
    """Pure: strip a code fence around the whole answer and a chatty preamble/sign-off."""
    text = text.strip()
    for _ in range(2):  # a preamble may stand outside the fence, or inside it
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group("body").strip()
        text = _PREAMBLE.sub("", text, count=1).strip()
    text = _SIGN_OFF.sub("", text).strip()
    return text + "\n" if text else ""


# Lines that say nothing by themselves: a heading, a line in bold, a lead-in ending in a
# colon, a fence; a lone "Sure, here is the persona." or "Okay!".
_EMPTY_LINE = re.compile(
    r"^\s*(?:#.*|([*_]{1,3})[^*_]+\1[:.]?|[^.!?]*:|```.*|\W*"
    r"|\W*(?:sure|certainly|of course|okay|ok|absolutely|great|done)\b\W*"
    r"|.{0,40}\b(?:here(?:'s| is| are)|below is|this is)\b.{0,60}"
    r"\b(?:persona|protocol|constraint|part|text|draft|version|revision)\b[^.!?]{0,30}\W*)"
    r"\s*$",
    re.IGNORECASE)
_WORD = re.compile(r"\w*[^\W\d_]\w*")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s*$")


def check_substance(text: str) -> None:
    """Refuse a cleaned answer that says nothing: a lone preamble, title or fence.

    Substance is one sentence, or MIN_WORDS words, beyond such lines. Checked after
    `clean_answer`, which strips a preamble only when text follows it: a reply that is
    only "Sure, here is the persona:" survives cleaning, and is no persona.
    """
    lines = [line for line in text.splitlines() if not _EMPTY_LINE.match(line)]
    words = sum(len(_WORD.findall(line)) for line in lines)
    sentence = any(_WORD.search(line) and _SENTENCE_END.search(line) for line in lines)
    if words < MIN_WORDS and not sentence:
        raise GenerationError("the answer says nothing: no sentence beyond a preamble, a "
                              "title or a code fence")


def generate_part(model: Model, request: PartRequest, on_notice: Notice | None = None
                  ) -> Generated:
    """One part's text from `model`, cleaned and checked, or GenerationError saying why."""
    reply = model.complete(ModelRequest(SYSTEM_INSTRUCTION, build_prompt(request)),
                           on_notice=on_notice)
    text = clean_answer(reply.text)
    if not text.strip():
        raise GenerationError("the model returned an empty answer")
    check_substance(text)
    return Generated(text, reply.named_version if reply.model_version else model.name)
