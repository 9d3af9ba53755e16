"""Hostile and careless inputs met while reading the library and the toolkit.

Each ends in one clear line (or is accepted where it should be), never a hang, a
traceback or a file sent to the model that is not a part. FIFOs, devices and symlinks
are real; anything that could hang runs in a subprocess with a timeout.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from meta_prompting.library.goals import Part, load_library
from meta_prompting.library.mapfile import MAX_DEPTH, _Locator, _parse_json, read_goal_map
from meta_prompting.parts.supply import pick_examples
from meta_prompting.store.files import (
    MAX_PART_NAME,
    NotRegularFile,
    os_reason,
    read_regular,
    real_path,
    remove_stale_temporaries,
)
from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FakeGemini

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own: a hang is a timeout, not a stuck suite."""
    return subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# Parsers are bounded


def test_a_deeply_nested_map_is_one_line(make_library: MakeLibrary) -> None:
    root = make_library('{"AUDIT": ' + deep(100_000) + "}")
    # The place is the bracket that opens level MAX_DEPTH + 1: '{"AUDIT": ' is level 1.
    where = "goal_map.json:1:" + str(len('{"AUDIT": ') + MAX_DEPTH)
    one_line_error(cli("--root", root, "--list"), f"{where}: nested too deeply")
    result = cli("--root", root, "--check")
    assert result.returncode == 1 and "nested too deeply" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_deeply_nested_jobs_file_is_reported(audit_lib: Path) -> None:
    (audit_lib / "generation_jobs.json").write_text('{"a": ' + deep(100_000) + "}")
    result = cli("--root", audit_lib, "--check")
    assert result.returncode == 1, result.stderr
    where = "generation_jobs.json:1:" + str(len('{"a": ') + MAX_DEPTH)
    assert f"error: {where}: nested too deeply to read" in result.stdout


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1, 5000])
def test_the_depth_limit_is_ours_on_every_python(levels: int) -> None:
    # Python 3.13's json reads 5000 levels and 3.10-3.12's overflows near 1000: the limit
    # is checked before json is asked, so a file is refused the same way on each.
    text = "\n  " + deep(levels)
    data, problem = _parse_json(text, "f.json")
    if levels <= MAX_DEPTH:
        assert problem is None and data is not None
    else:
        assert (data, problem) == (None, f"f.json:2:{3 + MAX_DEPTH}: nested too deeply to read")


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = '{"a": "' + "[{" * MAX_DEPTH + '\\"]", "b": ' + deep(3) + "}"
    assert _parse_json(text, "f.json") == ({"a": "[{" * MAX_DEPTH + '"]', "b": [[[]]]}, None)


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_a_deeply_nested_manifest_is_not_ours_even_with_force(audit_lib: Path,
                                                              force: list[str]) -> None:
    out = audit_lib / "output/x"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(deep(100_000))
    result = cli("--root", audit_lib, "-g", "AUDIT", "-p", "x", *force)
    assert "Traceback" not in result.stderr
    if force:
        assert result.returncode == 0, result.stderr
    else:
        one_line_error(result, "manifest.json (not a manifest this tool can read)")


def test_a_map_with_a_byte_order_mark_is_accepted(make_library: MakeLibrary) -> None:
    root = make_library(AUDIT, AUDIT_PARTS)
    path = root / "goal_map.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert main(["--root", str(root), "-g", "AUDIT", "-p", "x", "-q"]) == 0
    assert main(["--root", str(root), "--check", "-q"]) == 0
    jobs = root / "generation_jobs.json"
    jobs.write_bytes(b"\xef\xbb\xbf" + json.dumps({"personas/auditor.txt": "x"}).encode())
    assert main(["--root", str(root), "--check", "-q"]) == 0


