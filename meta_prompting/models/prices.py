"""What a model call costs: the price table and the arithmetic, nothing else.

The table ships as `prices.json` beside this module; a person's own `prices.json` in
the user library folder adds models or replaces entries whole. A model with no entry
costs "unknown", never a guessed figure. Token counts are the service's own
(usageMetadata): `prompt` includes the `cached` tokens, `answer` excludes `thinking`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from meta_prompting.errors import UserError

PRICES_FILE = "prices.json"
PER = 1_000_000  # prices are per million tokens
KINDS = ("input", "output", "thinking", "cached_input")
# Estimates, documented in the README: a prompt is about 4 characters a token (English
# text and code, as both services' guides say), and an answer with no --max-tokens
# limit is taken as 2,000 output tokens, thinking included: a long considered answer,
# more than most, so that an estimate errs high.
CHARS_PER_TOKEN = 4
TYPICAL_OUTPUT = 2_000


class Tier(NamedTuple):
    input: float
    output: float
    thinking: float
    cached_input: float


class Price(NamedTuple):
    model: str  # the table entry's name
    base: Tier
    long: Tier | None = None  # for prompts above `above` tokens
    above: int | None = None
    source: str = ""
    checked: str = ""

    def tier(self, prompt_tokens: int) -> Tier:
        if self.long is not None and self.above is not None and prompt_tokens > self.above:
            return self.long
        return self.base


# The providers whose own prices the table ships. A name through "ollama:" or
# "openai-compat:" runs on someone else's server, where OpenAI's price for the same
# name would be a guess: only an entry under the full prefixed name prices it.
_PRICED_BY_SERVICE = frozenset({"gemini", "openai"})


class PriceTable(NamedTuple):
    models: dict[str, Price]
    aliases: dict[str, str]  # an alias and the model it names now (for estimates only)
    checked: str  # the date the shipped table was checked
    batch: float = 0.5

    def price(self, model: str, version: str | None = None) -> Price | None:
        """The price of a call to `model` whose reply named `version`.

        An alias's target moves: a reply is priced by the version it names, else not at
        all. Only an estimate (no reply yet) takes the alias's present target.
        """
        if version is not None and version in self.models:
            return self.models[version]
        provider, sep, bare = model.partition(":")
        if sep and model not in self.models and provider in _PRICED_BY_SERVICE:
            model = bare  # "openai:gpt-4o" is gpt-4o at OpenAI's own price
        if model in self.aliases:
            return self.models.get(self.aliases[model]) if version is None else None
        return self.models.get(model)


def cost(price: Price, tokens: Mapping[str, Any], batch: bool = False,
         discount: float = 0.5) -> float:
    """Pure: US dollars for one call's token counts."""
    prompt = _count(tokens, "prompt")
    cached = min(_count(tokens, "cached"), prompt)
    tier = price.tier(prompt)
    usd = ((prompt - cached) * tier.input + cached * tier.cached_input
           + _count(tokens, "answer") * tier.output
           + _count(tokens, "thinking") * tier.thinking) / PER
    return usd * discount if batch else usd


def estimate(price: Price, prompt_chars: int, max_tokens: int | None) -> float:
    """Pure: the estimated cost of one call of `prompt_chars` characters."""
    return cost(price, {"prompt": math.ceil(prompt_chars / CHARS_PER_TOKEN),
                        "answer": max_tokens or TYPICAL_OUTPUT})


def cost_of(model: str, uses: Iterable[tuple[Mapping[str, Any], str | None]],
            batch: bool = False) -> dict[str, Any]:
    """What a record keeps of its calls' cost: tokens by kind summed, and the cost in
    dollars (None: a call's model has no price) with the table's date.

    `uses`: each call's token counts and the model version its reply named.
    """
    table = load_prices()
    total: float | None = 0.0
    sums: dict[str, int] = {}
    priced: set[str] = set()
    for tokens, version in uses:
        for kind in ("prompt", "cached", "answer", "thinking"):
            sums[kind] = sums.get(kind, 0) + _count(tokens, kind)
        price = table.price(model, version or model)
        if price is None:
            total = None
        elif total is not None:
            priced.add(price.model)
            total += cost(price, tokens, batch, table.batch)
    return {"tokens": sums, "usd": None if total is None else round(total, 8),
            "priced_as": sorted(priced), "prices_checked": table.checked}


