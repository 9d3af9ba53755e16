"""Cost against the fake: estimates before spending, a budget held to, the ledger."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.fake_gemini import FakeGemini, ok
from tests.test_chain import ANSWER, GOALS, PARTS, four_stages

pytestmark = pytest.mark.usefixtures("fast_retries")
FLASH = ("--model", "gemini-2.5-flash")


@pytest.fixture
def lib(make_library) -> Path:  # type: ignore[no-untyped-def]
    return make_library(GOALS, PARTS)


def chain(capsys: pytest.CaptureFixture[str], lib: Path, path: Path, *extra: str
          ) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "--chain", str(path), "--project", "p", *FLASH, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def graded(tmp_path: Path) -> Path:
    path = four_stages(tmp_path / "chains")
    data = json.loads(path.read_text())
    data["stages"][0]["grade"] = True  # one graded stage: K judgments of its answer
    path.write_text(json.dumps(data))
    return path


def test_a_dry_run_of_a_four_stage_chain_with_three_judges_estimates_its_calls(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    path = graded(tmp_path)
    code, out, err = chain(capsys, lib, path, "--judges", "3", "--dry-run", "--json")
    assert code == 0, err
    estimate = json.loads(out)["estimate"]
    assert (estimate["answers"], estimate["judgments"]) == (4, 3)
    assert estimate["estimated"] and estimate["usd"] > 0
    code, out, _ = chain(capsys, lib, path, "--judges", "3", "--dry-run")
    assert "Estimate: 4 answers + 3 judgments" in out and "estimated" in out
    assert fake_gemini.count == 0
    assert not (lib / "output/p").exists()


def test_a_budget_below_the_estimate_makes_no_call_and_writes_nothing(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    code, out, err = chain(capsys, lib, four_stages(tmp_path / "chains"), "--budget", "0.0001")
    assert code == 1
    assert "--budget $0.0001: the estimate is $" in err and len(err.splitlines()) == 1
    assert fake_gemini.count == 0
    assert not (lib / "output/p").exists()


def test_an_unknown_price_under_a_budget_is_refused_in_one_line(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    code = main(["--root", str(lib), "--chain", str(four_stages(tmp_path / "chains")),
                 "--project", "p", "--model", "my-local-model", "--budget", "5"])
    err = capsys.readouterr().err
    assert code == 1 and "price of my-local-model is unknown" in err
    assert fake_gemini.count == 0


def test_a_budget_that_runs_out_mid_chain_keeps_what_finished_and_resumes_larger(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> None:
    path = four_stages(tmp_path / "chains")
    # The first answer is far longer than the 100 tokens the estimate assumes: it
    # spends $0.05 of a $0.01 budget the estimate fitted in, so nothing more is sent.
    fake_gemini.enqueue(ok(ANSWER + " word" * 20_000))
    code, out, err = chain(capsys, lib, path, "--budget", "0.01", "--max-tokens", "100",
                           "-j", "1")
    assert code == 3, err
    assert fake_gemini.count == 1
    assert "Budget reached: $0.01" in out
    [command] = [line for line in out.splitlines() if "--chain" in line and "Re-run" not in line]
    assert "--budget 0.02" in command
    kept = list((lib / "output/p").glob("*/runs/*/run.json"))
    assert len(kept) == 1
    record = json.loads(kept[0].read_text())
    assert record["cost"]["usd"] == pytest.approx(
        (record["tokens"]["prompt"] * 0.3 + record["tokens"]["answer"] * 2.5) / 1e6)
    fake_gemini.reset()
    code, out, err = chain(capsys, lib, path, "--budget", "0.02", "--max-tokens", "100",
                           "-j", "1")
    assert code == 0, out + err
    assert fake_gemini.count == 3  # the three missing stages, the first kept
    # The ledger is the sum of the records on disk.
    records = [json.loads(p.read_text()) for p in (lib / "output/p").glob("*/runs/*/run.json")]
    assert main(["--root", str(lib), "--spent", "-p", "p", "--json"]) == 0
    ledger = json.loads(capsys.readouterr().out)
    assert ledger["usd"] == pytest.approx(sum(r["cost"]["usd"] for r in records))
    assert sum(r["calls"] for r in ledger["rows"]) == 4
    assert {r["goal"] for r in ledger["rows"]} == {"SIMULATE", "SYNTH"}
    assert sum(r["tokens"]["prompt"] for r in ledger["rows"]) == sum(
        r["tokens"]["prompt"] for r in records)
    assert main(["--root", str(lib), "--spent"]) == 0
    assert "gemini-2.5-flash" in capsys.readouterr().out


def test_a_run_records_and_shows_its_cost_and_an_alias_reply_is_unknown(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    base = ["--root", str(lib), "-g", "SIMULATE", "--task", "Simulate it."]
    assert main([*base, "-p", "a", "--run", *FLASH]) == 0
    out = capsys.readouterr().out
    assert "$" in out
    [record] = [json.loads(p.read_text()) for p in (lib / "output/a").glob("runs/*/run.json")]
    assert record["cost"]["usd"] > 0 and record["cost"]["prices_checked"]
    # the fake names the alias itself as the version: no price can be told
    assert main([*base, "-p", "b", "--run", "--model", "gemini-flash-latest"]) == 0
    assert "unknown" in capsys.readouterr().out


def refine(capsys: pytest.CaptureFixture[str], lib: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task",
                 "Pick a cache design.", "--grade", "--refine", "3", *FLASH, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_dry_run_of_a_refine_loop_estimates_its_worst_case(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    code, out, err = refine(capsys, lib, "--judges", "3", "--dry-run", "--json")
    assert code == 0, err
    estimate = json.loads(out)["estimate"]
    assert (estimate["answers"], estimate["judgments"]) == (3, 9)  # 3 × (1 answer + 3)
    assert estimate["worst_case"] and estimate["attempts"] == 3 and estimate["usd"] > 0
    code, out, _ = refine(capsys, lib, "--judges", "3", "--dry-run")
    assert "Estimate (the worst case: 3 attempt(s), every one made and judged): " \
           "3 answers + 9 judgments" in out and "(estimated;" in out
    assert fake_gemini.count == 0 and not (lib / "output/s").exists()


def test_a_budget_for_one_attempt_stops_the_loop_and_a_larger_one_finishes_it(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    from tests.test_refine import answers, learns

    answers(fake_gemini, learns)  # attempt 1 fails, a refined attempt 2 passes
    code, out, _ = refine(capsys, lib, "--dry-run", "--json")
    estimate = json.loads(out)["next_attempt"]
    assert (estimate["answers"], estimate["judgments"]) == (1, 1)
    one = math.ceil(estimate["usd"] * 1e8) / 1e8
    # Below even the first attempt: refused, nothing sent or written.
    code, out, err = refine(capsys, lib, "--budget", f"{one * 0.9:.8f}")
    assert code == 1 and "the estimate is $" in err and "1 answer + 1 judgment" in err
    assert fake_gemini.count == 0 and not (lib / "output/s").exists()
    # Room for one attempt: attempt 2's estimate on top of what attempt 1 spent is not.
    code, out, err = refine(capsys, lib, "--budget", f"{one:.8f}")
    assert code == 3, out + err
    assert fake_gemini.count == 2  # attempt 1's answer and its judgment
    assert "attempt 1  FAIL" in out and "Stopped: attempt 2 not started" in out
    assert "Budget reached" in out and "2 call(s) not sent" in out
    [command] = [line.strip() for line in out.splitlines() if "--refine 3" in line]
    larger = float(command.split("--budget ")[1].split()[0])
    assert larger >= one * 2
    fake_gemini.reset()
    code, out, err = refine(capsys, lib, "--budget", str(larger))
    assert code == 0, out + err
    assert fake_gemini.count == 2  # exactly the missing attempt: its answer and judgment
    assert "attempt 1  FAIL" in out and "(refined from" in out and "PASS at attempt 2" in out


def test_a_chain_with_a_refined_stage_estimates_its_worst_case(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    path = graded(tmp_path)
    data = json.loads(path.read_text())
    data["stages"][0]["refine"] = 2
    path.write_text(json.dumps(data))
    code, out, err = chain(capsys, lib, path, "--dry-run", "--json")
    assert code == 0, err
    estimate = json.loads(out)["estimate"]
    # the refined stage at most 2 × (1 answer + 1 judgment), the other three 1 answer each
    assert (estimate["answers"], estimate["judgments"]) == (5, 2) and estimate["worst_case"]
    code, out, _ = chain(capsys, lib, path, "--dry-run")
    assert "Estimate (the worst case: every refine attempt made and judged)" in out
    assert fake_gemini.count == 0
