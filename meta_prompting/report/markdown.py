"""Answers as Markdown, safely: no raw HTML, no images, no link but http(s) and mailto.

An answer is the model's words (or a person's paste): untrusted. markdown-it-py with
`html` off escapes every tag; images are switched off so that opening the report
fetches nothing (an e-mail client may ignore the page's Content-Security-Policy); a
link is kept only when its scheme is one a click may follow. Imported only by --report.

A judge's verified quote is marked in the answer it quotes: the quote's words in
order, with any punctuation or Markdown between them, within one paragraph, list item
or table cell (a quote spanning two is marked piece by piece where each is found).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

_SAFE_LINK = re.compile(r"^(?:https?://|mailto:|#)", re.IGNORECASE)
MIN_WORDS = 3  # a quote's piece shorter than this would mark words found everywhere


def _valid_link(url: str) -> bool:
    return bool(_SAFE_LINK.match(url.strip()))


def make_renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"]).disable("image")
    md.validateLink = _valid_link  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: list[Token], idx: int, options: Any,
                  env: Any) -> str:
        # Off the page goes without our address or a handle on this window.
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        return str(renderer.renderToken(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    return md


def render(md: MarkdownIt, text: str, quotes: Iterable[str] = ()) -> str:
    """`text` as HTML, each of `quotes` marked (<mark>) where its words are found."""
    tokens = md.parse(text)
    patterns = [p for q in quotes for p in quote_patterns(q)]
    if patterns:
        for token in tokens:
            if token.type == "inline" and token.children:
                token.children = _mark(token.children, patterns)
    return str(md.renderer.render(tokens, md.options, {}))


def quote_patterns(quote: str) -> list[re.Pattern[str]]:
    """One pattern per piece of `quote` (split at ellipses and line breaks)."""
    found = []
    for piece in re.split(r"\.\s?\.\s?\.|…|\n", quote):
        words = re.findall(r"[^\W_]+", piece)
        if len(words) >= MIN_WORDS:
            found.append(re.compile(r"(?<![^\W_])" + r"[\W_]+".join(map(re.escape, words))
                                    + r"(?![^\W_])", re.IGNORECASE))
    return found


def _mark(children: list[Token], patterns: list[re.Pattern[str]]) -> list[Token]:
    """`children` with every text found by `patterns` wrapped in mark tokens."""
    spans: list[tuple[int, int]] = []
    offsets: list[int] = []
    flat = ""
    for child in children:
        offsets.append(len(flat))
        if child.type in ("text", "code_inline"):
            flat += child.content
        elif child.type in ("softbreak", "hardbreak"):
            flat += "\n"
    for pattern in patterns:
        spans += [m.span() for m in pattern.finditer(flat)]
    if not spans:
        return children
    out: list[Token] = []
    for child, start in zip(children, offsets, strict=True):
        end = start + len(child.content)
        cut = [(max(a, start) - start, min(b, end) - start) for a, b in spans
               if a < end and b > start]
        if child.type == "code_inline" and cut:
            out += [_open(), child, _close()]
        elif child.type != "text" or not cut:
            out.append(child)
        else:
            out += _split(child, _merge(cut))
    return out


def _split(token: Token, cuts: list[tuple[int, int]]) -> list[Token]:
    out: list[Token] = []
    at = 0
    for a, b in cuts:
        if a > at:
            out.append(_text(token.content[at:a]))
        out += [_open(), _text(token.content[a:b]), _close()]
        at = b
    if at < len(token.content):
        out.append(_text(token.content[at:]))
    return out


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _open() -> Token:
    return Token("mark_open", "mark", 1, attrs={"class": "quote"})


def _close() -> Token:
    return Token("mark_close", "mark", -1)
