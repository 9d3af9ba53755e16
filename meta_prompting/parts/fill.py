"""Filling the whole library: --generate-missing, every missing part, no toolkit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.errors import LibraryError
from meta_prompting.library.goals import Goal, Library, Part
from meta_prompting.library.parts import (
    NEEDS_TEXT,
    PRESENT,
    PartReport,
    inspect_parts,
    select_parts,
)

if TYPE_CHECKING:
    from meta_prompting.parts.options import SupplyOptions
    from meta_prompting.parts.supply import Outcome


class FillReport(NamedTuple):
    """What --generate-missing did: a row a part the map names that was not present."""

    parts: tuple[PartReport, ...]  # status "generated", "present" (made by another run)
    #                                or "placeholder" (failed: nothing written)
    present: int  # parts that were there already

    @property
    def outcome(self) -> str:
        from meta_prompting.store.record import DONE, INCOMPLETE

        return INCOMPLETE if any(p.status == "placeholder" for p in self.parts) else DONE

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present,
                "parts": [p._asdict() for p in self.parts]}


def fill_library(library: Library, goal_name: str | None, regenerate_names: frozenset[str],
                 options: SupplyOptions) -> FillReport:
    """Generate every missing part the map names (or one goal's), without a toolkit."""
    goals = [library.goal(goal_name)] if goal_name else list(library.goals.values())
    everything = list(dict.fromkeys(p for g in goals for p in g.parts))
    regenerate = select_parts(regenerate_names, everything, "--regenerate", "the map")
    select_parts(frozenset(options.describe), everything, "--describe", "the map")
    states = {s.part: s for s in inspect_parts(library, everything)}
    for state in states.values():
        if state.status not in (PRESENT, *NEEDS_TEXT):
            raise LibraryError(f"part {state.part.key} is {state.status}: {state.path}: "
                               f"{state.reason}")
    # Each part is generated once, for the first goal that names it (its context).
    owner: dict[Part, Goal] = {}
    for goal in goals:
        for part in goal.parts:
            owner.setdefault(part, goal)
    targets = [s for s in states.values() if s.status in NEEDS_TEXT or s.part in regenerate]
    outcomes: dict[Part, Outcome] = {}
    if targets:
        from meta_prompting.parts.supply import supply_parts

        outcomes = supply_parts(library, None, targets, regenerate, options, owner)
    rows = tuple(PartReport(s.part.kind, s.part.key, outcomes[s.part].status,
                            outcomes[s.part].reason) for s in targets)
    return FillReport(rows, len(states) - len(targets))
