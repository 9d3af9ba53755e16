"""Pure: whether a judge's quote is really in the answer, as a real judge writes quotes.

A judge copies the words, not the Markdown: it drops `**bold**` and backticks, list
markers and table pipes, types straight quotes for curly ones and `--` for a dash, and
capitalises the first word. Both texts are brought to the same plain form before
matching, so an honest quote passes and only the words count. What is never forgiven:
a word that is not there, words out of order, and pieces too short to mean anything.
"""

from __future__ import annotations

import re
import unicodedata

MIN_PIECE = 12  # characters of each piece, normalised: a word or two is in every answer

# Applied after NFKC, which already turns "…" into "..." and odd spaces into spaces.
_FOLD = str.maketrans({
    # Quotation marks, apostrophes and backticks go: a judge writing JSON trades one for
    # another (or drops them), and "isn’t" and "isnt" are the same words.
    **dict.fromkeys("'‘’‚‛′‵`´\"“”„‟″‶«»‹›", None),
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", None),  # invisible
    **dict.fromkeys("‐‑‒–—―⁃−﹘﹣－", "-"),  # every dash and hyphen, and the minus sign
})
# A Markdown line's structure: heading marks, blockquote marks, list markers, in any
# nesting ("> - 1. item"). Stripped from the start of each line, repeatedly.
_LINE_MARK = re.compile(r"^[ \t]*(?:#{1,6}(?=[ \t]|$)|>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]|$))"
                        r"[ \t]*")
_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")  # [words](url): a judge quotes the words
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # \* \_ \# ...: Markdown's escapes
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_+|_+(?![^\W_])")  # _emphasis_, not snake_case
_DASH = re.compile(r"\s*-+\s*")  # "a — b", "a -- b", "a—b" and "a - b" are one dash
# The judge's ellipsis: "...", ". . .", "[...]" and "[…]" (NFKC made "…" into "...").
_ELLIPSIS = re.compile(r"\[\s*\.(?:\s*\.){2,}\s*\]|\.(?:[ \t]?\.){2,}")
_PIECE_EDGE = ".,;: "  # where a judge cuts a sentence


def normalise(text: str) -> str:
    """The words of Markdown `text` in a plain form: the same for an answer and a quote."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    lines = []
    for line in text.splitlines():
        while (m := _LINE_MARK.match(line)) and m.end():
            line = line[m.end():]
        lines.append(re.sub(r"[ \t]#+[ \t]*$", "", line))  # a heading's closing marks
    text = _LINK.sub(r"\1", "\n".join(lines))
    text = _ESCAPE.sub(r"\1", text)
    text = _EDGE_UNDERSCORE.sub("", text.replace("*", "").replace("|", " "))
    text = _DASH.sub("-", text)
    return " ".join(text.split()).casefold()


def pieces(quote: str) -> list[str]:
    """The normalised pieces of a quote, split at the judge's ellipses, in its order."""
    text = unicodedata.normalize("NFKC", quote).translate(_FOLD)
    found = (normalise(p).strip(_PIECE_EDGE) for p in _ELLIPSIS.split(text))
    return [p for p in found if p]


def is_quoted(quote: str, normal_answer: str) -> bool:
    """Whether every piece of `quote` is in the answer (given `normalise`d), in order,
    and each long enough to decide something."""
    whole = normalise(quote).strip(_PIECE_EDGE)
    if len(whole) >= MIN_PIECE and whole in normal_answer:
        return True  # the answer's own "..." (code, say), quoted as it stands
    found = pieces(quote)
    if not found or any(len(p) < MIN_PIECE for p in found):
        return False
    at = 0
    for piece in found:
        at = normal_answer.find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True
