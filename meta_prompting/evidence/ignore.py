"""What a folder's walk leaves out because git would: .gitignore files and info/exclude.

`--evidence .` in a repository should send what a colleague sees in it, not the build
output, the virtualenv or the logs the repository's own rules keep out of git. The
rules are git's (gitignore(5)): the last matching pattern wins, `!` re-includes, a
trailing `/` matches only folders, a `/` at the start or in the middle anchors the
pattern to the ignore file's folder, `*` and `?` stop at `/`, `**` spans folders. A
folder that is left out is not entered, so, as in git, nothing under it comes back.

Written here rather than taken from pathspec: git's matching rules fit in a page, the
walk needs the nested files applied as it descends (which pathspec leaves to its
caller), and every dependency is one more thing an installed command imports.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from meta_prompting.store.files import read_regular

IGNORE_FILE = ".gitignore"
# An ignore file is a list of patterns; 1 MiB of them is far past any real one.
IGNORE_LIMIT = 1 << 20


class Rule(NamedTuple):
    base: str  # the ignore file's folder, relative to the anchor: "" or "a/b/"
    pattern: re.Pattern[str]
    negate: bool
    folders_only: bool


class Ignore(NamedTuple):
    """The rules in force in one folder, outermost first (the last match decides)."""

    rules: tuple[Rule, ...] = ()

    def ignored(self, path: str, is_folder: bool) -> bool:
        """Whether `path` (relative to the anchor, "/"-separated) is left out."""
        for rule in reversed(self.rules):
            if rule.folders_only and not is_folder:
                continue
            if path.startswith(rule.base) and rule.pattern.match(path[len(rule.base):]):
                return not rule.negate
        return False

    def read(self, file: Path, base: str) -> Ignore:
        """These rules and those of `file` (an ignore file in folder `base`), if any."""
        try:
            data = read_regular(file, IGNORE_LIMIT, follow_links=False)
        except OSError:  # none there, or one we would not read (a link, a FIFO): git's way
            return self
        text = data.decode("utf-8", errors="replace")
        found = [r for line in text.splitlines() if (r := parse_rule(line, base))]
        return Ignore(self.rules + tuple(found)) if found else self


def parse_rule(line: str, base: str = "") -> Rule | None:
    """One line of an ignore file as a rule; None for a blank line or a comment."""
    if line.endswith("\r"):
        line = line[:-1]
    while line.endswith(" ") and not line.endswith("\\ "):  # unless escaped
        line = line[:-1]
    if not line or line.startswith("#"):
        return None
    negate = line.startswith("!")
    if negate:
        line = line[1:]
    folders_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    body = _translate(line.lstrip("/") if line.startswith("/") else line)
    # An unanchored pattern matches a name at any depth below the ignore file.
    regex = body if anchored else f"(?:.*/)?{body}"
    return Rule(base, re.compile(regex + r"\Z", re.DOTALL), negate, folders_only)


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            end = i + 2
            while end < n and pattern[end] == "*":
                end += 1
            whole = i == 0 or pattern[i - 1] == "/"
            if whole and end == n:  # "a/**": everything inside a
                out.append(".*")
                i = end
                continue
            if whole and pattern.startswith("/", end):  # "**/" spans zero or more folders
                out.append("(?:.*/)?")
                i = end + 1
                continue
            out.append("[^/]*")  # git: any other run of stars is a plain star
            i = end
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (close := _class_end(pattern, i)) > 0:
            inner = pattern[i + 1:close]
            negated = inner[:1] in ("!", "^")
            if negated:
                inner = inner[1:]
            body = "".join("\\" + ch if ch in "\\[]^" else ch for ch in inner)
            out.append(f"[^/{body}]" if negated else f"[{body}]")
            i = close
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    """Where the bracket expression opened at `start` closes, or -1 (a literal '[')."""
    j = start + 1
    if j < len(pattern) and pattern[j] in "!^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":  # a ']' first is a member
        j += 1
    close = pattern.find("]", j)
    return close


def rules_above(folder: Path) -> tuple[Ignore, str]:
    """The rules in force in `folder` from outside it, and its path from their anchor.

    Inside a git repository that is info/exclude and the .gitignore files from the
    repository's top down to `folder`'s parent (its own is read by the walk); the
    anchor is the top. Outside one, there are none and the anchor is `folder`.
    """
    top = _repository(folder)
    if top is None:
        return Ignore(), ""
    relative = folder.relative_to(top).as_posix()
    prefix = "" if relative == "." else relative + "/"
    ignore = Ignore()
    info = _git_dir(top)
    if info is not None:
        ignore = ignore.read(info / "info" / "exclude", "")
    parts = [p for p in prefix.split("/") if p]
    here, base = top, ""
    for part in parts:
        ignore = ignore.read(here / IGNORE_FILE, base)
        here, base = here / part, f"{base}{part}/"
    return ignore, prefix


def _repository(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def _git_dir(top: Path) -> Path | None:
    """The folder holding info/exclude: .git itself, or a worktree's common folder."""
    dot_git = top / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        return dot_git
    try:  # a worktree or submodule: ".git" is a file saying "gitdir: PATH"
        text = read_regular(dot_git, 4096, follow_links=False).decode("utf-8", "replace")
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = (top / text[len("gitdir:"):].strip()).resolve()
    try:
        common = read_regular(gitdir / "commondir", 4096).decode("utf-8", "replace").strip()
        return (gitdir / common).resolve()
    except OSError:
        return gitdir
