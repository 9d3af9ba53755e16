"""The command line, in-process: main([...]) with exact output and exit codes."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    def run(*args: str | Path) -> Result:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def builtin_counts(project: dict) -> tuple[int, int]:
    """Goals and parts of a project library's map merged over the built-in one."""
    builtin = json.loads((REPO / "goal_map.json").read_text())
    merged = {**builtin, **project}
    parts = {(kind, name) for spec in merged.values()
             for kind, name in [("persona", spec["persona"]), ("protocol", spec["protocol"]),
                                *(("constraint", c) for c in spec["constraints"])]}
    return len(merged), len(parts)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_build_writes_the_toolkit_and_says_so(run, audit_lib: Path) -> None:
    r = run("--root", audit_lib, "--goal", "audit", "--project", "demo")
    assert r.code == 0, r.err
    out = audit_lib / "output" / "demo"
    assert r.err == ""
    assert r.out.splitlines()[:3] == [
        f"Built {out}/ for goal AUDIT (complete)",
        "  00_PERSONA.md            created",
        "  01_PROMPT_TEMPLATE.md    created",
    ]
    assert (out / "00_PERSONA.md").read_text() == "You are an auditor.\n"
    assert "Cite file:line." in (out / "01_PROMPT_TEMPLATE.md").read_text()


def test_rebuilding_is_idempotent(run, audit_lib: Path) -> None:
    run("--root", audit_lib, "-g", "AUDIT", "-p", "demo")
    before = snapshot(audit_lib)
    r = run("--root", audit_lib, "-g", "AUDIT", "-p", "demo")
    assert r.code == 0
    assert "00_PERSONA.md            unchanged" in r.out
    assert snapshot(audit_lib) == before


def test_root_from_the_environment_and_the_current_folder(run, audit_lib: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("META_PROMPTING_ROOT", str(audit_lib))
    assert run("-g", "AUDIT", "-p", "a").code == 0
    monkeypatch.delenv("META_PROMPTING_ROOT")
    monkeypatch.chdir(audit_lib)
    r = run("-g", "AUDIT", "-p", "b")
    assert r.code == 0
    assert r.out.startswith("Built output/b/ for goal AUDIT")


def test_dry_run_writes_nothing(run, audit_lib: Path) -> None:
    before = snapshot(audit_lib)
    r = run("--root", audit_lib, "-g", "AUDIT", "-p", "demo", "--dry-run")
    assert r.code == 0
    assert "would create" in r.out
    assert snapshot(audit_lib) == before
    assert not (audit_lib / "output").exists()


def test_quiet_prints_nothing(run, audit_lib: Path) -> None:
    r = run("--root", audit_lib, "-g", "AUDIT", "-p", "demo", "-q")
    assert (r.code, r.out, r.err) == (0, "", "")


def test_json_build_is_one_document(run, audit_lib: Path) -> None:
    r = run("--root", audit_lib, "-g", "AUDIT", "-p", "demo", "--json")
    data = json.loads(r.out)
    assert data["ok"] is True and data["complete"] is True and data["exit_code"] == 0
    assert [p["file"] for p in data["parts"]] == [
        "personas/auditor.txt", "protocols/review.txt", "constraints/evidence.txt",
        "constraints/brief.md"]
    assert data["files"] == [{"name": "00_PERSONA.md", "action": "create"},
                             {"name": "01_PROMPT_TEMPLATE.md", "action": "create"}]


def test_manifest_records_parts_and_files(run, audit_lib: Path) -> None:
    run("--root", audit_lib, "-g", "AUDIT", "-p", "demo")
    manifest = json.loads((audit_lib / "output/demo/manifest.json").read_text())
    assert manifest["goal"] == "AUDIT" and manifest["complete"] is True
    assert manifest["tool"] == "meta-prompting"
    assert [p["source"] for p in manifest["parts"]] == ["library"] * 4
    assert set(manifest["files"]) == {"00_PERSONA.md", "01_PROMPT_TEMPLATE.md"}


def test_hand_edits_stop_a_rebuild(run, audit_lib: Path) -> None:
    run("--root", audit_lib, "-g", "AUDIT", "-p", "demo")
    edited = audit_lib / "output/demo/01_PROMPT_TEMPLATE.md"
    edited.write_text("my task, filled in\n")
    (audit_lib / "components/constraints/brief.md").write_text("Be terse.\n")
    r = run("--root", audit_lib, "-g", "AUDIT", "-p", "demo")
    assert r.code == 1
    assert r.out == ""
    assert r.err.startswith("error: ")
    assert "01_PROMPT_TEMPLATE.md (edited since the last build)" in r.err
    assert "--force" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert edited.read_text() == "my task, filled in\n"
    assert run("--root", audit_lib, "-g", "AUDIT", "-p", "demo", "--force").code == 0
    assert "Be terse." in edited.read_text()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["-g", "AUDT", "-p", "x"], 1,
                     'error: unknown goal "AUDT"; did you mean "AUDIT"? Valid goals: AUDIT',
                     id="unknown-goal"),
        pytest.param(["-g", "AUDIT", "-p", "../x"], 1, "error: --project: project name '../x' "
                     "must be a bare name, with no '/' or '..'", id="traversal-project"),
        pytest.param(["-g", "AUDIT", "-p", "/tmp/x"], 1, "must be a bare name", id="abs-project"),
        pytest.param(["-g", "AUDIT", "-p", ""], 1, "must not be empty", id="empty-project"),
        pytest.param(["-g", "AUDIT", "-p", ".git"], 1, "must not start with a dot",
                     id="dot-project"),
        pytest.param(["-g", "AUDIT"], 1, "error: --project needed (no terminal, so no questions "
                     "are asked): e.g. python orchestrator.py --goal AUDIT --project demo",
                     id="no-project"),
        pytest.param(["--bogus"], 2, "error: unrecognized arguments: --bogus", id="bad-flag"),
        pytest.param(["--list", "--check"], 2, "not allowed with argument", id="list-and-check"),
        pytest.param(["--check", "-g", "AUDIT"], 2, "--check looks at the whole library",
                     id="check-with-goal"),
    ],
)
def test_bad_input_is_one_line_with_an_exit_code(run, audit_lib: Path, args: list[str], code: int,
                                                 message: str) -> None:
    before = snapshot(audit_lib)
    r = run("--root", audit_lib, *args)
    assert r.code == code
    assert message in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert "Traceback" not in r.err
    assert r.out == ""
    assert snapshot(audit_lib) == before


