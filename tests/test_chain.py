"""Chains of fresh sessions: validated whole, run as a graph, resumed make-like."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.face.cli import main
from tests.conftest import REPO, MakeLibrary
from tests.fake_gemini import FakeGemini, RequestRecord, error, ok
from tests.test_grade import GOALS as GRADE_GOALS
from tests.test_grade import PARTS as GRADE_PARTS

GOALS = {
    **GRADE_GOALS,
    "SYNTH": {"description": "Synthesize", "persona": "principal.txt",
              "protocol": "synthesis.txt", "constraints": ["rules.txt"]},
}
PARTS = {
    **GRADE_PARTS,
    "personas/principal.txt": "You are a principal engineer.\n",
    "protocols/synthesis.txt": "Synthesis\n\nMerge the stages.\n\nOutput format\n## Design\n",
}
ANSWER = ("## Analysis\nThe state is kept in memory only.\n\n## Revised Algorithm\n"
          "1. Write a journal line per item.\n2. Skip journalled items on restart.\n\n"
          "## Risks\nThe journal grows.\n")


def four_stages(folder: Path) -> Path:
    """Three independent focused stages, then a synthesis after all three."""
    (folder / "ev").mkdir(parents=True, exist_ok=True)
    for name in ("state", "retries", "recovery"):
        (folder / "ev" / f"{name}.txt").write_text(f"Evidence for {name}.\n")
    stages = [{"name": n, "goal": "SIMULATE", "task": f"Simulate the {n} design.",
               "evidence": [f"ev/{n}.txt"]} for n in ("state", "retries", "recovery")]
    stages.append({"name": "synthesis", "goal": "SYNTH", "task": "Merge them.",
                   "after": ["state", "retries", "recovery"]})
    return write_chain(folder, {"description": "Three focused simulations", "stages": stages})


def write_chain(folder: Path, data: dict[str, Any] | str, name: str = "chain.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2))
    return path


pytestmark = pytest.mark.usefixtures("fast_retries")  # retries without the waits


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library(GOALS, PARTS)


@pytest.fixture
def chains(tmp_path: Path) -> Path:
    return tmp_path / "work" / "chains"


def chain(capsys: pytest.CaptureFixture[str], lib: Path, path: Path, *extra: str
          ) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "--chain", str(path), "--project", "p", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def task_of(record: RequestRecord) -> str:
    return record.prompt.split("<task>\n")[-1].split("\n</task>")[0]


def answer_path(lib: Path, stage: str) -> Path:
    [path] = (lib / "output/p" / stage / "runs").glob("*/answer.md")
    return path


def test_three_stages_run_side_by_side_then_the_synthesis_and_a_rerun_asks_nothing(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.latency = 0.4
    path = four_stages(chains)
    code, out, err = chain(capsys, lib, path)
    assert code == 0, out + err
    assert fake_gemini.count == 4 and fake_gemini.max_concurrent == 3
    last = fake_gemini.requests[-1]
    assert task_of(last) == "Merge them." and last.system == "You are a principal engineer.\n"
    for stage in ("state", "retries", "recovery"):  # each answer is its own document
        assert re.search(f'<document(-\\d+)? name="stage {stage}">', last.prompt)
    assert any('<document name="ev/state.txt">' in r.prompt for r in fake_gemini.requests)
    index = (lib / "output/p/CHAIN.md").read_text()
    assert index.count("[answer](") == 4 and "state/runs/" in index
    assert chain(capsys, lib, path)[0] == 0 and fake_gemini.count == 4


def test_a_504_fails_one_stage_and_its_dependants_and_the_rerun_makes_exactly_those(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    fake_gemini.fail_when("Simulate the retries design.", error(504, "DEADLINE_EXCEEDED"),
                          times=4)
    code, out, _ = chain(capsys, lib, path)
    assert code == 3
    assert "504 DEADLINE_EXCEEDED after 4 attempts" in out
    assert "synthesis blocked: stage retries is failed" in out
    assert "To finish, run the same command again:" in out
    before = fake_gemini.count
    assert chain(capsys, lib, path)[0] == 0
    assert [task_of(r) for r in fake_gemini.requests[before:]] == [
        "Simulate the retries design.", "Merge them."]


def test_an_evidence_edit_reruns_exactly_the_stages_that_read_it(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    assert chain(capsys, lib, path)[0] == 0
    (chains / "ev" / "recovery.txt").write_text("Evidence for recovery, corrected.\n")
    code, out, _ = chain(capsys, lib, path)
    assert code == 0
    assert [task_of(r) for r in fake_gemini.requests[4:]] == [
        "Simulate the recovery design.", "Merge them."]


def test_a_failing_grade_gets_another_session_then_blocks_what_follows(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state.", "grade": True,
               "attempts": 2},
              {"name": "synthesis", "goal": "SYNTH", "task": "Merge.", "after": ["state"]}]
    path = write_chain(chains, {"stages": stages})
    fake_gemini.schema_overrides = {"quotes": ["words that no answer holds"]}
    code, out, _ = chain(capsys, lib, path)
    assert code == 4
    judged = [r for r in fake_gemini.requests if r.response_schema is not None]
    # Two sessions, each judged and, its quote not found, judged again by a fresh judge.
    assert len(judged) == 4 and fake_gemini.count == 6
    assert "state failed grade: no answer passed the scorecard in 2 fresh session(s)" in out
    assert "synthesis blocked: stage state is failed grade" in out
    assert not (lib / "output/p/synthesis/runs").exists()
    assert chain(capsys, lib, path)[0] == 4 and fake_gemini.count == 6  # all kept


def test_a_passing_grade_hands_on_the_answer_that_passed(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state.", "grade": True,
               "attempts": 3},
              {"name": "synthesis", "goal": "SYNTH", "task": "Merge.", "after": ["state"]}]
    path = write_chain(chains, {"stages": stages})
    answers = iter(["First try, too vague.\n", ANSWER])
    fake_gemini.responder = lambda r: None if r.response_schema else (
        ok(next(answers)) if "Simulate state." in r.prompt else None)
    fake_gemini.schema_overrides = {"quotes": ["Write a journal line per item."]}
    code, out, _ = chain(capsys, lib, path)
    assert code == 0, out
    assert "PASS (2 sessions)" in out
    assert "Skip journalled items on restart." in fake_gemini.requests[-1].prompt


def test_a_section_is_handed_on_alone(capsys: pytest.CaptureFixture[str], lib: Path,
                                      chains: Path, fake_gemini: FakeGemini) -> None:
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state."},
              {"name": "retries", "goal": "SIMULATE", "task": "Simulate retries.",
               "after": [{"stage": "state", "section": "revised algorithm"}]}]
    path = write_chain(chains, {"stages": stages})
    fake_gemini.enqueue(ok(ANSWER))
    assert chain(capsys, lib, path)[0] == 0
    later = fake_gemini.requests[-1].prompt
    assert ('<document name="stage state: revised algorithm">\n## Revised Algorithm\n'
            "1. Write a journal line per item.\n2. Skip journalled items on restart.\n"
            "</document>") in later
    assert "The state is kept in memory only." not in later and "The journal grows" not in later


def test_a_missing_section_blocks_the_later_stage_and_names_what_is_there(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state."},
              {"name": "retries", "goal": "SIMULATE", "task": "Simulate retries.",
               "after": [{"stage": "state", "section": "Revised Algorithm"}]}]
    path = write_chain(chains, {"stages": stages})
    fake_gemini.enqueue(ok("## Analysis\nNo algorithm here.\n\n```\n# Revised Algorithm\n```\n"
                           "**Notes**\n"))
    code, out, _ = chain(capsys, lib, path)
    assert code == 3 and fake_gemini.count == 1
    where = answer_path(lib, "state")  # not below the current folder: named whole
    assert ('retries blocked: stage state\'s answer has no section "Revised Algorithm" (its '
            'headings: "Analysis", "**Notes**"). Either edit that answer by hand '
            f'({where}) to add the section, or change the section stage retries names for '
            "state in the chain file") in " ".join(out.split())
    # The answer is kept: running the chain as it stands would only block again.
    assert "again" not in out
    assert "To finish, edit the answer or the chain file as said above, then run:" in out


@pytest.mark.parametrize("heading", ["### 2. Revised Algorithm", "## **Revised Algorithm**",
                                     "**3. Revised Algorithm**", "## Step 2: Revised Algorithm"],
                         ids=["numbered", "bold-heading", "bold-line", "step"])
def test_a_section_under_a_real_models_heading_is_handed_on(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path, fake_gemini: FakeGemini,
        heading: str) -> None:
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state."},
              {"name": "retries", "goal": "SIMULATE", "task": "Simulate retries.",
               "after": [{"stage": "state", "section": "Revised Algorithm"}]}]
    path = write_chain(chains, {"stages": stages})
    fake_gemini.enqueue(ok(ANSWER.replace("## Revised Algorithm", heading)
                           .replace("## Risks", "**Risks**" if "**3." in heading else "## Risks")))
    code, out, _ = chain(capsys, lib, path)
    assert code == 0, out
    later = fake_gemini.requests[-1].prompt
    assert (f"{heading}\n1. Write a journal line per item.\n2. Skip journalled items on "
            "restart.\n</document>") in later
    assert "The journal grows." not in later


def test_a_heading_shown_in_a_longer_code_fence_does_not_shadow_the_section(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state."},
              {"name": "retries", "goal": "SIMULATE", "task": "Simulate retries.",
               "after": [{"stage": "state", "section": "Revised Algorithm"}]}]
    path = write_chain(chains, {"stages": stages})
    example = "An example answer:\n\n````markdown\n```\n## Revised Algorithm\nWrong.\n```\n````\n"
    fake_gemini.enqueue(ok(example + "\n" + ANSWER))
    assert chain(capsys, lib, path)[0] == 0
    later = fake_gemini.requests[-1].prompt
    assert "1. Write a journal line per item." in later and "Wrong." not in later


def test_the_fakes_default_answer_hands_on_its_bold_line_section(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate state."},
              {"name": "retries", "goal": "SIMULATE", "task": "Simulate retries.",
               "after": [{"stage": "state", "section": "Notes"}]}]
    path = write_chain(chains, {"stages": stages})
    assert chain(capsys, lib, path)[0] == 0
    assert "**2. Notes**\n\n- Written the way real models write" in fake_gemini.requests[-1].prompt


def test_an_answer_edited_by_hand_is_kept_and_handed_on(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    assert chain(capsys, lib, path)[0] == 0
    edited = answer_path(lib, "state")
    edited.write_text("## Revised Algorithm\nA person's last-mile correction.\n")
    code, out, _ = chain(capsys, lib, path, "--force")
    assert code == 0
    assert [task_of(r) for r in fake_gemini.requests[4:]] == ["Merge them."]
    assert "A person's last-mile correction." in fake_gemini.requests[-1].prompt
    assert edited.read_text() == "## Revised Algorithm\nA person's last-mile correction.\n"
    assert "edited by hand" in out
    report = json.loads(chain(capsys, lib, path, "--json")[1])
    assert [s["edited"] for s in report["stages"]] == [True, False, False, False]
    assert fake_gemini.count == 5


def test_a_dry_run_says_what_would_run_and_what_is_kept(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    code, out, _ = chain(capsys, lib, path, "--dry-run")
    assert code == 0 and fake_gemini.count == 0 and not (lib / "output").exists()
    rows = [ln for ln in out.splitlines() if "  SIMULATE  " in ln or "  SYNTH  " in ln]
    assert [ln.split()[2:4] for ln in rows] == [["would", "run"]] * 4
    # Why each would run: new, and the synthesis after stages not answered yet.
    assert "\nstate: would run: new\n" in out
    assert "\nsynthesis: would run: upstream state, retries, recovery run first\n" in out
    assert chain(capsys, lib, path)[0] == 0
    (chains / "ev" / "state.txt").write_text("changed\n")
    code, out, _ = chain(capsys, lib, path, "--dry-run")
    rows = [ln for ln in out.splitlines() if "  SIMULATE  " in ln or "  SYNTH  " in ln]
    assert [ln.split()[2] for ln in rows] == ["would", "cached", "cached", "would"]
    assert "\nstate: would run: its inputs changed (task, evidence, toolkit or settings)\n" \
        in out
    assert "\nsynthesis: would run: upstream state runs first\n" in out
    assert fake_gemini.count == 4


@pytest.mark.parametrize(("stages", "message"), [
    ([{"name": "a", "goal": "SIMULATE", "task": "t", "after": ["b"]},
      {"name": "b", "goal": "SIMULATE", "task": "t", "after": ["a"]}],
     "stages a -> b -> a form a cycle"),
    ([{"name": "a", "goal": "SIMULATE", "task": "t", "after": ["stat"]},
      {"name": "state", "goal": "SIMULATE", "task": "t"}],
     'stage "a": "after" names no stage "stat" (did you mean "state"?)'),
    ([{"name": "a", "goal": "SIMULATEE", "task": "t"}],
     'stage "a": "goal" names no goal "SIMULATEE" (did you mean "SIMULATE"?)'),
    ([{"name": "a", "goal": "SIMULATE", "task": "t"}, {"name": "a", "goal": "SYNTH",
                                                       "task": "t"}],
     'stage "a": the name is used twice'),
    ([{"name": "a", "goal": "SIMULATE", "task": "t", "evidence": ["nope.log"]}],
     'stage "a": "evidence" nope.log: no such file or folder (relative to the chain file)'),
    ([{"name": "a", "goal": "SIMULATE", "taks": "t"}],
     'stage "a": "taks" is not a known field (did you mean "task"?)'),
    ([{"name": "a", "goal": "SIMULATE", "task": "t", "task_file": "x.md"}],
     'stage "a": "task" or "task_file": give exactly one'),
    ([{"name": "../a", "goal": "SIMULATE", "task": "t"}], 'stage "../a": "name"'),
    ([{"name": "a", "goal": "SIMULATE", "task": "t", "attempts": 2}],
     '"attempts" goes with "grade": true'),
], ids=["cycle", "unknown-after", "unknown-goal", "duplicate", "missing-evidence",
        "unknown-key", "two-tasks", "unsafe-name", "attempts-without-grade"])
def test_a_bad_chain_is_refused_before_any_call(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini, stages: list[dict[str, Any]], message: str) -> None:
    path = write_chain(chains, {"stages": stages})
    code, out, err = chain(capsys, lib, path)
    assert code == 1 and message in err, err
    assert err.startswith(f"error: {path}:") and err.count("\n") == 1
    assert fake_gemini.count == 0 and not (lib / "output").exists()


def test_chain_file_errors_name_the_line(capsys: pytest.CaptureFixture[str], lib: Path,
                                         chains: Path) -> None:
    path = write_chain(chains, '{\n  "stages": [\n    {"name": "a", "goal": "NOPE", '
                               '"task": "t"}\n  ]\n}\n')
    code, _, err = chain(capsys, lib, path)
    assert code == 1 and err.startswith(f'error: {path}:3:19: stage "a": "goal" names no goal')
    assert main(["--root", str(lib), "--check", "--chain", str(path)]) == 1
    assert f'error: {path}:3:19: stage "a": "goal" names no goal' in capsys.readouterr().out
    nested = write_chain(chains, "[" * 5000 + "]" * 5000, "deep.json")
    code, _, err = chain(capsys, lib, nested)
    assert code == 1 and "nested too deeply to read" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--chain", "c.json"], "--chain needs --project"),
    (["--chain", "c.json", "--project", "p", "--goal", "AUDIT"], "not --goal"),
    (["--chain", "missing.json", "--project", "p"], "--chain missing.json: no such file"),
], ids=["no-project", "with-goal", "missing-file"])
def test_chain_flags(capsys: pytest.CaptureFixture[str], lib: Path, args: list[str],
                     message: str) -> None:
    code = main(["--root", str(lib), *args])
    assert code in (1, 2) and message in capsys.readouterr().err


def test_quiet_keeps_one_line_for_an_unfinished_chain(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    path = four_stages(chains)
    fake_gemini.fail_when("Simulate the state design.", error(400, "INVALID_ARGUMENT", "no"))
    code, out, err = chain(capsys, lib, path, "-q")
    assert (code, out) == (3, "")
    assert err == (f"{lib}/output/p/ is incomplete; to finish, run again: python "
                   f"orchestrator.py --root {lib} --chain {path} --project p\n")


# Hostile chain files and output folders


def test_paths_stay_in_the_chain_s_folder_unless_it_says_otherwise(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    (tmp_path / "outside.txt").write_text("the secret\n")
    chains.mkdir(parents=True)
    (chains / "link.txt").symlink_to(tmp_path / "outside.txt")
    up = "../" * len(chains.parts)
    stages = [{"name": "a", "goal": "SIMULATE", "task_file": f"{up}etc/hostname"},
              {"name": "b", "goal": "SIMULATE", "task": "t", "evidence": ["/etc/passwd"]},
              {"name": "c", "goal": "SIMULATE", "task": "t", "evidence": ["link.txt"]},
              {"name": "d", "goal": "SIMULATE", "task": "t", "evidence": ["../../outside.txt"]}]
    path = write_chain(chains, {"stages": stages})
    assert main(["--root", str(lib), "--check", "--chain", str(path)]) == 1
    out = capsys.readouterr().out
    for line, item in ((6, f"{up}etc/hostname"), (12, "/etc/passwd"), (20, "link.txt"),
                       (28, "../../outside.txt")):
        assert re.search(rf"{path}:{line}:7: stage \"\w\": \"(task_file|evidence)\" "
                         rf"{re.escape(item)}: leads outside the chain file's folder", out), out
    code, _, err = chain(capsys, lib, path)
    assert code == 1 and "leads outside" in err and fake_gemini.count == 0
    assert not (lib / "output").exists()
    allowed = write_chain(chains, {"allow_outside": True, "stages": stages}, "allowed.json")
    assert main(["--root", str(lib), "--check", "--chain", str(allowed)]) == 0
    bad = write_chain(chains, {"allow_outside": "yes", "stages": stages[:1]}, "bad.json")
    assert main(["--root", str(lib), "--check", "--chain", str(bad)]) == 1
    assert '"allow_outside" must be true or false' in capsys.readouterr().out


@pytest.mark.parametrize(("stage", "message"), [
    ({"name": "CHAIN.md"}, "\"name\" 'CHAIN.md' is reserved"),
    ({"name": "chain.md"}, "is reserved"),
    ({"name": "runs"}, "is reserved"),
    ({"name": "Report.html"}, "is reserved"),  # --report writes output/<project>/report.html
    ({"task": "caf\\ud800"}, '"task" holds a lone surrogate'),
    ({"evidence": ["ev/\\udc80"]}, '"evidence" holds a lone surrogate'),
    ({"after": [{"stage": "x", "section": "\\ud800"}]}, '"after" holds a lone surrogate'),
], ids=["chain-md", "chain-md-lower", "runs", "report-html", "surrogate-task", "surrogate-path",
        "surrogate-section"])
def test_reserved_names_and_lone_surrogates_are_refused_at_validation(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini, stage: dict[str, Any], message: str) -> None:
    spec = {"name": "a", "goal": "SIMULATE", "task": "t"} | stage
    path = write_chain(chains, json.dumps({"stages": [spec]}).replace("\\\\u", "\\u"))
    code, out, err = chain(capsys, lib, path)
    assert code == 1 and message in err and err.count("\n") == 1, err
    assert err.startswith(f"error: {path}:") and fake_gemini.count == 0


def test_a_lone_surrogate_in_the_description_is_refused(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path) -> None:
    path = write_chain(chains, '{"description": "a \\udfff", "stages": [{"name": "a", '
                               '"goal": "SIMULATE", "task": "t"}]}')
    code, _, err = chain(capsys, lib, path)
    assert code == 1 and '"description" holds a lone surrogate' in err
    assert "\\udfff" not in err or err.count("\n") == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_as_evidence_or_task_is_refused_at_validation(
        capsys: pytest.CaptureFixture[str], lib: Path, chains: Path,
        fake_gemini: FakeGemini) -> None:
    chains.mkdir(parents=True)
    os.mkfifo(chains / "pipe")
    path = write_chain(chains, {"stages": [
        {"name": "a", "goal": "SIMULATE", "task": "t", "evidence": ["pipe"]},
        {"name": "b", "goal": "SIMULATE", "task_file": "pipe"}]})
    code, out, err = chain(capsys, lib, path)
    assert code == 1 and "pipe: is a named pipe (FIFO); give a regular file or folder" in err
    assert "same command" not in out + err and fake_gemini.count == 0
    assert main(["--root", str(lib), "--check", "--chain", str(path)]) == 1
    assert '"task_file" pipe: is a named pipe (FIFO); give a regular file' in \
        capsys.readouterr().out


def limited_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The real command with 2 GB of address space: reading /dev/zero whole fails fast."""
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=60, preexec_fn=limit,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_a_chain_index_that_is_not_a_file_is_refused_before_any_stage(
        lib: Path, chains: Path, fake_gemini: FakeGemini, kind: str) -> None:
    path = four_stages(chains)
    out = lib / "output/p"
    out.mkdir(parents=True)
    index = out / "CHAIN.md"
    if kind == "fifo":
        os.mkfifo(index)
    elif kind == "dev-zero":
        index.symlink_to("/dev/zero")
    else:
        index.mkdir()
    result = limited_cli("--root", lib, "--chain", path, "--project", "p")
    assert result.returncode == 1, result.stderr
    what = {"fifo": "a named pipe (FIFO)", "dev-zero": "a symbolic link", "folder": "a folder"}
    assert result.stderr == (f"error: {index}: is {what[kind]}, where this tool keeps the "
                             "chain's index; move it away\n")
    assert fake_gemini.count == 0
    index.unlink() if kind != "folder" else index.rmdir()
    assert limited_cli("--root", lib, "--chain", path, "--project", "p").returncode == 0
    assert index.read_text().startswith("# Chain:")
