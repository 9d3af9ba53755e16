"""Run orchestrator.py and SIGKILL it at a named moment: `MP_CRASH_AT=POINT:N`.

Fault injection for tests/resume_stress.py: a kill at a random time rarely lands in a
window a few microseconds wide, so the narrow ones are named here and hit exactly, at
the Nth time the process reaches them (counted across threads):

  lock       a run's lock is held, nothing made yet (its dead temporaries being cleared)
  call       a model call is about to be sent
  answer     a model call has returned: the answer is in memory, nothing kept
  publish    a run folder is written whole in its temporary name, not yet renamed
  published  the run folder was renamed into place, its parent not yet synced
  scorecard  scorecard.md is written aside, scorecard.json written but not renamed
  index      CHAIN.md's (or --tasks' RESULTS.md's or results.jsonl's) new text is
             written to its temporary file, not yet renamed
  created    a batch job was created (its name is in memory), its name not yet recorded

Usage: MP_CRASH_AT=answer:2 python tests/crashpoint.py orchestrator-args...
Without MP_CRASH_AT it is orchestrator.py. Nothing here changes what the product does
until the chosen moment, when the process dies as `kill -9` would kill it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

POINTS = ("lock", "call", "answer", "publish", "published", "scorecard", "index", "created")


class Crasher:
    def __init__(self, point: str, nth: int) -> None:
        if point not in POINTS:
            raise SystemExit(f"MP_CRASH_AT: unknown point {point!r} (one of {', '.join(POINTS)})")
        self.point, self.nth = point, nth
        self.hits = 0
        self._lock = threading.Lock()

    def hit(self, point: str) -> None:
        if point != self.point:
            return
        with self._lock:
            self.hits += 1
            if self.hits == self.nth:
                os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> Crasher:
    point, _, nth = spec.partition(":")
    crasher = Crasher(point, int(nth or "1"))
    import meta_prompting.store.step as step
    from meta_prompting.models.gemini import GeminiModel

    real_clear = step.remove_dead_folders

    def clear(parent: Path, name: str) -> None:
        crasher.hit("lock")
        real_clear(parent, name)

    step.remove_dead_folders = clear

    real_complete = GeminiModel.complete

    def complete(self: GeminiModel, *args: Any, **kwargs: Any) -> Any:
        crasher.hit("call")
        answer = real_complete(self, *args, **kwargs)
        crasher.hit("answer")
        return answer

    GeminiModel.complete = complete  # type: ignore[method-assign]

    from meta_prompting.models.gemini_batch import GeminiBatch

    real_submit = GeminiBatch.submit

    def submit(self: GeminiBatch, *args: Any, **kwargs: Any) -> Any:
        made = real_submit(self, *args, **kwargs)
        crasher.hit("created")
        return made

    GeminiBatch.submit = submit  # type: ignore[method-assign]

    import meta_prompting.store.files as files

    real_fsync_dir: Callable[[Path], None] = getattr(files, "fsync_dir")  # noqa: B009
    real_rename = os.rename
    real_replace = os.replace

    # A run folder is published into runs/; a new toolkit folder is published too, into
    # output/, and is no run.
    def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if str(src).endswith(".tmp") and os.path.isdir(src) and \
                os.path.basename(os.path.dirname(str(dst))) == "runs":
            crasher.hit("publish")
        real_rename(src, dst, *args, **kwargs)

    def fsync_dir(folder: Path) -> None:
        if folder.name == "runs":  # the second sync of a run folder: the rename is done
            crasher.hit("published")
        real_fsync_dir(folder)

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        name = os.path.basename(str(dst))
        if name in ("CHAIN.md", "RESULTS.md", "results.jsonl"):
            crasher.hit("index")
        elif name.startswith("scorecard") and name.endswith(".json"):
            crasher.hit("scorecard")
        real_replace(src, dst, *args, **kwargs)

    os.rename = rename
    os.replace = replace
    setattr(files, "fsync_dir", fsync_dir)  # noqa: B010 - publish_folder's name for it
    return crasher


def main() -> int:
    spec = os.environ.get("MP_CRASH_AT")
    if spec:
        install(spec)
    from meta_prompting.face.cli import main as cli_main

    sys.argv = [str(Path(__file__).resolve().parent.parent / "orchestrator.py"), *sys.argv[1:]]
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