def test_errors_under_json_are_one_document_too(run, audit_lib: Path) -> None:
    for args, code in ((["-g", "NOPE", "-p", "x"], 1), (["--bogus"], 2)):
        r = run("--root", audit_lib, "--json", *args)
        data = json.loads(r.out)
        assert data["ok"] is False and data["exit_code"] == code == r.code
        assert data["error"]


def test_a_malformed_map_names_file_line_and_column(run, make_library: MakeLibrary) -> None:
    root = make_library('{\n  "AUDIT": {\n    "persona": "a.txt",\n  }\n}\n')
    r = run("--root", root, "-g", "AUDIT", "-p", "x")
    assert r.code == 1
    # The cause is the running Python's json's words (3.13 says "Illegal trailing comma"
    # at 3:23, 3.12 "Expecting property name" at 4:3); the one line naming where is ours.
    with pytest.raises(json.JSONDecodeError) as e:
        json.loads((root / "goal_map.json").read_text())
    assert r.err == f"error: goal_map.json:{e.value.lineno}:{e.value.colno}: invalid JSON: " \
                    f"{e.value.msg}\n"
    assert not (root / "output").exists()


def test_a_schema_error_refuses_the_whole_map(run, make_library: MakeLibrary) -> None:
    goals = {**AUDIT, "DEBUG": {"persona": "auditor.txt", "protocol": "x.txt",
                                "constraints": "evidence.txt"}}
    root = make_library(goals, AUDIT_PARTS)
    r = run("--root", root, "-g", "AUDIT", "-p", "x")
    assert r.code == 1
    assert r.err == ('error: goal_map.json:14:5: goal "DEBUG": "constraints" must be a list of '
                     'file names\n')
    assert not (root / "output").exists()


