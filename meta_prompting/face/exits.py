"""The one mapping from what a command came to (its report's outcome) to its exit code.

The core's reports say what happened in words (store.record: done, incomplete, fails
its scorecard); the exit code is the face's to decide, here.
"""

from __future__ import annotations

from typing import Protocol

from meta_prompting.errors import EXIT_FAILS_SCORECARD, EXIT_INCOMPLETE, EXIT_OK
from meta_prompting.store.record import DONE, FAILS, INCOMPLETE

CODES = {DONE: EXIT_OK, INCOMPLETE: EXIT_INCOMPLETE, FAILS: EXIT_FAILS_SCORECARD}


class Report(Protocol):
    @property
    def outcome(self) -> str: ...


def exit_of(report: Report) -> int:
    return CODES[report.outcome]
