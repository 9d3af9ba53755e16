"""Prices: the arithmetic per token kind and tier, the table and a person's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meta_prompting.errors import UserError
from meta_prompting.models.prices import (
    Price,
    Tier,
    cost,
    cost_of,
    estimate,
    load_prices,
    money,
    read_prices,
)

PRO = Price("pro", Tier(1.25, 10.0, 8.0, 0.125), Tier(2.5, 15.0, 12.0, 0.25), 200_000)


@pytest.mark.parametrize(("tokens", "usd"), [
    ({"prompt": 100_000}, 0.125),
    ({"answer": 1_000_000}, 10.0),
    ({"thinking": 1_000_000}, 8.0),
    # cached tokens are part of the prompt count, billed at the cached price instead
    ({"prompt": 100_000, "cached": 40_000}, (60_000 * 1.25 + 40_000 * 0.125) / 1e6),
    ({"prompt": 1_000, "answer": 2_000, "thinking": 3_000, "total": 6_000},
     (1_000 * 1.25 + 2_000 * 10 + 3_000 * 8) / 1e6),
    ({"prompt": None, "answer": None}, 0.0),
])
def test_each_token_kind_has_its_own_price(tokens: dict, usd: float) -> None:
    assert cost(PRO, tokens) == pytest.approx(usd)


def test_a_prompt_past_the_threshold_prices_the_whole_call_at_the_long_tier() -> None:
    at = {"prompt": 200_000, "answer": 1_000}
    past = {"prompt": 200_001, "answer": 1_000}
    assert cost(PRO, at) == pytest.approx((200_000 * 1.25 + 1_000 * 10) / 1e6)
    assert cost(PRO, past) == pytest.approx((200_001 * 2.5 + 1_000 * 15) / 1e6)
    assert cost(PRO, {"prompt": 300_000, "cached": 100_000}) == pytest.approx(
        (200_000 * 2.5 + 100_000 * 0.25) / 1e6)


def test_batch_takes_the_discount() -> None:
    tokens = {"prompt": 10_000, "answer": 1_000}
    assert cost(PRO, tokens, batch=True) == pytest.approx(cost(PRO, tokens) / 2)


def test_an_estimate_is_four_characters_a_token_and_the_limit_or_a_typical_answer() -> None:
    assert estimate(PRO, 4_000, 500) == pytest.approx((1_000 * 1.25 + 500 * 10) / 1e6)
    assert estimate(PRO, 4_000, None) == pytest.approx((1_000 * 1.25 + 2_000 * 10) / 1e6)


def test_the_shipped_table_prices_the_default_models_with_sources_and_dates() -> None:
    table = load_prices()
    for name in ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"):
        price = table.price(name)
        assert price is not None and price.base.input > 0 and price.checked
        assert price.source.startswith("https://ai.google.dev/gemini-api/docs/pricing")
    pro = table.price("gemini-2.5-pro")
    assert pro is not None and pro.above == 200_000 and pro.long is not None
    assert table.batch == 0.5
    # the alias: an estimate takes what it names now; a reply is priced by its version
    assert table.price("gemini-flash-latest") is not None
    assert table.price("gemini-flash-latest", "gemini-2.5-flash-preview-09-2025") is not None
    assert table.price("gemini-flash-latest", "gemini-flash-latest") is None


def test_an_unknown_model_costs_unknown_never_a_guess() -> None:
    kept = cost_of("my-own-model", [({"prompt": 10, "answer": 5}, "my-own-model")])
    assert kept["usd"] is None and kept["tokens"]["prompt"] == 10
    assert money(kept["usd"]) == "unknown"
    known = cost_of("gemini-2.5-flash", [({"prompt": 1_000_000}, "gemini-2.5-flash")])
    assert known["usd"] == pytest.approx(0.3) and known["prices_checked"]


def test_a_provider_prefix_prices_as_the_services_own_name_only_for_its_service(
        tmp_path: Path) -> None:
    table = load_prices(tmp_path)
    assert table.price("openai:gpt-4o-mini") == table.price("gpt-4o-mini") is not None
    assert table.price("gemini:gemini-2.5-flash") == table.price("gemini-2.5-flash")
    # someone else's server: a name alone proves nothing about what it costs
    assert table.price("ollama:gpt-4o-mini") is None
    assert table.price("openai-compat:gpt-4o-mini") is None
    mine = tmp_path / "mine"  # a folder of its own: a table is read once per folder
    mine.mkdir()
    (mine / "prices.json").write_text(json.dumps({"models": {
        "ollama:llama3.2": {"input": 0, "output": 0}}}))
    assert load_prices(mine).price("ollama:llama3.2") is not None


def test_a_persons_table_adds_and_overrides_models(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "prices.json").write_text(json.dumps({"models": {
        "local-llama": {"input": 0, "output": 0},
        "gemini-2.5-flash": {"input": 1, "output": 2}}}))
    table = load_prices(home)
    local = table.price("local-llama")
    assert local is not None and cost(local, {"prompt": 10**6, "answer": 10**6}) == 0
    assert money(0.0) == "$0"
    flash = table.price("gemini-2.5-flash")
    assert flash is not None and flash.base == Tier(1.0, 2.0, 2.0, 1.0)
    assert table.price("gemini-2.5-pro") is not None  # the rest still shipped


@pytest.mark.parametrize(("text", "where"), [
    ('{"models": {\n  "m": {"input": -1, "output": 2}}}', "prices.json:2:9:"),
    ('{"models": {\n  "m": {"input": 1}}}', "prices.json:2:3:"),
    ('{"models": {\n  "m": {"input": 1, "output": 2,\n  "long": {"input": 2}}}}',
     "prices.json:3:3:"),
    ('{"models": {"m": ', "prices.json:1:18: invalid JSON"),
    ('{"models": {\n  "m": "cheap"}}', "prices.json:2:3:"),
])
def test_a_bad_table_is_refused_naming_file_line_and_column(text: str, where: str) -> None:
    with pytest.raises(UserError) as e:
        read_prices(text, "prices.json")
    assert str(e.value).startswith(where), str(e.value)


def test_an_estimate_prices_each_call_at_its_own_models_price() -> None:
    """A --judge-model's judgments at the judge's price, the answers at the answerer's;
    one call whose model has no price makes the whole unknown."""
    from meta_prompting.models.budget import ANSWER, JUDGMENT, Planned, estimate_plan

    table = load_prices()
    flash, pro = table.price("gemini-2.5-flash"), table.price("gemini-2.5-pro")
    assert flash is not None and pro is not None
    answer = Planned(ANSWER, 4_000, 1_000)
    judge = Planned(JUDGMENT, 8_000, None, "gemini-2.5-pro")
    got = estimate_plan("gemini-2.5-flash", [answer, judge, judge])
    want = estimate(flash, 4_000, 1_000) + 2 * estimate(pro, 8_000, None)
    assert got["usd"] == pytest.approx(want)
    assert got["usd"] > estimate_plan("gemini-2.5-flash", [answer, judge._replace(
        model=None)] * 1 + [judge._replace(model=None)])["usd"]  # pro costs more
    assert estimate_plan("gemini-2.5-flash", [answer, judge._replace(
        model="my-own-judge")])["usd"] is None
    assert estimate_plan("gemini-2.5-flash", [])["usd"] == 0
    assert estimate_plan("my-own-model", [])["usd"] is None


def test_a_budget_holds_each_call_at_its_own_models_price() -> None:
    from meta_prompting.models.budget import Budget, OverBudget

    budget = Budget(1.0, "gemini-2.5-flash")
    answer = budget.hold("s", "x" * 4_000, 1_000)
    judge = budget.hold("s", "x" * 4_000, 1_000, "gemini-2.5-pro")
    assert judge > answer > 0 and budget.held == pytest.approx(answer + judge)
    with pytest.raises(OverBudget, match="price of my-own-judge is unknown"):
        budget.hold("s", "x", None, "my-own-judge")
    assert budget.held == pytest.approx(answer + judge)  # nothing held for it