def money(usd: float | None) -> str:
    """A cost for people: "unknown", or dollars to the cent, finer below a cent."""
    if usd is None:
        return "unknown"
    if usd == 0:
        return "$0"
    return f"${usd:.2f}" if usd >= 0.1 else f"${usd:.4f}" if usd >= 0.0001 else "<$0.0001"


def _count(tokens: Mapping[str, Any], kind: str) -> int:
    value = tokens.get(kind)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def load_prices(home: Path | None = None) -> PriceTable:
    """The shipped table with the user's own `prices.json` over it (read once)."""
    from meta_prompting.store.home import user_home

    return _load(str(home or user_home()))


@lru_cache(maxsize=4)
def _load(home: str) -> PriceTable:
    shipped = Path(__file__).with_name(PRICES_FILE)
    table = read_prices(shipped.read_text(encoding="utf-8"), str(shipped))
    own = Path(home) / PRICES_FILE
    try:
        text = own.read_text(encoding="utf-8")
    except FileNotFoundError:
        return table
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{own}: cannot be read: {e}") from e
    mine = read_prices(text, str(own))
    return table._replace(models={**table.models, **mine.models},
                          aliases={**table.aliases, **mine.aliases})


def read_prices(text: str, filename: str) -> PriceTable:
    """Pure: the table in `text`; UserError naming file:line:col at the first fault."""
    from meta_prompting.store.jsontext import _Locator, _parse_json

    data, problem = _parse_json(text, filename)
    if problem:
        raise UserError(problem)
    where = _Locator(text, filename)
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise UserError(f"{filename}:1:1: must be a JSON object with \"models\": "
                        "{model name: {input, output, ...}}")
    models: dict[str, Price] = {}
    for name, spec in data.get("models", {}).items():
        if not isinstance(spec, dict):
            raise UserError(f"{where.key(name)}: model \"{name}\" must be an object of prices")
        base = _tier(spec, name, where, name)
        long = above = None
        if "long" in spec:
            extra = spec["long"]
            above = extra.get("above") if isinstance(extra, dict) else None
            if not isinstance(above, int) or isinstance(above, bool) or above <= 0:
                raise UserError(f"{where.key('long', name)}: model \"{name}\": \"long\" "
                                "needs \"above\": the prompt tokens past which it applies")
            long = _tier(extra, name, where, "long")
        models[name] = Price(name, base, long, above, str(spec.get("source", "")),
                             str(spec.get("checked", data.get("checked", ""))))
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict) or not all(isinstance(v, str) for v in aliases.values()):
        raise UserError(f"{where.key('aliases')}: \"aliases\" must map a name to a model")
    batch = data.get("batch", 0.5)
    if not isinstance(batch, (int, float)) or not 0 <= batch <= 1:
        raise UserError(f"{where.key('batch')}: \"batch\" must be a multiplier from 0 to 1")
    return PriceTable(models, dict(aliases), str(data.get("checked", "")), float(batch))


def _tier(spec: dict[str, Any], model: str, where: Any, after: str) -> Tier:
    values = []
    for kind in KINDS:
        value = spec.get(kind, spec.get("output") if kind == "thinking" else
                         spec.get("input") if kind == "cached_input" else None)
        if (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0
                or not math.isfinite(value)):
            at = where.key(kind, after) if kind in spec else where.key(after)
            raise UserError(f"{at}: model \"{model}\": \"{kind}\" must be a price of 0 or "
                            "more (US dollars per million tokens)")
        values.append(float(value))
    return Tier(*values)

