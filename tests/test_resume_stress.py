"""Resume under stress: a hundred real runs killed with SIGKILL, each run again to the end.

The harness is tests/resume_stress.py (bench/resume_stress.py runs a thousand). Every
assertion is about what was kept and what was asked for; timing only decides where a
kill lands, so a slow machine changes which moments are covered, never the verdict.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests import resume_stress as rs
from tests.fake_gemini import FakeGemini

LATENCY = 0.05  # small: the kills land within a short run, start-up dominates
# No busy loops here: in CI two xdist workers already keep both cores busy, and a busy
# loop would only halve the trials' pace; bench/resume_stress.py runs the loaded groups.
# (scenario, first named moment, stride): the two batches of a scenario take every
# other moment each; the refine loop has fewer moments and one batch.
CI_BATCHES = [("chain", 0, 2), ("chain", 1, 2), ("samples", 0, 2), ("samples", 1, 2),
              ("refine", 0, 1)]
PER_BATCH = 20  # five batches: a hundred trials
NAMED = 15  # of a batch's trials at named moments; the rest at times spread over a run


def assert_trials_pass(outcomes: list[rs.Outcome], log: Path) -> None:
    failed = [o.to_dict() for o in outcomes if not o.ok]
    assert not failed, (f"{len(failed)} of {len(outcomes)} trials failed (log: {log}; replay "
                        "one with bench/resume_stress.py --replay LOG --trial N):\n"
                        + "\n".join(json.dumps(f) for f in failed[:5]))


@pytest.mark.stress
@pytest.mark.parametrize(("scenario", "offset", "stride"), CI_BATCHES,
                         ids=[f"{s}-{o}" for s, o, _ in CI_BATCHES])
def test_a_run_killed_at_any_moment_is_resumed_asking_only_for_what_is_missing(
        tmp_path: Path, scenario: str, offset: int, stride: int) -> None:
    pycache = str(tmp_path / "pyc")
    span = rs.calibrate(scenario, tmp_path, LATENCY, pycache)
    hooks = rs.HOOKS[scenario][offset::stride][:NAMED]
    specs = rs.plan(scenario, PER_BATCH, seed=1 + offset, load=0, latency=LATENCY,
                    span=span, hooks=hooks)
    log = tmp_path / "trials.jsonl"
    outcomes = rs.run_batch(specs, tmp_path, workers=1, log=log, pycache=pycache)
    assert len(outcomes) == PER_BATCH
    assert_trials_pass(outcomes, log)


# The two races the harness found, each at the moment that produces it.


@pytest.mark.parametrize("hook", ["index:1", "scorecard:1"])
def test_a_kill_mid_write_of_the_index_or_a_scorecard_leaves_nothing_after_the_rerun(
        tmp_path: Path, hook: str) -> None:
    """write_atomic's temporary file, orphaned by the kill: the re-run must clear it."""
    scenario = "chain" if hook == "index:1" else "samples"
    spec = rs.Spec(0, 0, scenario, 0, LATENCY, hook=hook)
    outcome = rs.run_trial(spec, tmp_path / "t", str(tmp_path / "pyc"))
    assert outcome.killed and any(x.startswith("temporary") for x in outcome.leftovers)
    assert outcome.ok, outcome.problems


def test_a_kill_between_a_scorecards_halves_has_it_made_again_once(tmp_path: Path) -> None:
    """A kill as scorecard.json is about to be renamed in: the scorecard is published
    whole, so the .md is still aside and no scorecard.md stands without its .json; the
    two temporary files are cleared and the re-run asks once more."""
    spec = rs.Spec(0, 0, "chain", 0, LATENCY, hook="scorecard:1")
    outcome = rs.run_trial(spec, tmp_path / "t", str(tmp_path / "pyc"))
    assert outcome.leftovers == ["temporary scorecard file"] * 2
    assert "state" in outcome.kept and "state:scorecard" not in outcome.kept
    assert outcome.asked.count("state:scorecard") == 1 and "state" not in outcome.asked
    assert outcome.ok, outcome.problems


def test_a_kill_between_an_answer_and_its_record_asks_for_that_answer_once(
        tmp_path: Path) -> None:
    spec = rs.Spec(0, 0, "chain", 0, LATENCY, hook="answer:1")
    outcome = rs.run_trial(spec, tmp_path / "t", str(tmp_path / "pyc"))
    assert outcome.killed and outcome.killed_requests >= 1
    assert sorted(outcome.asked) == sorted(x for x in rs.expected("chain")
                                           if x not in outcome.kept)
    assert outcome.ok, outcome.problems


def test_settle_waits_for_a_request_whose_body_is_still_arriving() -> None:
    """The counting race: a killed client's last request may not be recorded yet when the
    fake looks idle; counted from then on, it is charged to the re-run."""
    with FakeGemini() as fake:
        host, port = fake.base_url.removeprefix("http://").split(":")
        body = b'{"contents": [{"role": "user", "parts": [{"text": "late"}]}]}'
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"POST /v1beta/models/m:generateContent HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        assert fake.count == 0  # nothing recorded: a count taken now would miss it
        sock.close()  # the client dies mid-body
        assert fake.settle(timeout=30)
        assert fake.count == 1 and fake.open_connections == 0
