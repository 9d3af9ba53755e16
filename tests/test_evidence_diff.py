"""--evidence-diff REV: a change as evidence, from a real git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.conftest import MakeLibrary
from tests.fake_gemini import FakeGemini, ok
from tests.test_grade import GOALS, PARTS

KEY = "rt3-secret-key-ABCDEFGHIJ0123"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two commits: the second edits app.py and a binary file, adds new.py and a .env,
    deletes old.txt; then the work tree edits app.py again."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("def pay(amount):\n    return amount\n")
    (repo / "logo.png").write_bytes(b"\x89PNG\0\0\0one")
    (repo / "old.txt").write_text("to be removed\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    (repo / "app.py").write_text("def pay(amount):\n    return round(amount, 2)\n")
    (repo / "logo.png").write_bytes(b"\x89PNG\0\0\0two")
    (repo / "new.py").write_text("RATE = 0.2\n")
    (repo / ".env").write_text("TOKEN=hunter2\n")
    (repo / "old.txt").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second")
    (repo / "app.py").write_text("def pay(amount):\n    return round(amount, 2)  # cents\n")
    monkeypatch.chdir(repo)
    return repo


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library(GOALS, PARTS)


def build(capsys: pytest.CaptureFixture[str], lib: Path, rev: str, *extra: str
          ) -> tuple[int, str, str]:
    code = main(["--root", str(lib), "-g", "SIMULATE", "-p", "d", "--task", "Review it.",
                 f"--evidence-diff={rev}", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def prompt(lib: Path) -> str:
    return (lib / "output/d/02_PROMPT.md").read_text()


def test_the_work_tree_against_a_revision_sends_the_diff_and_the_changed_files(
        capsys: pytest.CaptureFixture[str], lib: Path, repo: Path) -> None:
    code, _, err = build(capsys, lib, "HEAD~1")
    assert code == 0, err
    text = prompt(lib)
    assert 'name="git diff HEAD~1"' in text or "git diff HEAD~1" in text
    assert "+    return round(amount, 2)  # cents" in text  # the work tree's edit
    assert "-old.txt" not in text and "-to be removed" in text  # the deletion, in the diff
    assert "RATE = 0.2" in text  # a new file, whole
    assert "Binary files a/logo.png and b/logo.png differ" in text
    assert "hunter2" not in text and ".env" not in text  # neither in the diff nor whole
    assert "skipped binary file logo.png" in err
    assert "skipped .env: may hold secrets" in err
    assert "deleted by the change: old.txt" in err


def test_a_range_sends_the_files_as_they_stand_at_its_end(
        capsys: pytest.CaptureFixture[str], lib: Path, repo: Path) -> None:
    code, _, err = build(capsys, lib, "HEAD~1..HEAD")
    assert code == 0, err
    text = prompt(lib)
    assert "return round(amount, 2)\n" in text and "# cents" not in text


def test_an_unknown_revision_is_one_line_and_writes_nothing(
        capsys: pytest.CaptureFixture[str], lib: Path, repo: Path) -> None:
    code, out, err = build(capsys, lib, "origin/nope")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "--evidence-diff origin/nope: no revision 'origin/nope'" \
        in err and "git fetch" in err
    assert not (lib / "output/d").exists()


@pytest.mark.parametrize("rev", ["--output=/tmp/x", "", "a\0b"], ids=["option", "empty", "nul"])
def test_a_name_that_is_not_a_revision_is_refused(
        capsys: pytest.CaptureFixture[str], lib: Path, repo: Path, rev: str) -> None:
    code, _, err = build(capsys, lib, rev)
    assert code == 1 and "not a revision" in err and err.count("\n") == 1


def test_outside_a_repository_and_without_git_it_says_so(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    code, _, err = build(capsys, lib, "HEAD")
    assert code == 1 and "is not in a git repository" in err and err.count("\n") == 1
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    code, _, err = build(capsys, lib, "HEAD")
    assert code == 1 and "git is not installed" in err and err.count("\n") == 1


def test_a_changed_file_holding_the_key_is_refused_before_anything_is_sent(
        capsys: pytest.CaptureFixture[str], lib: Path, repo: Path,
        monkeypatch: pytest.MonkeyPatch, fake_gemini: FakeGemini) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    (repo / "new.py").write_text(f"KEY = '{KEY}'\n")
    fake_gemini.responder = lambda r: ok("## Decision\nShip it.\n")
    code, _, err = build(capsys, lib, "HEAD~1", "--run")
    assert code == 1 and "holds the API key" in err
    assert fake_gemini.requests == [] and not (lib / "output/d").exists()


def test_a_run_sends_the_diff_once_and_the_rerun_names_the_flag(
        capsys: pytest.CaptureFixture[str], lib: Path, repo: Path,
        fake_gemini: FakeGemini) -> None:
    fake_gemini.responder = lambda r: ok("## Decision\nShip it.\n")
    code, _, err = build(capsys, lib, "HEAD~1", "--run")
    assert code == 0, err
    [sent] = fake_gemini.requests
    assert "+    return round(amount, 2)  # cents" in sent.prompt
    assert build(capsys, lib, "HEAD~1", "--run")[0] == 0
    assert len(fake_gemini.requests) == 1  # the same change: made once
    (repo / "new.py").write_text("RATE = 0.25\n")
    assert build(capsys, lib, "HEAD~1", "--run")[0] == 0
    assert len(fake_gemini.requests) == 2  # a changed diff is a new run


def test_the_diff_counts_against_the_one_evidence_cap(
        capsys: pytest.CaptureFixture[str], lib: Path, repo: Path) -> None:
    (repo / "big.txt").write_text("x" * 700_000 + "\n")
    git(repo, "add", "big.txt")
    code, _, err = build(capsys, lib, "HEAD")
    assert code == 1 and "over 1024 KiB of text" in err and err.count("\n") == 1


def test_a_chain_refuses_it(capsys: pytest.CaptureFixture[str], lib: Path, repo: Path
                            ) -> None:
    code = main(["--root", str(lib), "--chain", "c.json", "-p", "x", "--evidence-diff", "HEAD"])
    assert code == 2 and "--evidence-diff" in capsys.readouterr().err