@pytest.mark.parametrize("where", ["description", "field"])
def test_a_lone_surrogate_is_refused_where_it_is_read(make_library: MakeLibrary,
                                                      where: str) -> None:
    spec = dict(AUDIT["AUDIT"])
    if where == "description":
        spec["description"] = "bad \ud800 text"
    else:
        spec["n\udfffte"] = "x"
    root = make_library(json.dumps({"AUDIT": spec}))  # ensure_ascii: "\ud800" in the file
    result = cli("--root", root, "--check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert 'goal_map.json:' in result.stdout and '\\ud' in result.stdout
    one_line_error(cli("--root", root, "-g", "AUDIT", "-p", "x"), 'goal "AUDIT"')
    one_line_error(cli("--root", root, "--list", "--json"), 'goal "AUDIT"')


def test_a_lone_surrogate_in_a_jobs_description_is_refused() -> None:
    from meta_prompting.library.mapfile import parse_jobs

    jobs, problems = parse_jobs(json.dumps({"personas/a.txt": "x \ud800"}))
    assert jobs == {} and "lone surrogate" in problems[0]
    problems[0].encode("utf-8")  # printable


def test_twenty_thousand_bad_goals_report_in_one_pass() -> None:
    goals = {f"bad{i}": {"persona": "p.txt", "protocol": "q.txt", "constraints": []}
             for i in range(20_000)}
    text = json.dumps(goals, indent=2)
    specs, problems = read_goal_map(text)
    assert specs == {} and len(problems) == 20_000
    assert problems[0].startswith('goal_map.json:2:3: goal "bad0"')
    assert problems[-1].startswith(f'goal_map.json:{2 + 5 * 19_999}:3: goal "bad19999"')
    # The work: the text is scanned once however many problems are placed.
    where = _Locator(text, "goal_map.json")
    for i in range(0, 20_000, 7):
        where.key(f"bad{i}")
        where.key("persona", after=f"bad{i}")
    assert where.scans == 1


def test_forty_thousand_bad_goals_from_the_real_command(tmp_path: Path) -> None:
    # Quadratic placement took 33 s for 20,000; twice as many would take minutes.
    (tmp_path / "goal_map.json").write_text(json.dumps(
        {f"bad{i}": {"persona": "p.txt"} for i in range(40_000)}, indent=1))
    result = subprocess.run([sys.executable, str(REPO / "orchestrator.py"), "--check",
                             "--json"], capture_output=True, text=True, timeout=90,
                            cwd=tmp_path)
    assert result.returncode == 1
    assert len(json.loads(result.stdout)["findings"]) == 120_000  # name, two fields


def test_the_locator_skips_quotes_inside_strings() -> None:
    text = '{\n  "A": {"description": "say \\"persona\\": here",\n   "persona": 1}}'
    assert _Locator(text, "m").key("persona", after="A") == "m:3:4"


# No read blocks


@needs_fifo
def test_a_fifo_part_is_refused_at_once(audit_lib: Path) -> None:
    part = audit_lib / "components/protocols/review.txt"
    part.unlink()
    os.mkfifo(part)
    one_line_error(cli("--root", audit_lib, "-g", "AUDIT", "-p", "x"),
                   "protocols/review.txt is unreadable", "named pipe (FIFO)")
    result = cli("--root", audit_lib, "--check")
    assert result.returncode == 1
    assert "protocols/review.txt is unreadable" in result.stdout
    assert not (audit_lib / "output").exists()


@needs_fifo
@pytest.mark.parametrize("victim", ["goal_map.json", "generation_jobs.json"])
def test_a_fifo_map_or_jobs_file_is_refused(audit_lib: Path, victim: str) -> None:
    path = audit_lib / victim
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    result = cli("--root", audit_lib, "--check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{victim}: cannot read: is a named pipe (FIFO), not a regular file" in (
        result.stdout + result.stderr)


def test_a_device_as_the_map_is_refused(audit_lib: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    (audit_lib / "goal_map.json").unlink()
    (audit_lib / "goal_map.json").symlink_to("/dev/zero")
    one_line_error(cli("--root", audit_lib, "--list"), "is a character device")


@needs_fifo
def test_fifo_provenance_manifest_and_toolkit_files_never_hang(audit_lib: Path) -> None:
    os.mkfifo(audit_lib / "components/protocols/.review.txt.provenance.json")
    assert cli("--root", audit_lib, "-g", "AUDIT", "-p", "x").returncode == 0
    result = cli("--root", audit_lib, "--check")
    assert "protocols/.review.txt.provenance.json is a named pipe (FIFO)" in result.stdout
    out = audit_lib / "output/x"
    (out / "manifest.json").unlink()
    os.mkfifo(out / "manifest.json")
    one_line_error(cli("--root", audit_lib, "-g", "AUDIT", "-p", "x"),
                   "manifest.json (not a manifest this tool can read)")
    os.mkfifo(out / "notes")  # a person's odd file: named, never opened
    result = cli("--root", audit_lib, "-g", "AUDIT", "-p", "x", "--force")
    assert result.returncode == 0, result.stderr


@needs_fifo
def test_an_unused_fifo_in_a_parts_bin_never_hangs_generation(
        audit_lib: Path) -> None:
    os.mkfifo(audit_lib / "components/personas/zz_pipe.txt")
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from meta_prompting.library.goals import load_library, Part\n"
            "from meta_prompting.parts.supply import pick_examples\n"
            "lib = load_library(Path(sys.argv[1]))\n"
            "goal = lib.goals['AUDIT']\n"
            "print([n for n, _ in pick_examples(lib, Part('persona', 'new.txt'), goal, 5)])\n")
    result = subprocess.run([sys.executable, "-c", code, str(audit_lib)], capture_output=True,
                            text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "zz_pipe.txt" not in result.stdout and "auditor.txt" in result.stdout
    result = cli("--root", audit_lib, "--check")
    assert result.returncode == 1
    assert "personas/zz_pipe.txt is a named pipe (FIFO), not a regular file" in result.stdout


def test_read_regular_caps_what_it_reads(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2048)
    assert read_regular(big, 2048) == b"x" * 2048
    with pytest.raises(NotRegularFile, match="larger than"):
        read_regular(big, 2047)
    link = tmp_path / "link.txt"
    link.symlink_to(big)
    with pytest.raises(NotRegularFile, match="symbolic link"):
        read_regular(link, 4096, follow_links=False)
    with pytest.raises(NotRegularFile, match="folder"):
        read_regular(tmp_path, 10)


# Local files never go to the model


def test_examples_are_only_real_parts(audit_lib: Path, tmp_path: Path) -> None:
    personas = audit_lib / "components/personas"
    (personas / ".env").write_text("GEMINI_API_KEY=secret\n")
    (personas / "notes.docx").write_text("private\n")
    (personas / "CON.txt").write_text("reserved name\n")
    private = tmp_path / "private.txt"
    private.write_text("private\n")
    (personas / "linked.txt").symlink_to(private)
    (personas / "good.md").write_text("You are good.\n")
    library = load_library(audit_lib)
    examples = pick_examples(library, Part("persona", "new.txt"), library.goals["AUDIT"], 20)
    names = [name for name, _ in examples]
    # The project's own first, then the built-in library's: never the others.
    assert names[:2] == ["auditor.txt", "good.md"]
    assert not {".env", "notes.docx", "CON.txt", "linked.txt"} & set(names)
    assert not {"GEMINI_API_KEY=secret\n", "private\n", "reserved name\n"} & {
        text for _, text in examples}


def test_a_parts_folder_linked_out_of_the_library_is_never_used(
        audit_lib: Path, tmp_path: Path, fake_gemini: FakeGemini) -> None:
    private = tmp_path / "private"
    private.mkdir()
    (private / "diary.txt").write_text("secret\n")
    personas = audit_lib / "components/personas"
    (personas / "auditor.txt").unlink()
    personas.rmdir()
    personas.symlink_to(private)
    result = cli("--root", audit_lib, "-g", "AUDIT", "-p", "x")
    one_line_error(result, "personas is a symlink leading outside its library")
    assert sorted(os.listdir(private)) == ["diary.txt"]  # no part, lock or record there
    assert fake_gemini.count == 0
    result = cli("--root", audit_lib, "--check")
    assert "is a symlink leading outside its library" in result.stdout


def test_check_flags_an_unused_symlink_leading_out_of_the_bin(audit_lib: Path,
                                                              tmp_path: Path) -> None:
    (tmp_path / "elsewhere.txt").write_text("x")
    (audit_lib / "components/constraints/spare.txt").symlink_to(tmp_path / "elsewhere.txt")
    (audit_lib / "components/constraints/loop.txt").symlink_to("loop.txt")
    result = cli("--root", audit_lib, "--check")
    assert result.returncode == 1
    assert ("error: constraints/spare.txt is a symlink leading outside the parts bin"
            in result.stdout)
    assert "error: constraints/loop.txt cannot be looked at" in result.stdout


# Names that validate but cannot work


@pytest.mark.parametrize("name", ["CON.txt", "aux.md", "nul.txt", "com1.txt", "lpt9.md",
                                  "Con.Notes.txt", "x.txt.", "x.txt "])
def test_windows_impossible_part_names_are_refused_with_file_and_line(
        make_library: MakeLibrary, name: str) -> None:
    root = make_library({"AUDIT": {**AUDIT["AUDIT"], "persona": name}}, AUDIT_PARTS)
    result = cli("--root", root, "--check")
    assert result.returncode == 1
    assert "error: goal_map.json:4:5: goal \"AUDIT\": \"persona\"" in result.stdout
    assert "Windows" in result.stdout or "must use only" in result.stdout


@pytest.mark.parametrize(("project", "why"), [
    ("-x", "must not start with '-'"), ("CON", "Windows reserves"), ("aux.d", "Windows reserves"),
    ("lpt1", "Windows reserves"), ("x.", "must not end in a dot"), ("x ", "must not end in"),
])
def test_projects_that_cannot_work_are_refused(audit_lib: Path, project: str,
                                               why: str) -> None:
    one_line_error(cli("--root", audit_lib, "-g", "AUDIT", f"--project={project}"), why)


def test_the_longest_part_name_allowed_really_works(make_library: MakeLibrary,
                                                    fake_gemini: FakeGemini) -> None:
    longest = "p" * (MAX_PART_NAME - 4) + ".txt"
    root = make_library({"AUDIT": {**AUDIT["AUDIT"], "protocol": longest}},
                        {k: v for k, v in AUDIT_PARTS.items() if "review" not in k})
    assert main(["--root", str(root), "-g", "AUDIT", "-p", "x", "-q"]) == 0
    assert (root / "components/protocols" / longest).is_file()
    assert (root / f"components/protocols/.{longest}.provenance.json").is_file()
    too_long = "p" * (MAX_PART_NAME - 3) + ".txt"
    root = make_library({"AUDIT": {**AUDIT["AUDIT"], "protocol": too_long}}, AUDIT_PARTS)
    result = cli("--root", root, "--check")
    assert "goal_map.json:5:5:" in result.stdout and "the limit is 200" in result.stdout
    assert fake_gemini.count == 1


def test_an_empty_root_flag_is_refused() -> None:
    r = subprocess.run([sys.executable, str(REPO / "orchestrator.py"), "--root", "", "--list"],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stderr) == (1, "error: --root: empty folder name; give a folder, "
                                           "or leave --root out\n")


# Links and leftovers


def test_symlink_loops_are_one_line(audit_lib: Path) -> None:
    part = audit_lib / "components/protocols/review.txt"
    part.unlink()
    part.symlink_to("review.txt")
    one_line_error(cli("--root", audit_lib, "-g", "AUDIT", "-p", "x"), "review.txt")
    part.unlink()
    part.write_text("Review.\n")
    (audit_lib / "output").mkdir()
    (audit_lib / "output/x").symlink_to("x")
    one_line_error(cli("--root", audit_lib, "-g", "AUDIT", "-p", "x"), "symlink loop")


def test_a_symlink_loop_is_eloop_in_our_words_on_every_python(tmp_path: Path) -> None:
    # 3.10-3.12's resolve() raises RuntimeError, 3.13's returns the link unresolved, and
    # the OS says "too many levels of symbolic links": the errno decides, not the words.
    (tmp_path / "x").symlink_to("x")
    with pytest.raises(OSError) as e:
        real_path(tmp_path / "x")
    assert e.value.errno == errno.ELOOP and os_reason(e.value) == "a symlink loop"
    with pytest.raises(OSError) as e:
        (tmp_path / "x").read_bytes()
    assert os_reason(e.value) == "a symlink loop"


def test_a_temporary_name_no_process_could_have_made_is_left_alone(audit_lib: Path) -> None:
    assert main(["--root", str(audit_lib), "-g", "AUDIT", "-p", "x", "-q"]) == 0
    out = audit_lib / "output/x"
    strange = [out / ".00_PERSONA.md.99999999999999999999.deadbeef.tmp",
               out / ".00_PERSONA.md.4294967296.deadbeef.tmp"]
    for path in strange:
        path.write_text("someone else's\n")
    (audit_lib / "components/personas/auditor.txt").write_text("You are changed.\n")
    assert main(["--root", str(audit_lib), "-g", "AUDIT", "-p", "x", "-q"]) == 0
    assert all(path.read_text() == "someone else's\n" for path in strange)
    assert remove_stale_temporaries(out, "00_PERSONA.md", live_writers=False) == 0
    dead = out / ".00_PERSONA.md.999999.deadbeef.tmp"  # a pid that fits: a killed write
    dead.write_text("half")
    assert remove_stale_temporaries(out, "00_PERSONA.md") == 1
