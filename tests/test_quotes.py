"""Quotes as real judges write them: the words pass, the Markdown aside; nothing else does."""

from __future__ import annotations

import pytest

from meta_prompting.grading.quotes import is_quoted, normalise, pieces

# An answer as real models write one: numbered and bold headings, code, lists, a table,
# a blockquote, typographic apostrophes, quotes and dashes.
ANSWER = """\
### 1. **Flaw Analysis**

The **write-to-temp-and-rename** pattern in `save_state()` isn’t atomic — the
directory entry is never fsynced, so a crash after `os.replace` can lose the file.

## **2. Revised Algorithm**

1. Write the state to `state.json.tmp` and call `fsync()` on it.
2) Rename it over `state.json` with *os.replace*.
- Open the folder and __fsync it too__, or the rename may not survive a power cut.
* Keep a “journal line” per finished item – one line, appended.

> Retries must be idempotent: a replayed item is skipped, never done twice.

| Step | Cost | Risk |
| --- | --- | --- |
| fsync the file | one disk flush | low |
| fsync the folder | one more flush | none |

**3. Verdict:**

Use the journal... it’s the only design that survives kill -9 at any moment.
The old code said "done" before the data was on disk.
"""
TASK = "Review save_state() in the batch job and say whether it survives a crash."
NORMAL = normalise(ANSWER)

HONEST = [
    ("exact", "The **write-to-temp-and-rename** pattern in `save_state()` isn’t atomic"),
    ("markdown-dropped", "The write-to-temp-and-rename pattern in save_state() isn't atomic"),
    ("straight-apostrophe", "save_state() isn't atomic"),
    ("capitalised", "Save_state() isn’t atomic — the directory entry"),
    ("lower-case", "the write-to-temp-and-rename pattern"),
    ("em-dash-as-double-hyphen", "isn't atomic -- the directory entry is never fsynced"),
    ("em-dash-as-hyphen", "isn't atomic - the directory entry is never fsynced"),
    ("em-dash-unspaced", "isn't atomic—the directory entry is never fsynced"),
    ("en-dash-as-hyphen", 'Keep a "journal line" per finished item - one line, appended'),
    ("curly-quotes-straightened", 'a "journal line" per finished item'),
    ("curly-quotes-single", "Keep a 'journal line' per finished item"),
    ("across-a-line-break", "the directory entry is never fsynced, so a crash after"),
    ("judges-quotation-marks", '"so a crash after os.replace can lose the file."'),
    ("heading-without-marks", "Flaw Analysis The write-to-temp-and-rename pattern"),
    ("heading-with-marks", "### 1. **Flaw Analysis**"),
    ("numbered-item-without-marker", "Write the state to state.json.tmp and call fsync() on it."),
    ("numbered-item-with-marker", "1. Write the state to `state.json.tmp`"),
    ("paren-item-without-marker", "Rename it over state.json with os.replace."),
    ("bullet-without-marker", "Open the folder and fsync it too, or the rename may not"),
    ("star-bullet-without-marker", "Keep a “journal line” per finished item"),
    ("two-items-in-a-row", "call fsync() on it. Rename it over state.json"),
    ("blockquote-without-mark", "Retries must be idempotent: a replayed item is skipped"),
    ("blockquote-with-mark", "> Retries must be idempotent"),
    ("table-row-without-pipes", "fsync the folder one more flush none"),
    ("table-row-with-pipes", "| fsync the file | one disk flush | low |"),
    ("table-row-partly-piped", "fsync the file | one disk flush"),
    ("ellipsis", "The write-to-temp-and-rename pattern ... can lose the file"),
    ("unicode-ellipsis", "The write-to-temp-and-rename pattern … can lose the file"),
    ("bracketed-ellipsis", "a replayed item is skipped [...] never done twice"),
    ("bracketed-unicode-ellipsis", "a replayed item is skipped […] never done twice"),
    ("spaced-ellipsis", "Retries must be idempotent . . . never done twice"),
    ("three-pieces-in-order",
     "save_state() isn't atomic ... journal line per finished ... never done twice"),
    ("the-answers-own-ellipsis", "Use the journal... it's the only design"),
    ("bold-line-heading", "3. Verdict: Use the journal"),
    ("bold-phrase-italic-code", "Rename it over `state.json` with *os.replace*"),
    ("fullwidth-and-nbsp", "save_state()\u00a0isn’t\u3000atomic"),
    ("several-spaces", "the   only   design   that   survives"),
    ("a-quoted-word", 'The old code said done before the data was on disk'),
    ("trailing-full-stop-for-colon", "Retries must be idempotent."),
]

DISHONEST = [
    ("invented", "The rename is atomic on every filesystem"),
    ("a-word-changed", "The write-to-temp-and-rename pattern in save_state() is atomic"),
    ("a-word-added", "save_state() isn't really atomic"),
    ("a-word-dropped", "the directory entry is fsynced, so a crash"),
    ("from-the-task-only", "Review save_state() in the batch job"),
    ("pieces-out-of-order", "never done twice ... Retries must be idempotent"),
    ("every-piece-tiny", "e ... e ... e ..."),
    ("twelve-letters-in-pieces", " ... ".join("e" * 12)),  # once enough in total
    ("one-piece-too-short", "The write-to-temp-and-rename pattern ... lose"),
    ("too-short", "atomic"),
    ("empty", ""),
    ("only-ellipses", "... … [...]"),
    ("a-piece-invented", "isn't atomic ... the journal is optional"),
    ("two-cells-from-two-rows", "fsync the file one more flush"),
    ("words-from-two-places-joined", "isn't atomic, so a crash after os.replace"),
    ("letters-not-words", "statejsontmp and call fsync"),
    ("number-changed", "survives kill -8 at any moment"),
    ("same-piece-twice-found-once", "Retries must be idempotent ... Retries must be idempotent"),
]


@pytest.mark.parametrize("quote", [q for _, q in HONEST], ids=[i for i, _ in HONEST])
def test_an_honest_quote_passes(quote: str) -> None:
    assert is_quoted(quote, NORMAL)


@pytest.mark.parametrize("quote", [q for _, q in DISHONEST], ids=[i for i, _ in DISHONEST])
def test_a_dishonest_quote_fails(quote: str) -> None:
    assert not is_quoted(quote, NORMAL)


def test_a_quote_from_the_task_passes_only_against_the_task() -> None:
    quote = "Review save_state() in the batch job"
    assert is_quoted(quote, normalise(TASK)) and not is_quoted(quote, NORMAL)


@pytest.mark.parametrize(("text", "normal"), [
    ("## **3. Revised** `x_y`", "3. revised x_y"),
    ("> - 1. item", "item"),
    ("__init__ and _private_ and snake_case", "init and private and snake_case"),
    ("a — b -- c – d", "a-b-c-d"),
    ("[the docs](https://example.com) \\*not bold\\*", "the docs not bold"),
    ("Heading ##\n# Title #", "heading title"),
], ids=["heading-bold-code", "nested-markers", "underscores", "dashes", "link-and-escape",
        "closing-hashes"])
def test_normalise(text: str, normal: str) -> None:
    assert normalise(text) == normal


def test_pieces_keep_the_judges_order() -> None:
    assert pieces("Second part … first part [...] third") == [
        "second part", "first part", "third"]
