"""Evidence folders: a walk that stays inside, leaves out what git would, and secrets.

Links, FIFOs and names that are not UTF-8 are real; git's own answer is the reference
for the ignore rules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meta_prompting.evidence.ignore import parse_rule
from meta_prompting.evidence.read import Evidence, collect
from meta_prompting.face.cli import main
from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FakeGemini, ok


def names(evidence: Evidence) -> list[str]:
    return [d.name for d in evidence.filling.documents]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


# Links never lead out


def test_links_out_of_the_folder_are_skipped_with_a_note(tmp_path: Path) -> None:
    ev, outside = tmp_path / "ev", tmp_path / "outside"
    write(outside, {"secret.txt": "the secret\n", "sub/more.txt": "more\n"})
    write(ev, {"a.txt": "a\n", "inner/b.txt": "b\n"})
    (ev / "passwd").symlink_to("/etc/passwd")
    (ev / "link").symlink_to("../outside/secret.txt")
    (ev / "away").symlink_to(outside / "sub", target_is_directory=True)
    (ev / "again").symlink_to("inner", target_is_directory=True)
    (ev / "b-again.txt").symlink_to("inner/b.txt")  # inside: read, under its own name
    (ev / "nowhere").symlink_to("missing.txt")
    (ev / "loop").symlink_to("loop")
    found = collect([str(ev)], "t", base=tmp_path)
    assert names(found) == ["ev/a.txt", "ev/b-again.txt", "ev/inner/b.txt"]
    assert not any("secret" in d.text or "root:" in d.text for d in found.filling.documents)
    notes = "\n".join(found.notes)
    for link in ("passwd", "link", "away"):
        assert f"skipped ev/{link}: a link leading out of {ev}" in notes
    assert "skipped ev/again: a link to a folder" in notes
    assert "skipped ev/nowhere: a link to nothing" in notes
    assert "skipped ev/loop: a link that cannot be followed" in notes


def test_a_folder_named_through_a_link_is_walked(tmp_path: Path) -> None:
    write(tmp_path / "real", {"a.txt": "a\n"})
    (tmp_path / "named").symlink_to("real", target_is_directory=True)
    found = collect([str(tmp_path / "named")], "t", base=tmp_path / "work")
    assert names(found) == ["../named/a.txt"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_in_a_folder_is_skipped_without_opening_it(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    write(ev, {"a.txt": "a\n"})
    os.mkfifo(ev / "pipe")
    (ev / "zero").symlink_to(ev / "pipe")  # a link inside, to a FIFO inside
    found = collect([str(ev)], "t", base=tmp_path)
    assert names(found) == ["ev/a.txt"]
    assert "skipped ev/pipe: is a named pipe (FIFO), not a regular file" in found.notes


# The tool's own results, secrets, git's rules


def test_evidence_dot_never_feeds_the_tool_its_own_output(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary,
        fake_gemini: FakeGemini) -> None:
    lib = make_library(AUDIT, AUDIT_PARTS)
    write(lib, {"src/app.py": "print(1)\n"})
    fake_gemini.default = ok("## Answer\nFine.\n")

    def run() -> int:
        return main(["--root", str(lib), "-g", "AUDIT", "-p", "x", "--task", "Review it.",
                     "--evidence", str(lib), "--run"])

    assert run() == 0
    first = (lib / "output/x/02_PROMPT.md").read_text()
    # Another project's toolkit, away from output/: still the tool's own.
    shutil.copytree(lib / "output/x", lib / "old-toolkit")
    assert run() == 0 and run() == 0
    assert fake_gemini.count == 1  # the same prompt: the cache hits
    assert (lib / "output/x/02_PROMPT.md").read_text() == first
    assert "Fine." not in first and "src/app.py" in first
    err = capsys.readouterr().err
    assert "this tool's own results" in err


def test_secrets_in_a_folder_are_skipped_unless_named(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    secrets = [".env", "prod.env", "id_rsa", "id_rsa.pub", "server.pem", "tls.key",
               "credentials.json", "credentials-prod.json", "cert.p12", "deep/.env.local"]
    write(ev, {name: "KEY=hunter2\n" for name in secrets} | {"app.py": "x = 1\n",
                                                             "keys.py": "k = 1\n"})
    found = collect([str(ev)], "t", base=tmp_path)
    assert names(found) == ["ev/app.py", "ev/keys.py"]
    for name in secrets:
        assert any(n.startswith(f"skipped ev/{name}: may hold secrets") for n in found.notes)
    named = collect([str(ev / "prod.env"), str(ev / ".env")], "t", base=tmp_path)
    assert names(named) == ["ev/prod.env", "ev/.env"]


def test_gitignore_rules_are_git_s(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, {
        ".gitignore": "# build output\n*.log\n!keep.log\nbuild/\n/top.txt\ndocs/**/draft*\n"
                      "a/**/z.txt\n\\#hash.txt\ntrailing.txt   \nnode_modules\n[abc].md\n",
        "app.py": "", "debug.log": "", "keep.log": "", "top.txt": "", "sub/top.txt": "",
        "build/out.txt": "", "sub/build/out.txt": "", "build.txt": "",
        "docs/draft1.md": "", "docs/x/y/draft2.md": "", "docs/final.md": "",
        "a/z.txt": "", "a/b/c/z.txt": "", "#hash.txt": "", "trailing.txt": "",
        "node_modules/m.js": "", "lib/node_modules": "", "a.md": "", "d.md": "",
        "sub/.gitignore": "!debug.log\n*.txt\n!top.txt\n", "sub/debug.log": "",
        "sub/note.txt": "", "sub/deeper/x.txt": "", "excluded.cfg": "", "sub/b/c.md": "",
        "build-keep/.gitignore": "", "build-keep/k.txt": "",
    })
    if shutil.which("git") is None:
        pytest.skip("git is needed as the reference")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".git/info/exclude").write_text("excluded.cfg\n")
    git = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=repo,
                         capture_output=True, text=True, check=True).stdout.split()
    expected = sorted(f for f in git if not any(p.startswith(".") for p in f.split("/")))
    found = collect([str(repo)], "t", base=repo)
    assert sorted(names(found)) == expected
    assert "debug.log" not in expected and "sub/debug.log" in expected  # the sanity check
    every = collect([str(repo)], "t", base=repo, everything=True)
    assert "debug.log" in names(every) and "build/out.txt" in names(every)
    assert any("--evidence-all sends it" in n for n in found.notes)
    # A folder inside the repository: its parents' rules still hold.
    assert names(collect([str(repo / "sub")], "t", base=repo)) == [
        n for n in expected if n.startswith("sub/")]


def test_a_worktree_s_exclude_file_is_found(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is needed")
    main_repo, tree = tmp_path / "main", tmp_path / "tree"
    write(main_repo, {"a.txt": "a\n"})
    for args in (["init", "-q"], ["add", "a.txt"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"],
                 ["worktree", "add", "-q", str(tree)]):
        subprocess.run(["git", *args], cwd=main_repo, check=True)
    (main_repo / ".git/info/exclude").write_text("*.secret-ish\n")
    write(tree, {"b.secret-ish": "x\n"})
    assert names(collect([str(tree)], "t", base=tree)) == ["a.txt"]


def test_the_matcher_handles_odd_patterns() -> None:
    assert parse_rule("") is None and parse_rule("# c") is None and parse_rule("/") is None
    rule = parse_rule("[!a]?.txt")
    assert rule and rule.pattern.match("bx.txt") and not rule.pattern.match("ax.txt")
    assert parse_rule("[unclosed") and parse_rule("[unclosed").pattern.match("[unclosed")
    star = parse_rule("a**b")
    assert star and star.pattern.match("aXb") and not star.pattern.match("a/b")


# Names and tasks that are not UTF-8


def cli(*args: str | bytes, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_file_name_that_is_not_utf8_is_skipped_with_a_note(
        make_library: MakeLibrary, tmp_path: Path) -> None:
    lib = make_library(AUDIT, AUDIT_PARTS)
    ev = tmp_path / "ev"
    write(ev, {"a.txt": "a\n"})
    try:
        (ev / os.fsdecode(b"bad-\xff.txt")).write_text("b\n")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses such names")
    result = cli("--root", str(lib), "-g", "AUDIT", "-p", "x", "--task", "t",
                 "--evidence", "ev", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "skipped ev/bad-\\xff.txt: its name is not UTF-8 text" in result.stderr
    prompt = (lib / "output/x/02_PROMPT.md").read_text()
    assert "ev/a.txt" in prompt and "bad-" not in prompt


@pytest.mark.parametrize("flag", ["--task", "--evidence"])
def test_a_flag_that_is_not_utf8_is_one_line(make_library: MakeLibrary, tmp_path: Path,
                                             flag: str) -> None:
    lib = make_library(AUDIT, AUDIT_PARTS)
    value = os.fsdecode(b"bad \xff byte")
    args = ["--task", value] if flag == "--task" else ["--task", "t", "--evidence", value]
    result = cli("--root", str(lib), "-g", "AUDIT", "-p", "x", *args, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {flag} ") and "not UTF-8" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (lib / "output").exists()
