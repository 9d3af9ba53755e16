"""Several real processes at once, and processes killed mid-build: the race and crash rules."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FAKE_API_KEY, FakeGemini, hang, ok

MISSING = ("protocols/review.txt", "constraints/brief.md")


def child_env(fake: FakeGemini) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI")}
    env.update(GEMINI_API_KEY=FAKE_API_KEY, GOOGLE_GEMINI_BASE_URL=fake.base_url,
               NO_PROXY="127.0.0.1,localhost", META_PROMPTING_RETRY_DELAY="0.01")
    return env


def library_missing(make_library: MakeLibrary) -> Path:
    return make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items()
                                if not k.endswith(MISSING)})


def part_files(root: Path) -> dict[str, bytes]:
    """Every file under components/ except the locks (which exist by design)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in (root / "components").rglob("*")
            if p.is_file() and ".locks" not in p.parts}


def test_parallel_builds_make_one_request_per_missing_part(make_library: MakeLibrary) -> None:
    root = library_missing(make_library)
    goal_map = (root / "goal_map.json").read_bytes()
    with FakeGemini(latency=0.5) as fake:
        procs = [subprocess.Popen(
            [sys.executable, str(REPO / "orchestrator.py"), "--root", str(root), "-g", "AUDIT",
             "-p", "shared", "-q"], env=child_env(fake), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True) for _ in range(8)]
        results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
        assert [code for _, _, code in results] == [0] * 8, results
        assert fake.count == len(MISSING)
        assert sorted(r.prompt.split("`")[1] for r in fake.requests) == ["brief.md", "review.txt"]
    out = root / "output" / "shared"
    assert sorted(p.name for p in out.iterdir()) == [
        ".locks", "00_PERSONA.md", "01_PROMPT_TEMPLATE.md", "manifest.json"]
    assert "MISSING PART" not in (out / "01_PROMPT_TEMPLATE.md").read_text()
    assert (root / "goal_map.json").read_bytes() == goal_map


def kill_at(seconds: float, args: list[str], env: dict[str, str], fsync_delay: float = 0.0
            ) -> None:
    cmd = [sys.executable, str(REPO / "tests" / "crashy.py"), str(fsync_delay),
           *args] if fsync_delay else [sys.executable, str(REPO / "orchestrator.py"), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def assert_whole_or_absent(root: Path, texts: dict[str, bytes]) -> None:
    """Each part is absent or exactly a full answer; temporary files are all hidden."""
    for name, data in part_files(root).items():
        path = root / name
        if path.name.startswith("."):
            continue  # a write cut short, or a provenance record: never read as a part
        assert data, f"{name} is empty"
        if name.removeprefix("components/") in MISSING:
            assert data in texts.values(), f"{name} is partial: {data[:60]!r}"


@pytest.mark.parametrize("trial", range(4))
def test_a_killed_build_leaves_nothing_partial_and_the_next_completes(
        make_library: MakeLibrary, trial: int) -> None:
    root = library_missing(make_library)
    goal_map = (root / "goal_map.json").read_bytes()
    answer = ("A whole answer. " * 400).strip() + "\n"  # large enough to write in pieces
    rng = random.Random(trial)
    args = ["--root", str(root), "-g", "AUDIT", "-p", "x"]
    with FakeGemini(latency=0.2, default=ok(answer)) as fake:
        env = child_env(fake)
        # ~1.2 s to the request (start-up, SDK import), then part writes, then the toolkit.
        kill_at(rng.uniform(1.1, 3.0), args, env, fsync_delay=0.15)
        assert_whole_or_absent(root, {"a": answer.encode()})
        toolkit = root / "output" / "x"
        if toolkit.exists():  # whatever toolkit files exist are whole, never a temp file
            for p in toolkit.iterdir():
                assert p.name.startswith(".") or p.stat().st_size > 0
        done = subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *args], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    for key in MISSING:
        assert (root / "components" / key).read_text() == answer
    assert "MISSING PART" not in (root / "output/x/01_PROMPT_TEMPLATE.md").read_text()
    # What the killed run left half-written has been cleared away by the one that finished.
    assert [p.name for p in (root / "output/x").iterdir() if p.name.endswith(".tmp")] == []
    for key in MISSING:
        part = root / "components" / key
        assert not list(part.parent.glob(f".{part.name}.*.tmp"))
    assert (root / "goal_map.json").read_bytes() == goal_map


def test_ctrl_c_during_generation_stops_at_once_and_writes_nothing(
        make_library: MakeLibrary) -> None:
    root = library_missing(make_library)
    before = part_files(root)
    with FakeGemini(default=hang(30)) as fake:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "orchestrator.py"), "--root", str(root), "-g", "AUDIT",
             "-p", "x"], env=child_env(fake), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        deadline = time.monotonic() + 30
        while fake.count < len(MISSING) and time.monotonic() < deadline:
            time.sleep(0.05)  # until both requests are in flight at the server
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "\nStopped by user\n" in err and "Traceback" not in err
    # A build is finished by the same command: it makes the parts still missing.
    assert err.endswith(f"  python orchestrator.py --root {root} -g AUDIT -p x\n")
    assert part_files(root) == before
    assert not (root / "output").exists()


def test_two_builds_of_different_goals_into_one_project_never_mix(
        make_library: MakeLibrary) -> None:
    import hashlib
    import json

    goals = {**AUDIT, "OTHER": {**AUDIT["AUDIT"], "protocol": "other.txt"}}
    parts = {**AUDIT_PARTS, "protocols/other.txt": "Other\n\n1. Something else.\n"}
    root = make_library(goals, parts)
    for round_ in range(5):
        procs = [subprocess.Popen([sys.executable, str(REPO / "orchestrator.py"), "--root",
                                   str(root), "-g", goal, "-p", f"p{round_}", "-q"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for goal in ("AUDIT", "OTHER")]
        results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
        codes = sorted(code for *_, code in results)
        assert codes == [0, 1], results  # one built it; the other was told, not mixed in
        assert any("would switch its goal" in err for _, err, _ in results)
        out = root / "output" / f"p{round_}"
        manifest = json.loads((out / "manifest.json").read_text())
        for name, sha in manifest["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == sha
        template = (out / "01_PROMPT_TEMPLATE.md").read_text()
        assert ("Something else." in template) == (manifest["goal"] == "OTHER")
