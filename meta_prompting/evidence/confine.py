"""Paths a file hands us (a chain file's, a tasks file's): relative to it, kept in its folder.

A chain or a tasks file someone hands you names task and evidence files; followed
blindly, one could send /etc/passwd or ../../.ssh/id_rsa to the model. Each path is
taken relative to the file's folder and must stay inside it (links resolved), and it
must be a regular file (or a folder, for evidence): a FIFO would hang the read that
opens it and a device never ends, which no re-run could get past.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from meta_prompting.store.files import file_kind, os_reason, real_path


def path_problem(folder: Path, given: str, *, folders: bool, owner: str,
                 outside: bool = False, way_out: str = "", top: Path | None = None
                 ) -> str | None:
    """Why the path `given` (relative to `folder`, the folder of `owner`, e.g. "the
    chain file") cannot be used, or None. `outside`: the file allows paths anywhere;
    `way_out` says how a file that means to reach out says so; `top`: `folder` with its
    links resolved, when the caller has it (a thousand rows need it once)."""
    path = folder / given
    what = "file or folder" if folders else "file"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{given}: no such {what} (relative to {owner})"
    except (OSError, ValueError) as e:  # a loop, a NUL byte
        return f"{given}: cannot be read: {os_reason(e)}"
    if not outside:
        try:
            top, real = top or real_path(folder), real_path(path)
        except OSError as e:
            return f"{given}: cannot be read: {os_reason(e)}"
        if not real.is_relative_to(top):
            return f"{given}: leads outside {owner}'s folder ({real}); {way_out}"
    if stat.S_ISREG(mode) or (folders and stat.S_ISDIR(mode)):
        return None
    return f"{given}: is {file_kind(mode)}; give a regular {what}"