def test_a_missing_part_without_a_key_becomes_a_placeholder(run, make_library: MakeLibrary
                                                             ) -> None:
    parts = {k: v for k, v in AUDIT_PARTS.items() if k != "protocols/review.txt"}
    root = make_library(AUDIT, {**parts, "constraints/brief.md": " \n\t\n"})
    r = run("--root", root, "-g", "AUDIT", "-p", "x")
    assert r.code == 3
    assert r.out.splitlines() == [
        f"Built {root}/output/x/ for goal AUDIT (INCOMPLETE)",
        "  00_PERSONA.md            created",
        "  01_PROMPT_TEMPLATE.md    created",
        "Placeholder for protocols/review.txt: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)",
        "Placeholder for constraints/brief.md: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)",
        "To finish: fix the cause above, then run again:",
        f"  python orchestrator.py --root {root} --goal AUDIT --project x",
    ]
    assert not (root / "components/protocols/review.txt").exists()
    assert (root / "components/constraints/brief.md").read_text() == " \n\t\n"


def test_a_part_linking_outside_its_folder_is_never_read(run, make_library: MakeLibrary,
                                                         tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items()
                                if k != "personas/auditor.txt"})
    os.symlink(secret, root / "components/personas/auditor.txt")
    r = run("--root", root, "-g", "AUDIT", "-p", "x")
    assert r.code == 1
    assert "personas/auditor.txt is unsafe" in r.err and "outside" in r.err
    assert not (root / "output").exists()
    r = run("--root", root, "--check")
    assert r.code == 1 and "personas/auditor.txt is unsafe" in r.out
    assert "TOP SECRET" not in r.out + r.err


def test_an_output_folder_linking_elsewhere_is_refused(run, audit_lib: Path, tmp_path: Path
                                                       ) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (audit_lib / "output").mkdir()
    os.symlink(elsewhere, audit_lib / "output" / "x")
    r = run("--root", audit_lib, "-g", "AUDIT", "-p", "x")
    assert r.code == 1 and "outside" in r.err
    assert list(elsewhere.iterdir()) == []


def test_a_part_that_is_not_utf8_is_unreadable(run, make_library: MakeLibrary) -> None:
    root = make_library(AUDIT, {**AUDIT_PARTS, "protocols/review.txt": b"\xff\xfe bad"})
    r = run("--root", root, "-g", "AUDIT", "-p", "x")
    assert r.code == 1
    assert "protocols/review.txt is unreadable" in r.err and "not UTF-8" in r.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_a_permission_error_names_the_path(run, audit_lib: Path) -> None:
    (audit_lib / "output").mkdir()
    (audit_lib / "output").chmod(0o500)
    try:
        r = run("--root", audit_lib, "-g", "AUDIT", "-p", "x")
    finally:
        (audit_lib / "output").chmod(0o700)
    assert r.code == 1 and "permission denied" in r.err and str(audit_lib / "output") in r.err


def test_root_errors(run, tmp_path: Path) -> None:
    r = run("--root", tmp_path / "nowhere", "--list")
    assert (r.code, r.err) == (1, f"error: --root {tmp_path / 'nowhere'}: no such folder\n")
    r = run("--root", tmp_path, "--list")
    assert (r.code, r.err) == (1, f"error: --root {tmp_path}: no goal_map.json in that folder "
                                  f"(start one with: meta-prompting --init {tmp_path})\n")


def test_list_shows_goals_parts_and_status(run, make_library: MakeLibrary) -> None:
    root = make_library(AUDIT, {k: v for k, v in AUDIT_PARTS.items() if "brief" not in k})
    r = run("--root", root, "--list")
    assert r.code == 0
    assert "AUDIT" in r.out and "Review a change" in r.out
    assert "  constraint  brief.md      missing\n" in r.out
    data = json.loads(run("--root", root, "--list", "--json").out)
    assert data["goals"][0]["complete"] is False
    assert data["goals"][0]["parts"][3] == {
        "kind": "constraint", "file": "constraints/brief.md", "status": "missing",
        "generated": False, "layer": None, "overrides": [],
        "path": str(root / "components/constraints/brief.md")}
    assert data["goals"][0]["layer"] == "project"
    assert data["goals"][0]["overrides"] == ["built-in"]  # the built-in AUDIT


