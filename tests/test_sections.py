"""Sections of answers as real models write them: numbered, bold, fenced."""

from __future__ import annotations

import pytest

from meta_prompting.toolkit.sections import extract_section, headings, normal_title, outline

BODY = "1. Write a journal line per item.\n"
AFTER = "## Risks\nThe journal grows.\n"

# (heading as a model wrote it, with the section's body below it): found by the title
# "Revised Algorithm".
FOUND = [
    ("plain", "## Revised Algorithm"),
    ("any-case", "## revised ALGORITHM"),
    ("numbered-dot", "### 3. Revised Algorithm"),
    ("numbered-paren", "## 3) Revised Algorithm"),
    ("numbered-in-parens", "## (3) Revised Algorithm"),
    ("numbered-dotted", "## 3.1 Revised Algorithm"),
    ("roman", "## III. Revised Algorithm"),
    ("letter", "## C) Revised Algorithm"),
    ("step", "## Step 3: Revised Algorithm"),
    ("part-dash", "## Part C - Revised Algorithm"),
    ("section-em-dash", "## Section 2 — Revised Algorithm"),
    ("number-dash", "## 3 - Revised Algorithm"),
    ("bold-heading", "## **Revised Algorithm**"),
    ("bold-numbered-heading", "## **3. Revised Algorithm**"),
    ("numbered-bold-heading", "## 3. **Revised Algorithm**"),
    ("underscore-bold", "## __Revised Algorithm__"),
    ("italic", "## *Revised Algorithm*"),
    ("trailing-colon", "## Revised Algorithm:"),
    ("bold-trailing-colon", "## **Revised Algorithm:**"),
    ("closing-hashes", "## Revised Algorithm ##"),
    ("indented-three", "   ## Revised Algorithm"),
    ("spaced", "##   Revised    Algorithm  "),
    ("bold-line", "**Revised Algorithm**"),
    ("bold-line-numbered", "**3. Revised Algorithm**"),
    ("bold-line-colon-outside", "**Revised Algorithm**:"),
    ("bold-line-underscores", "__Step 3: Revised Algorithm__"),
]
NOT_FOUND = [
    ("other-title", "## Revised Design"),
    ("longer-title", "## Revised Algorithm Notes"),
    ("bare-number-kept", "## 2 Revised Algorithm"),
    ("bold-words-in-a-line", "**Revised Algorithm** is below."),
    ("two-bold-runs", "**Revised** and **Algorithm**"),
    ("bold-list-item", "- **Revised Algorithm**"),
    ("indented-code", "    ## Revised Algorithm"),
    ("no-space-after-hashes", "##Revised Algorithm"),
    ("seven-hashes", "####### Revised Algorithm"),
    ("italic-line", "*Revised Algorithm*"),
    ("in-a-backtick-fence", "```\n## Revised Algorithm\n```"),
    ("in-a-tilde-fence", "~~~markdown\n**Revised Algorithm**\n~~~"),
]


def answer(heading: str) -> str:
    return f"# Plan\n\n## Analysis\nThe state is in memory.\n\n{heading}\n{BODY}\n{AFTER}"


@pytest.mark.parametrize("heading", [h for _, h in FOUND], ids=[i for i, _ in FOUND])
def test_a_section_is_found_as_real_models_head_it(heading: str) -> None:
    assert extract_section(answer(heading), "Revised Algorithm") == f"{heading}\n{BODY}"


@pytest.mark.parametrize("heading", [h for _, h in NOT_FOUND], ids=[i for i, _ in NOT_FOUND])
def test_a_section_is_not_found_where_there_is_none(heading: str) -> None:
    assert extract_section(answer(heading), "Revised Algorithm") is None


@pytest.mark.parametrize("wanted", ["Revised Algorithm", "3. Revised Algorithm",
                                    "**Revised Algorithm**", "revised algorithm:"],
                         ids=["plain", "numbered", "bold", "lower-case-colon"])
def test_the_title_asked_for_is_read_the_same_way(wanted: str) -> None:
    assert extract_section(answer("### 2. Revised Algorithm"), wanted) is not None


