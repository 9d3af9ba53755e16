"""Locks out of the folders people browse (issue 32.11): each in its toolkit's or parts
bin's hidden .locks/, which keeps itself out of git status."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.conftest import MakeLibrary
from tests.fake_gemini import FakeGemini
from tests.test_chain import GOALS, PARTS, write_chain
from tests.test_grade import grading

pytestmark = pytest.mark.usefixtures("fast_retries")


def full_loop(root: Path, tmp_path: Path) -> None:
    """A part generated, three samples run and graded, and a two-stage chain."""
    base = ["--root", str(root), "-q"]
    assert main([*base, "-g", "SIMULATE", "-p", "s", "--task", "Pick a cache design.",
                 "--samples", "3", "--grade"]) == 0
    path = write_chain(tmp_path / "c", {"stages": [
        {"name": "one", "goal": "SIMULATE", "task": "Simulate one.", "grade": True},
        {"name": "two", "goal": "SYNTH", "task": "Merge.", "after": ["one"]}]})
    assert main([*base, "--chain", str(path), "-p", "c"]) == 0


def test_a_full_loop_leaves_no_lock_in_a_folder_people_browse(
        make_library: MakeLibrary, tmp_path: Path, fake_gemini: FakeGemini) -> None:
    parts = {k: v for k, v in PARTS.items() if k != "personas/principal.txt"}
    root = make_library(GOALS, parts)  # the synthesis' persona is generated, under a lock
    shutil.copy(Path(__file__).parents[1] / "components/.gitignore",
                root / "components/.gitignore")  # as --init copies it
    grading(fake_gemini)
    full_loop(root, tmp_path)
    assert (root / "components/personas/principal.txt").is_file()
    locks = sorted(str(p.relative_to(root)) for p in root.rglob("*.lock"))
    assert locks and all("/.locks/" in f"/{name}" for name in locks), locks
    # One .locks/ per toolkit (a chain's stage is a toolkit of its own) and the parts bin.
    assert sorted(str(p.relative_to(root)) for p in root.rglob(".locks")) == [
        "components/.locks", "output/c/one/.locks", "output/c/two/.locks", "output/s/.locks"]
    for folder in root.rglob(".locks"):
        assert (folder / ".gitignore").read_text().splitlines()[0] == "*"
    # Nothing of them in a repository's status (whatever its own .gitignore says).
    if shutil.which("git") is None:
        pytest.skip("no git")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                             "--untracked-files=all"], capture_output=True, text=True,
                            check=True).stdout
    assert ".lock" not in status and "output/s/runs/" in status


def test_two_processes_still_share_one_lock_per_run(
        make_library: MakeLibrary, fake_gemini: FakeGemini) -> None:
    """The same run, made by the project's command and by --fresh, takes one lock file."""
    from meta_prompting.runs.run import run_lock

    root = make_library(GOALS, PARTS)
    assert main(["--root", str(root), "-q", "-g", "SIMULATE", "-p", "s", "--task", "T.",
                 "--run"]) == 0
    [folder] = [p for p in (root / "output/s/runs").iterdir()]
    lock = run_lock(folder.parent, folder.name)
    assert lock == root / "output/s/.locks" / f"run-{folder.name}.lock" and lock.is_file()
    record = json.loads((folder / "run.json").read_text())
    assert record["run_id"] == folder.name
