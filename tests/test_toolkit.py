"""Rendering the toolkit (pure) and writing it without losing a person's edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meta_prompting.cli import main
from meta_prompting.errors import ConflictError
from meta_prompting.files import sha256_bytes, write_atomic
from meta_prompting.library import Goal, Part
from meta_prompting.toolkit import (
    MANIFEST_FILE,
    PERSONA_FILE,
    TEMPLATE_FILE,
    Filled,
    plan_writes,
    render_files,
    render_manifest,
    write_toolkit,
)
from tests.conftest import AUDIT, AUDIT_PARTS, MakeLibrary

GOAL = Goal("AUDIT", "Review a change", Part("persona", "p.txt"), Part("protocol", "q.txt"),
            (Part("constraint", "a.txt"), Part("constraint", "b.md")))
TRICKY = "Use {{x}} and $HOME and {# not a comment #} and {% raw %}.\n\n## A heading\n"


def filled(texts: dict[str, str | None]) -> list[Filled]:
    return [Filled(p, texts.get(p.name), "library" if texts.get(p.name) else "placeholder",
                   reason=None if texts.get(p.name) else "no API key")
            for p in GOAL.parts]


ALL = {"p.txt": "You are P.\n", "q.txt": TRICKY, "a.txt": "Rule A.", "b.md": "Rule B.\n\n\n"}


def test_rendered_template_snapshot() -> None:
    files = render_files(GOAL, filled(ALL), "python orchestrator.py --goal AUDIT --project x")
    assert files[PERSONA_FILE] == b"You are P.\n"
    assert files[TEMPLATE_FILE].decode() == (
        "# AUDIT prompt template\n"
        "\n"
        "Goal: Review a change\n"
        "\n"
        "<!-- Paste 00_PERSONA.md as the system prompt (or first message), then this\n"
        "     file, with the task and evidence blocks at the end filled in. -->\n"
        "\n"
        "## Protocol\n"
        "\n"
        "Use {{x}} and $HOME and {# not a comment #} and {% raw %}.\n"
        "\n"
        "## A heading\n"
        "\n"
        "## Constraints\n"
        "\n"
        "Each of these is non-negotiable.\n"
        "\n"
        "### Constraint 1: a.txt\n"
        "\n"
        "Rule A.\n"
        "\n"
        "### Constraint 2: b.md\n"
        "\n"
        "Rule B.\n"
        "\n"
        "## Your task\n"
        "\n"
        "<task>\n"
        "REPLACE THIS LINE with what you want done, and what a good answer looks like.\n"
        "</task>\n"
        "\n"
        "## Evidence\n"
        "\n"
        "<evidence>\n"
        "REPLACE THIS LINE with the code, logs, documents or data the task is about.\n"
        "</evidence>\n"
    )


def test_rendering_is_deterministic() -> None:
    one = render_files(GOAL, filled(ALL), "cmd")
    two = render_files(GOAL, filled(dict(ALL)), "cmd")
    assert one == two
    assert render_manifest(GOAL, filled(ALL), one) == render_manifest(GOAL, filled(ALL), two)


def test_a_placeholder_names_the_part_the_reason_and_the_command() -> None:
    files = render_files(GOAL, filled({**ALL, "q.txt": None}), "python orchestrator.py --goal "
                         "AUDIT --project x")
    text = files[TEMPLATE_FILE].decode()
    assert ("> **MISSING PART: protocols/q.txt.** This toolkit is incomplete.\n"
            "> Why: no API key.\n"
            "> To finish it, run: `python orchestrator.py --goal AUDIT --project x`\n") in text
    manifest = json.loads(render_manifest(GOAL, filled({**ALL, "q.txt": None}), files))
    assert manifest["complete"] is False
    assert manifest["parts"][1] == {"kind": "protocol", "file": "protocols/q.txt",
                                    "sha256": None, "source": "placeholder",
                                    "reason": "no API key"}


def write(out: Path, texts: dict[str, str | None], force: bool = False) -> list[str]:
    files = render_files(GOAL, filled(texts), "cmd")
    actions = plan_writes(out, files, force)
    write_toolkit(out, files, render_manifest(GOAL, filled(texts), files), actions)
    return [a.action for a in actions]


def test_first_write_then_unchanged_then_replace(tmp_path: Path) -> None:
    out = tmp_path / "output" / "x"
    assert write(out, ALL) == ["create", "create"]
    assert sorted(p.name for p in out.iterdir()) == [PERSONA_FILE, TEMPLATE_FILE, MANIFEST_FILE]
    mtime = (out / PERSONA_FILE).stat().st_mtime_ns
    assert write(out, ALL) == ["unchanged", "unchanged"]
    assert (out / PERSONA_FILE).stat().st_mtime_ns == mtime
    assert write(out, {**ALL, "p.txt": "You are Q.\n"}) == ["replace", "unchanged"]
    assert (out / PERSONA_FILE).read_text() == "You are Q.\n"


def test_a_hand_edit_stops_the_rebuild_and_survives(tmp_path: Path) -> None:
    out = tmp_path / "x"
    write(out, ALL)
    (out / TEMPLATE_FILE).write_text("my notes\n")
    with pytest.raises(ConflictError) as e:
        write(out, {**ALL, "q.txt": "changed"})
    assert e.value.paths == [f"{TEMPLATE_FILE} (edited since the last build)"]
    assert (out / TEMPLATE_FILE).read_text() == "my notes\n"
    # A rebuild with the same parts is a conflict too: it would still undo the edit.
    with pytest.raises(ConflictError):
        write(out, ALL)
    assert write(out, ALL, force=True) == ["unchanged", "replace"]


def test_a_folder_the_tool_did_not_make_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "x"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    with pytest.raises(ConflictError) as e:
        write(out, ALL)
    assert e.value.paths == ["notes.md"]
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]
    write(out, ALL, force=True)
    assert (out / "notes.md").read_text() == "mine"  # never deleted


def test_an_empty_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    assert write(tmp_path / "x", ALL) == ["create", "create"]


def test_an_interrupted_build_finishes_by_rerunning(tmp_path: Path) -> None:
    out = tmp_path / "x"
    files = render_files(GOAL, filled(ALL), "cmd")
    out.mkdir()
    (out / PERSONA_FILE).write_bytes(files[PERSONA_FILE])  # killed before the rest
    (out / f".{TEMPLATE_FILE}.123.abcd.tmp").write_bytes(b"half")  # a write cut short
    assert write(out, ALL) == ["unchanged", "create"]
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["files"][TEMPLATE_FILE] == sha256_bytes(files[TEMPLATE_FILE])


def test_files_the_tool_wrote_may_be_replaced_even_with_other_files_beside(tmp_path: Path) -> None:
    out = tmp_path / "x"
    write(out, ALL)
    (out / "answer.md").write_text("the model's answer, saved by a person")
    assert write(out, {**ALL, "a.txt": "Rule A2."}) == ["unchanged", "replace"]
    assert (out / "answer.md").exists()


def test_a_corrupt_manifest_is_a_conflict(tmp_path: Path) -> None:
    out = tmp_path / "x"
    write(out, ALL)
    (out / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ConflictError) as e:
        write(out, {**ALL, "a.txt": "Rule A2."})
    assert "manifest.json (not a manifest this tool can read)" in e.value.paths


def test_write_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    target = folder / "f.txt"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert [p.name for p in folder.iterdir()] == ["f.txt"]
    assert target.read_bytes() == b"two"


def test_write_atomic_cleans_up_when_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    import os

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    folder = tmp_path / "d"
    folder.mkdir()
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(folder / "f.txt", b"data")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("writes_before_crash", [1, 2, 3])
def test_a_build_killed_mid_write_is_finished_by_the_next_even_if_a_part_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writes_before_crash: int) -> None:
    import meta_prompting.toolkit as toolkit

    out = tmp_path / "x"
    write(out, ALL)
    real = toolkit.write_atomic
    calls = 0

    def crashing(path: Path, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls > writes_before_crash:
            raise KeyboardInterrupt  # the process dies here
        real(path, data)

    monkeypatch.setattr(toolkit, "write_atomic", crashing)
    with pytest.raises(KeyboardInterrupt):
        write(out, {**ALL, "p.txt": "You are P2.\n", "a.txt": "Rule A2."})
    monkeypatch.setattr(toolkit, "write_atomic", real)
    # A part changed again before the re-run: still no conflict, no --force needed.
    final = {**ALL, "p.txt": "You are P3.\n", "a.txt": "Rule A3."}
    write(out, final)
    assert (out / PERSONA_FILE).read_text() == "You are P3.\n"
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert "writing" not in manifest and "previous" not in manifest
    # ...while a real edit is still protected.
    (out / TEMPLATE_FILE).write_text("edited")
    with pytest.raises(ConflictError):
        write(out, ALL)


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from meta_prompting.files import remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    folder = tmp_path / "d"
    folder.mkdir()
    names = [f".a.txt.{dead}.0123abcd.tmp", f".a.txt.{os.getpid()}.89abcdef.tmp",
             f".b.txt.{dead}.0123abcd.tmp", "a.txt", ".a.txt.lock"]
    for name in names:
        (folder / name).write_text("x")
    assert remove_stale_temporaries(folder, "a.txt") == 1  # only the dead process's
    assert sorted(p.name for p in folder.iterdir()) == sorted(names[1:])
    assert remove_stale_temporaries(folder, "a.txt", live_writers=False) == 1  # under a lock
    assert sorted(p.name for p in folder.iterdir()) == sorted(names[2:])


def test_building_another_goal_into_a_project_is_a_conflict(
        capsys: pytest.CaptureFixture[str], make_library: MakeLibrary) -> None:
    goals = {**AUDIT, "OTHER": {**AUDIT["AUDIT"], "description": "Another"}}
    root = make_library(goals, AUDIT_PARTS)
    assert main(["--root", str(root), "-g", "AUDIT", "-p", "x", "-q"]) == 0
    before = (root / "output/x/manifest.json").read_bytes()
    assert main(["--root", str(root), "-g", "OTHER", "-p", "x", "-q"]) == 1
    err = capsys.readouterr().err
    assert "holds a AUDIT toolkit; building OTHER into it would switch its goal" in err
    assert (root / "output/x/manifest.json").read_bytes() == before
    assert main(["--root", str(root), "-g", "OTHER", "-p", "x", "-q", "--force"]) == 0
    assert json.loads((root / "output/x/manifest.json").read_text())["goal"] == "OTHER"