# (fenced block, whether the real section after it is found): a heading shown inside a
# code block must never shadow or end the real one.
FENCES = [
    ("backticks", "```\n## Revised Algorithm\n```"),
    ("tildes", "~~~\n## Revised Algorithm\n~~~"),
    ("info-string", "```markdown\n## Revised Algorithm\n```"),
    ("four-closed-by-four", "````\n## Revised Algorithm\n````"),
    ("four-not-closed-by-three", "````md\n```\n## Revised Algorithm\n```\n````"),
    ("five-closed-by-six", "`````\n```\n## Revised Algorithm\n``````"),
    ("tilde-not-closed-by-backticks", "~~~\n```\n## Revised Algorithm\n```\n~~~"),
    ("backticks-not-closed-by-tildes", "```\n~~~\n## Revised Algorithm\n~~~\n```"),
    ("four-tildes-not-closed-by-three", "~~~~\n~~~\n## Revised Algorithm\n~~~\n~~~~"),
    ("closing-fence-with-words-is-content", "```\n``` not a close\n## Revised Algorithm\n```"),
    ("indented-fence", "  ```\n## Revised Algorithm\n  ```"),
]


@pytest.mark.parametrize("block", [b for _, b in FENCES], ids=[i for i, _ in FENCES])
def test_a_heading_inside_a_code_fence_never_counts(block: str) -> None:
    text = f"## Analysis\nAn example:\n\n{block}\n\n## Revised Algorithm\n{BODY}\n{AFTER}"
    assert extract_section(text, "Revised Algorithm") == f"## Revised Algorithm\n{BODY}"
    assert [t for _, t, _ in headings(text)] == ["Analysis", "Revised Algorithm", "Risks"]


def test_a_fenced_block_inside_the_section_stays_in_it() -> None:
    text = f"## Revised Algorithm\n````\n```\n## Risks\n```\n````\n{BODY}\n{AFTER}"
    assert extract_section(text, "Revised Algorithm") == (
        f"## Revised Algorithm\n````\n```\n## Risks\n```\n````\n{BODY}")


def test_an_unclosed_fence_runs_to_the_end() -> None:
    text = "## Analysis\n```\n## Revised Algorithm\n"
    assert extract_section(text, "Revised Algorithm") is None


def test_a_real_heading_wins_over_a_bold_line_of_the_same_title() -> None:
    text = "**Revised Algorithm**\nA teaser.\n\n## 4. Revised Algorithm\nThe real one.\n"
    assert extract_section(text, "Revised Algorithm") == (
        "## 4. Revised Algorithm\nThe real one.\n")


def test_a_bold_line_section_ends_at_the_next_bold_line_or_a_heading_as_high() -> None:
    text = ("## Design\n**1. Analysis**\nIn memory.\n**2. Revised Algorithm**\nJournal it.\n"
            "**3. Risks**\nIt grows.\n## Next\nOther.\n")
    assert extract_section(text, "Revised Algorithm") == (
        "**2. Revised Algorithm**\nJournal it.\n")
    assert extract_section(text, "Risks") == "**3. Risks**\nIt grows.\n"
    deeper = "## Design\n**Revised Algorithm**\nJournal.\n#### Detail\nYes.\n### Peer\nNo.\n"
    assert extract_section(deeper, "Revised Algorithm") == (
        "**Revised Algorithm**\nJournal.\n#### Detail\nYes.\n")


def test_a_bold_line_before_any_heading_ends_at_the_first_heading() -> None:
    text = "**Revised Algorithm**\nJournal it.\n###### Tiny heading\nOther.\n"
    assert extract_section(text, "Revised Algorithm") == "**Revised Algorithm**\nJournal it.\n"


def test_bold_lines_do_not_cut_a_real_headings_section() -> None:
    text = "## Revised Algorithm\n**Step one**\nJournal.\n**Step two**\nSkip.\n## Risks\n"
    assert extract_section(text, "Revised Algorithm") == (
        "## Revised Algorithm\n**Step one**\nJournal.\n**Step two**\nSkip.\n")


def test_the_outline_levels_a_bold_line_below_the_heading_above_it() -> None:
    text = "**Intro**\n## Design\n**Notes**\n### Deep\n**More**\n"
    assert [(h.level, h.title, h.bold_line) for h in outline(text)] == [
        (7, "Intro", True), (2, "Design", False), (3, "Notes", True), (3, "Deep", False),
        (4, "More", True)]


@pytest.mark.parametrize(("title", "normal"), [
    ("### 3. **Revised Algorithm**:", "revised algorithm"),
    ("2024 Plan", "2024 plan"),
    ("Step 3 Revised Algorithm", "revised algorithm"),
    ("The `save_state()` fix", "the save_state() fix"),
    ("C#", "c#"),
    ("I/O errors", "i/o errors"),
], ids=["everything", "bare-year-kept", "step-without-mark", "code", "c-sharp", "i-o"])
def test_normal_title(title: str, normal: str) -> None:
    assert normal_title(title.lstrip("# ")) == normal
