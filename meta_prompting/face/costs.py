"""The face of cost: --budget read and held to, estimates and the --spent ledger shown.

The core reports estimates and records costs as data; only this module turns them into
words, refusals and the command that finishes the job with a larger budget.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from meta_prompting.errors import UsageError, UserError

if TYPE_CHECKING:
    from meta_prompting.models.budget import Budget

R = TypeVar("R")
ENV = "META_PROMPTING_BUDGET"


def budget_of(args: argparse.Namespace) -> float | None:
    """--budget, else $META_PROMPTING_BUDGET (empty counts as unset), else None."""
    if args.budget is not None:
        return float(args.budget)
    given = os.environ.get(ENV, "").strip()
    if not given:
        return None
    from meta_prompting.face.flags import budget

    try:
        return budget(given)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"{ENV}: {e}") from None


def held_to(limit: float | None, model: str, dry_run: bool,
            work: Callable[[bool, Budget | None], R], estimate_of: Callable[[R], dict[str, Any]]
            ) -> tuple[R, Budget | None]:
    """Run `work` under a budget: first as an estimate (`work(True, None)`: nothing
    written or sent), refused whole when it passes the limit; then for real
    (`work(False, budget)`), no call sent past it."""
    if limit is None or dry_run:
        return work(False, None), None
    from meta_prompting.models.budget import Budget, unknown_price

    planned = estimate_of(work(True, None))
    usd = planned.get("usd")
    calls = _calls(planned)
    if usd is None and calls:
        raise UserError(unknown_price(model))
    if usd is not None and usd > limit:
        raise UserError(f"--budget ${limit:g}: the estimate is {money(usd)} ({calls}, "
                        "estimated); nothing was written or sent")
    held = Budget(limit, model)
    return work(False, held), held


def finishing(command: str, limit: float | None, held: Budget | None) -> str:
    """The command that finishes the job: with the budget, larger when it ran out."""
    if limit is None:
        return command
    value = held.larger() if held is not None and held.stopped else f"{limit:g}"
    if re.search(r"--budget \S+", command):
        return re.sub(r"--budget \S+", f"--budget {value}", command)
    return f"{command} --budget {value}"


def stopped_line(held: Budget | None) -> str | None:
    if held is None or not held.stopped:
        return None
    return (f"Budget reached: ${held.limit:g} (spent {money(held.spent)}); "
            f"{held.refused} call(s) not sent. What was answered is kept.")


def estimate_line(estimate: dict[str, Any]) -> str:
    """One line for a dry run's estimate, every figure said to be one."""
    if not _calls(estimate):
        return "Estimate: no calls to make (every answer and scorecard is kept): $0"
    from meta_prompting.models.prices import TYPICAL_OUTPUT, load_prices

    out = f"{estimate['output_tokens']:,} output tokens"
    attempts = f"{estimate['attempts']} attempt(s), every one" if "attempts" in estimate \
        else "every refine attempt"
    worst = f" (the worst case: {attempts} made and judged)" \
        if estimate.get("worst_case") else ""
    return (f"Estimate{worst}: {_calls(estimate)} to {estimate['model']}, about "
            f"{estimate['prompt_tokens']:,} prompt tokens (4 characters a token) and {out} "
            f"(the --max-tokens limit, else {TYPICAL_OUTPUT:,} a call): "
            f"{money(estimate['usd'])} (estimated; prices checked "
            f"{load_prices().checked})")


def _calls(estimate: dict[str, Any]) -> str:
    parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in (
        (estimate.get("parts", 0), "part"), (estimate.get("answers", 0), "answer"),
        (estimate.get("judgments", 0), "judgment"))
        if n]
    return " + ".join(parts)


def money(usd: float | None) -> str:
    from meta_prompting.models.prices import money as _money

    return _money(usd)


def cost_lines(estimate: dict[str, Any] | None, held: Any) -> None:
    from meta_prompting.face.costs import estimate_line, stopped_line
    from meta_prompting.face.show import writer

    write = writer()
    if estimate is not None:
        write(estimate_line(estimate))
    if (line := stopped_line(held)) is not None:
        write(line)


def budget_json(limit: float | None, held: Any) -> dict[str, Any]:
    if limit is None:
        return {}
    return {"budget": {"limit": limit, "spent": held.spent if held else 0.0,
                       "stopped": bool(held and held.stopped),
                       "calls_not_sent": held.refused if held else 0}}
