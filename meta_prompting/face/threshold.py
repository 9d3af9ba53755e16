"""--min-pass-rate R: a failing scorecard fails CI only when too few answers pass.

Models are not deterministic: of ten samples one may miss a criterion that nine meet.
With a rate, exit 4 means "the share of passing answers is below R", not "one answer
failed". Only that verdict is relaxed: an answer or grade that could not be made is
still exit 3, and a chain whose failed stage held back the stages after it is still
exit 4, since the chain never reached its end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from meta_prompting.errors import EXIT_OK

if TYPE_CHECKING:
    from meta_prompting.chains.chain import ChainReport
    from meta_prompting.grading.scorecard import GradeReport


class PassRate(NamedTuple):
    passed: int
    graded: int

    @property
    def share(self) -> float:
        return self.passed / self.graded if self.graded else 1.0

    def meets(self, rate: float) -> bool:
        # In whole counts, not floats: 0.7 of 10 must accept exactly 7.
        return self.passed * 10**6 >= round(rate * 10**6) * self.graded

    def told(self, minimum: float | None, code: int) -> str:
        if minimum is None or not self.graded:
            return ""
        verdict = "met" if self.meets(minimum) else "not met"
        return (f"pass rate {self.passed}/{self.graded} ({self.share:.0%}): --min-pass-rate "
                f"{minimum:g} {verdict}, exit {code}")

    def to_dict(self) -> dict[str, int | float]:
        return {"passed": self.passed, "graded": self.graded, "share": round(self.share, 4)}


def grade_pass_rate(report: GradeReport) -> PassRate:
    cards = [g.scorecard for g in report.graded if g.scorecard is not None]
    return PassRate(sum(c.passed for c in cards), len(cards))


def chain_pass_rate(report: ChainReport) -> PassRate:
    from meta_prompting.chains.chain import FAILED_GRADE

    graded = [r for r in report.results if r.graded is not None and r.graded.scorecard
              is not None and (r.ok or r.status == FAILED_GRADE)]
    return PassRate(sum(r.ok for r in graded), len(graded))


def gated_exit(code: int, rate: PassRate, minimum: float | None,
               held_back: bool = False) -> int:
    """The exit code with --min-pass-rate applied (None: as it was)."""
    from meta_prompting.errors import EXIT_FAILS_SCORECARD

    if minimum is None or code != EXIT_FAILS_SCORECARD or held_back:
        return code
    return EXIT_OK if rate.meets(minimum) else code


def chain_held_back(report: ChainReport) -> bool:
    """A stage waits behind one that failed its grade: the chain did not finish."""
    from meta_prompting.chains.chain import BLOCKED

    return any(r.status == BLOCKED for r in report.results)
