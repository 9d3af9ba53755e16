"""A fresh answer asked for (--fresh N, --fresh-stage NAME): the kept run is moved aside,
renamed, never deleted (an edit in it is the person's), and the same make-once path then
makes it again, since a run id no longer names a folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from meta_prompting.errors import UserError
from meta_prompting.store.files import os_reason


def set_aside(runs: Path, rid: str, progress: Callable[[str], None] | None = None
              ) -> Path | None:
    """Move a kept run out of the way (renamed, never deleted: an edit in it is the
    person's), so the same command makes the run anew. Under the run's lock, so no run
    making it at the same time is moved half-made; None when there was none."""
    from meta_prompting.runs.run import run_lock
    from meta_prompting.store.step import StepFailed, locked

    folder = runs / rid
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    try:
        with locked(run_lock(runs, rid), timeout=30, what=f"run {rid}"):
            if not os.path.lexists(folder):
                return None
            aside = runs / f"{rid}.replaced-{stamp}"
            n = 1
            while os.path.lexists(aside):  # two --fresh within one second
                n += 1
                aside = runs / f"{rid}.replaced-{stamp}-{n}"
            os.rename(folder, aside)
    except StepFailed as e:
        raise UserError(f"--fresh: {e.reason}") from None
    except OSError as e:
        raise UserError(f"--fresh: cannot move {folder} aside: {os_reason(e)}") from e
    if progress:
        progress(f"Set aside {folder} as {aside.name} (kept); making it anew")
    return aside