def test_check_passes_a_clean_library_and_lists_every_problem(run, audit_lib: Path,
                                                              make_library: MakeLibrary) -> None:
    r = run("--root", audit_lib, "--check")
    assert r.code == 0
    # The built-in library's goals count too (AUDIT is the project's, over the built-in one).
    n_goals, n_parts = builtin_counts(AUDIT)
    assert r.out == f"ok: {n_goals} goals, {n_parts} parts, 0 errors, 0 warnings in {audit_lib}/\n"
    goals = {**AUDIT, "BAD": {"persona": "../x.txt", "protocol": "p.txt", "constraints": []}}
    parts = {**AUDIT_PARTS, "constraints/spare.txt": "unused", "constraints/brief.md": ""}
    root = make_library(goals, parts)
    (root / "components/personas/.auditor.txt.lock").write_text("")
    r = run("--root", root, "--check")
    assert r.code == 1
    assert r.out.splitlines() == [
        "error: goal_map.json:12:5: goal \"BAD\": \"persona\" '../x.txt' must be a bare file "
        "name, with no directory part",
        f"error: constraints/brief.md is empty ({root}/components/constraints/brief.md); "
        "needed by AUDIT",
        "warning: constraints/spare.txt is in the parts bin but no goal uses it",
        f"FAILED: {n_goals} goals, {n_parts} parts, 2 errors, 1 warning in {root}/",
    ]
    data = json.loads(run("--root", root, "--check", "--json").out)
    assert data["ok"] is False and data["exit_code"] == 1 and len(data["findings"]) == 3


def test_version_and_help(run) -> None:
    r = run("--version")
    assert (r.code, r.out) == (0, "meta-prompting 0.2.0\n")
    r = run("--help")
    assert r.code == 0
    assert "--goal GOAL" in r.out and "examples:" in r.out and "exit codes:" in r.out


SNAPSHOTS = Path(__file__).parent / "snapshots"
# argparse 3.13 wraps the usage differently and names a metavar once ("--jobs, -j N"),
# so each layout has its snapshot: every byte of the help is still checked.
HELP_SNAPSHOT = SNAPSHOTS / ("help-3.13.txt" if sys.version_info >= (3, 13) else "help.txt")


def test_help_snapshot(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr("sys.argv", ["orchestrator.py"])
    assert run("--help").out == HELP_SNAPSHOT.read_text(), (
        f"--help changed: refresh {HELP_SNAPSHOT.name}, and the other snapshot in "
        f"{SNAPSHOTS} (its Python lays the same words out its own way)")


def test_the_help_snapshots_say_the_same_words() -> None:
    def words(text: str) -> str:  # 3.10's "--jobs N, -j N" is 3.13's "--jobs, -j N"
        return re.sub(r"(--[\w-]+) (\S+), (-\w) \2\b", r"\1, \3 \2", " ".join(text.split()))

    assert words((SNAPSHOTS / "help.txt").read_text()) == words(
        (SNAPSHOTS / "help-3.13.txt").read_text())


def test_no_library_anywhere_uses_the_built_in_one(run) -> None:
    # From a folder without a goal_map.json and with no user library: the built-in goals.
    r = run("-g", "AUDIT", "-p", "x")
    assert r.code == 0, r.err
    assert r.out.startswith("Built output/x/ for goal AUDIT (complete)")
    assert (Path.cwd() / "output/x/00_PERSONA.md").is_file()
    assert not (Path.cwd() / "components").exists()


def test_an_output_that_is_a_file_is_refused_before_writing(run, audit_lib: Path) -> None:
    (audit_lib / "output").write_text("not a folder")
    r = run("--root", audit_lib, "-g", "AUDIT", "-p", "x")
    assert (r.code, r.err) == (1, f"error: {audit_lib / 'output'} is a file, not a folder: "
                                  f"cannot make {audit_lib / 'output' / 'x'} there\n")
    r = run("--root", audit_lib, "-g", "AUDIT", "-p", "x", "--json")
    assert json.loads(r.out)["exit_code"] == 1
