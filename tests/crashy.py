"""Run orchestrator.py with every fsync slowed down, so a kill lands mid-write.

Fault injection for crash-safety tests and bench/crash.py: `python tests/crashy.py
SECONDS orchestrator-args...`. fsync comes after the data is written and before the
atomic rename, so a kill in that window leaves exactly the half-done state a real
crash would: a temporary file that must never be taken for a part or a toolkit file.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    delay = float(sys.argv[1])
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(delay)
        real_fsync(fd)

    os.fsync = slow_fsync
    from meta_prompting.face.cli import main as cli_main

    sys.argv = [str(Path(__file__).resolve().parent.parent / "orchestrator.py"), *sys.argv[2:]]
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
