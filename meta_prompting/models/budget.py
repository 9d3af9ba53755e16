"""Knowing a cost before spending it: estimates of planned calls, and a budget.

An estimate is documented arithmetic, never a count from the service: a prompt is its
characters / 4 tokens, an answer the --max-tokens limit or a typical 2,000 tokens
(models/prices.py). A budget holds each call's estimate while it is in flight and
counts its real cost once it is answered; a call that would pass the budget is not
sent (OverBudget), so the calls in flight finish and are kept and nothing else starts.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from meta_prompting.errors import GenerationError, UserError
from meta_prompting.models.prices import CHARS_PER_TOKEN, TYPICAL_OUTPUT, estimate, load_prices

if TYPE_CHECKING:
    from meta_prompting.models.base import Model, ModelRequest, Reply
    from meta_prompting.models.prices import Price

ANSWER, JUDGMENT, PART = "answer", "judgment", "part"


class Planned(NamedTuple):
    """One call a command would make."""

    kind: str  # ANSWER, JUDGMENT or PART
    prompt_chars: int  # the system instruction and the prompt
    max_tokens: int | None
    model: str | None = None  # another model than the plan's (a --judge-model's judges)


def estimate_plan(model: str, calls: Iterable[Planned]) -> dict[str, Any]:
    """The estimate of a plan, as reports carry it (every figure an estimate)."""
    calls = list(calls)
    table = load_prices()
    prices = {name: table.price(name) for name in {model, *(c.model for c in calls if c.model)}}
    usd: float | None = 0.0 if calls or prices[model] is not None else None
    for c in calls:  # each at its own model's price (a --judge-model's judges at theirs)
        price = prices[c.model or model]
        if price is None:  # one call without a price: the whole is unknown, never a guess
            usd = None
            break
        usd = (usd or 0.0) + estimate(price, c.prompt_chars, c.max_tokens)
    return {"estimated": True, "model": model,
            "answers": sum(c.kind == ANSWER for c in calls),
            "judgments": sum(c.kind == JUDGMENT for c in calls),
            "parts": sum(c.kind == PART for c in calls),
            "prompt_tokens": sum(math.ceil(c.prompt_chars / CHARS_PER_TOKEN) for c in calls),
            "output_tokens": sum(c.max_tokens or TYPICAL_OUTPUT for c in calls),
            "usd": None if usd is None else round(usd, 8)}


def assumed_answer_chars(max_tokens: int | None) -> int:
    """The length an answer not yet made is taken to have (for what comes after it)."""
    return (max_tokens or TYPICAL_OUTPUT) * CHARS_PER_TOKEN


class OverBudget(GenerationError):
    """A call not sent: it would pass the budget."""


class Budget:
    """Money for one command: spent so far, held by calls in flight, and the limit."""

    def __init__(self, limit: float, model: str) -> None:
        self.limit, self.model = limit, model
        self.spent = self.held = 0.0
        self.refused = 0  # calls not sent
        self.wanted = 0.0  # the estimate of the largest piece of work not started
        self._lock = threading.Lock()
        price = load_prices().price(model)
        if price is None:
            raise UserError(unknown_price(model))
        self._prices = {model: price}

    def _price_of(self, model: str | None) -> Price:
        """The price of a call to `model` (None: the command's own); a model with none
        cannot be held to a budget (its start was refused: a plan's estimate is unknown)."""
        name = model or self.model
        if name not in self._prices:
            price = load_prices().price(name)
            if price is None:
                raise OverBudget(f"not sent: the price of {name} is unknown, so it cannot be "
                                 "held to the budget")
            self._prices[name] = price
        return self._prices[name]

    def hold(self, system: str, prompt: str, max_tokens: int | None,
             model: str | None = None) -> float:
        """Hold one call's estimate (at `model`'s price: a judge's may differ), or raise
        OverBudget and send nothing."""
        cost = estimate(self._price_of(model), len(system) + len(prompt), max_tokens)
        with self._lock:
            if self.spent + self.held + cost > self.limit:
                self.refused += 1
                raise OverBudget(
                    f"not sent: the budget of ${self.limit:g} would be passed (spent "
                    f"${self.spent:.4f}, ${self.held:.4f} in flight, this call about "
                    f"${cost:.4f})")
            self.held += cost
        return cost

    def affords(self, cost: float, calls: int) -> bool:
        """Whether work estimated at `cost` (`calls` calls) may start: when it would
        pass the budget it is not started, and its calls are counted as not sent."""
        with self._lock:
            if self.spent + self.held + cost <= self.limit:
                return True
            self.refused += calls
            self.wanted = max(self.wanted, cost)
            return False

    def settle(self, held: float, answer: Reply | None, model: str | None = None) -> None:
        """A call ended: its hold released, its real cost (else its estimate) spent."""
        from meta_prompting.models.prices import cost_of

        with self._lock:
            self.held -= held
            if answer is not None:
                usd = cost_of(model or self.model,
                              [(answer.usage, answer.model_version)])["usd"]
                self.spent += held if usd is None else usd

    @property
    def stopped(self) -> bool:
        return self.refused > 0

    def larger(self) -> str:
        """A budget for the command that finishes the job: what was left undone, at least
        as much again, to the cent above."""
        wanted = max(self.limit * 2, self.limit + self.held + self.wanted)
        return f"{math.ceil(wanted * 100) / 100:.2f}"


def unknown_price(model: str) -> str:
    from meta_prompting.models.prices import PRICES_FILE
    from meta_prompting.store.home import user_home

    return (f"--budget: the price of {model} is unknown, so no estimate can be held to "
            f"a budget; add it to {user_home() / PRICES_FILE} (a local model: price 0) or "
            "drop --budget")


class _Budgeted:
    """A model whose every call is held to --budget: none is sent past it, and what each
    answered is spent once it is in."""

    def __init__(self, model: Model, budget: Budget) -> None:
        self.model, self.budget = model, budget
        self.name, self.provider = model.name, model.provider

    def complete(self, request: ModelRequest, *, on_text: Callable[[str], None] | None = None,
                 on_notice: Callable[[str], None] | None = None) -> Reply:
        held = self.budget.hold(request.system, request.user, request.max_tokens, self.name)
        reply = None
        try:
            reply = self.model.complete(request, on_text=on_text, on_notice=on_notice)
            return reply
        finally:
            self.budget.settle(held, reply, self.name)


def budgeted(model: Model, budget: Budget | None) -> Model:
    """`model`, held to `budget` when there is one."""
    return model if budget is None else _Budgeted(model, budget)
