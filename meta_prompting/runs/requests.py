"""What each run was asked, kept: the persona and the filled prompt, once per content.

02_PROMPT.md holds only the last request, and run.json only its sha256. So every run
keeps what it was sent in the toolkit's hidden `.requests/`, each text named by its
sha256 (`.requests/<sha256>.md`): the samples of one request, and every run sent the
same persona, share one file. run.json links them ("request"); a request written by
hand into a run.json, or a file edited since, is never trusted: what is read must
hash to what the run recorded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meta_prompting.store.files import (
    REQUESTS,
    TOOLKIT_LIMIT,
    clear_dead_temporaries,
    read_regular,
    sha256_bytes,
    write_new,
)

if TYPE_CHECKING:
    from meta_prompting.runs.run import Session

PROMPT_FILE = "02_PROMPT.md"
_NAME = re.compile(r"[0-9a-f]{64}")
_cleared: set[Path] = set()  # the toolkits whose .requests this process has cleared


def keep_request(toolkit: Path, session: Session) -> dict[str, str]:
    """Keep the session's persona and prompt (each once); run.json's links to them.

    Written before the run folder is published: a kill between the two leaves a request
    no run names, which the next run of it finds kept.
    """
    links = {}
    for name, text in (("system", session.system), ("prompt", session.prompt)):
        data = text.encode("utf-8")
        digest = sha256_bytes(data)
        path = toolkit / REQUESTS / f"{digest}.md"
        if toolkit not in _cleared:
            # A run killed mid-write left its temporary file, whether or not another run
            # then kept the same request: once a process, a dead process's go (a living
            # one may be writing the same request now).
            _cleared.add(toolkit)
            clear_dead_temporaries(toolkit / REQUESTS)
        if not os.path.lexists(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_new(path, data)
        links[name] = f"{REQUESTS}/{digest}.md"
    return links


def read_request(toolkit: Path, record: dict[str, Any], what: str = "prompt") -> str | None:
    """The `what` ("prompt" or "system") a run was sent, if it can still be read whole:
    from the request kept with it, else from 02_PROMPT.md when that is still the same
    text (a run made before requests were kept). None otherwise."""
    hashes = record.get("sha256")
    digest = hashes.get(what) if isinstance(hashes, dict) else None
    if not isinstance(digest, str) or not _NAME.fullmatch(digest):
        return None
    places = [toolkit / REQUESTS / f"{digest}.md"]
    if what == "prompt":
        places.append(toolkit / PROMPT_FILE)
    for path in places:
        try:
            data = read_regular(path, TOOLKIT_LIMIT, follow_links=False)
        except OSError:
            continue
        if sha256_bytes(data) == digest:  # content-addressed: never another text
            return data.decode("utf-8", "replace")
    return None


def task_of(prompt: str) -> str | None:
    """The task a filled prompt carries (its last block), or None."""
    from meta_prompting.toolkit.prompt import person_blocks

    return person_blocks(prompt).get("task")


def first_line(text: str | None, limit: int = 200) -> str:
    """The first line with words in it, cut to `limit` characters."""
    for line in (text or "").splitlines():
        if line.strip():
            line = " ".join(line.split())
            return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"
    return ""
