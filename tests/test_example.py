"""The example chain the README starts people with runs offline, against the fake."""

from __future__ import annotations

from pathlib import Path

from meta_prompting.face.cli import main
from tests.conftest import REPO
from tests.fake_gemini import FakeGemini, RequestRecord, ok

CHAIN = REPO / "examples" / "batch-recovery" / "chain.json"
ANSWER = """## Analysis
Progress lives in memory, so a kill loses every finished item.

## Revised Algorithm
1. Append one journal line per finished item, flushed and synced.
2. On start, skip every item the journal holds.

## Trade-offs
The journal grows by one line per item.
"""


def test_the_example_chain_runs_offline_and_hands_on_the_revised_algorithm(
        shipped: Path, fake_gemini: FakeGemini) -> None:
    fake_gemini.responder = lambda r: None if r.response_schema else ok(ANSWER)
    fake_gemini.schema_overrides = {"quotes": ["Append one journal line per finished item"]}
    args = ["--root", str(shipped), "--chain", str(CHAIN), "--project", "batch", "-q"]
    assert main(args) == 0
    requests: list[RequestRecord] = fake_gemini.requests
    assert len(requests) == 5  # state, its grade, retries and recovery, synthesis
    handed_on = [r for r in requests if "stage state: Revised Algorithm" in r.prompt]
    assert len(handed_on) == 2
    for request in handed_on:
        assert "Append one journal line" in request.prompt
        assert "Progress lives in memory" not in request.prompt
    assert "principal" in requests[-1].system.lower()
    assert (shipped / "output/batch/CHAIN.md").exists()
    assert main(args) == 0 and fake_gemini.count == 5


TASKS = REPO / "examples" / "tasks"


def test_the_example_tasks_run_offline_and_the_csv_is_the_same_rows(
        shipped: Path, fake_gemini: FakeGemini) -> None:
    args = ["--root", str(shipped), "-g", "AUDIT", "-p", "reviews", "-q", "--tasks"]
    assert main([*args, str(TASKS / "tasks.jsonl")]) == 0
    assert fake_gemini.count == 4
    prompts = fake_gemini.prompts()
    assert sum('<document name="src/paths.py">' in p and "/srv/uploads" in p
               and "Name every way a user-supplied name" in p for p in prompts) == 1
    assert main([*args, str(TASKS / "tasks.csv")]) == 0 and fake_gemini.count == 4
    assert (shipped / "output/reviews/RESULTS.md").read_text().count("[answer](runs/") == 4
