"""Use it anywhere: the built-in library, the user's and the project's layered over it,
`--init`, and a real `pip install .` run from an empty folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from meta_prompting.library.goals import Part, load_library
from meta_prompting.library.layers import builtin_root, user_home
from meta_prompting.parts.supply import lock_path
from tests.conftest import AUDIT, AUDIT_PARTS, REPO, MakeLibrary
from tests.fake_gemini import FakeGemini

BUILTIN_GOALS = list(json.loads((REPO / "goal_map.json").read_text()))


def user_library(goals: dict | None = None, parts: dict[str, str] | None = None) -> Path:
    """Fill the test's user library ($META_PROMPTING_HOME)."""
    home = Path(os.environ["META_PROMPTING_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if goals is not None:
        (home / "goal_map.json").write_text(json.dumps(goals))
    for key, text in (parts or {}).items():
        path = home / "components" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return home


def test_in_a_checkout_the_built_in_library_is_the_repository_one() -> None:
    assert builtin_root() == REPO


def test_with_no_library_anywhere_the_built_in_goals_build_into_the_current_folder(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--goal", "DEBUG", "--project", "x", "-q"]) == 0
    assert (Path.cwd() / "output/x/00_PERSONA.md").read_text().startswith("You are")
    assert main(["--list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [g["name"] for g in data["goals"]] == BUILTIN_GOALS
    assert {g["layer"] for g in data["goals"]} == {"built-in"}


def test_a_goal_is_taken_whole_from_the_highest_layer(make_library: MakeLibrary) -> None:
    user_library({"AUDIT": {**AUDIT["AUDIT"], "persona": "user_auditor.txt"},
                  "MINE": {"persona": "user_auditor.txt", "protocol": "code_review_pass.txt",
                           "constraints": []}},
                 {"personas/user_auditor.txt": "You are the user's auditor.\n"})
    project = make_library(AUDIT, AUDIT_PARTS)
    library = load_library(project)
    assert library.goals["AUDIT"].persona.name == "auditor.txt"  # the project's, whole
    assert library.goal_layers["AUDIT"] == ("project", "user", "built-in")
    assert library.goal_layers["MINE"] == ("user",)
    assert library.goal_layers["DEBUG"] == ("built-in",)
    # MINE's protocol is the built-in part; its persona the user's.
    mine = library.goals["MINE"]
    assert library.locate(mine.protocol) == REPO / "components/protocols/code_review_pass.txt"
    assert library.part_layers(mine.persona) == ["user"]


def test_a_part_is_taken_by_name_from_the_highest_layer_that_has_it(
        make_library: MakeLibrary, capsys: pytest.CaptureFixture[str]) -> None:
    # A layer with parts and no map is fine: it overrides a built-in part by name.
    home = user_library(parts={"personas/debugging_detective.txt": "You are my detective.\n"})
    project = make_library(AUDIT, AUDIT_PARTS)
    assert main(["--root", str(project), "-g", "DEBUG", "-p", "d", "-q"]) == 0
    persona = (project / "output/d/00_PERSONA.md").read_text()
    assert persona == "You are my detective.\n"
    assert main(["--root", str(project), "--list", "-g", "DEBUG"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"debugging_detective\.txt +present  · user, overrides built-in", out)
    assert f"user {home}" in out.replace("\n", "")


def test_new_parts_go_to_the_project_else_the_user_library_never_the_package(
        make_library: MakeLibrary) -> None:
    home = Path(os.environ["META_PROMPTING_HOME"])
    part = Part("persona", "new_one.txt")
    bare = load_library(Path.cwd())  # no project library here
    assert bare.folder("persona") == home / "components/personas"
    assert lock_path(bare, part) == home / "components/.locks/personas.new_one.txt.lock"
    project = make_library(AUDIT, AUDIT_PARTS)
    library = load_library(project)
    assert library.folder("persona") == project / "components/personas"
    # A built-in part to regenerate is written over, in the project, not in the package.
    builtin = Part("persona", "meticulous_auditor.txt")
    assert library.locate(builtin) == REPO / "components/personas/meticulous_auditor.txt"
    assert lock_path(library, builtin).parent == project / "components/.locks"


def test_generated_parts_land_in_the_user_library_when_there_is_no_project(
        fake_gemini: FakeGemini, capsys: pytest.CaptureFixture[str]) -> None:
    home = user_library({"MINE": {"persona": "fresh.txt", "protocol": "code_review_pass.txt",
                                  "constraints": []}})
    assert main(["-g", "MINE", "-p", "m", "-q"]) == 0, capsys.readouterr().err
    assert (home / "components/personas/fresh.txt").is_file()
    assert (home / "components/personas/.fresh.txt.provenance.json").is_file()
    assert (Path.cwd() / "output/m/00_PERSONA.md").is_file()
    assert not (REPO / "components/personas/fresh.txt").exists()


def test_check_validates_every_layer(make_library: MakeLibrary,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    home = user_library({"bad": {"persona": "CON.txt"}})
    project = make_library(AUDIT, AUDIT_PARTS)
    assert main(["--root", str(project), "--check"]) == 1
    out = capsys.readouterr().out
    assert f"error: {home / 'goal_map.json'}:1:2: goal \"bad\": the name must be" in out
    # A build refuses the bad user layer too, naming its file.
    assert main(["--root", str(project), "-g", "AUDIT", "-p", "x"]) == 1
    assert str(home / "goal_map.json") in capsys.readouterr().err


def test_empty_env_folders_count_as_unset(monkeypatch: pytest.MonkeyPatch,
                                          audit_lib: Path) -> None:
    monkeypatch.setenv("META_PROMPTING_ROOT", "")
    assert main(["-g", "AUDIT", "-p", "x", "-q"]) == 0  # the cwd, the built-in AUDIT
    assert (Path.cwd() / "output/x").is_dir()
    monkeypatch.setenv("META_PROMPTING_HOME", "")
    monkeypatch.setenv("HOME", str(audit_lib / "home"))
    assert user_home() == audit_lib / "home/.config/meta-prompting"


@pytest.mark.skipif(sys.platform != "linux", reason="the fast path is Linux's")
@pytest.mark.parametrize("xdg", [None, "", "relative/dir", "/abs/config"])
def test_the_user_folder_is_the_one_platformdirs_names(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path, xdg: str | None) -> None:
    import platformdirs

    monkeypatch.delenv("META_PROMPTING_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert user_home() == platformdirs.user_config_path("meta-prompting")


# --init


def test_init_copies_the_built_in_library_and_never_overwrites(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "mine"
    (target / "components/personas").mkdir(parents=True)
    mine = target / "components/personas/meticulous_auditor.txt"
    mine.write_text("My own auditor.\n")
    assert main(["--init", str(target)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Copied ")
    assert "Left alone (already there): components/personas/meticulous_auditor.txt" in out
    assert mine.read_text() == "My own auditor.\n"
    assert (target / "goal_map.json").read_bytes() == (REPO / "goal_map.json").read_bytes()
    assert (target / "components/protocols/code_review_pass.txt").is_file()
    # What the README says keeps the locks out of git status comes along (issue 32.11).
    assert (target / "components/.gitignore").read_bytes() == (
        REPO / "components/.gitignore").read_bytes()
    assert ".locks/" in (target / "components/.gitignore").read_text().splitlines()
    assert not list(target.rglob("*.tmp"))
    # A second run does nothing, and says so.
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert main(["--init", str(target)]) == 0
    assert capsys.readouterr().out.startswith("Nothing to do:")
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    # And the copy is a project library that checks clean.
    assert main(["--root", str(target), "--check", "-q"]) == 0


def test_init_defaults_to_the_current_folder_and_speaks_json(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--init", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and "goal_map.json" in data["created"] and data["kept"] == []
    assert (Path.cwd() / "goal_map.json").is_file()


def test_init_refuses_a_file_and_other_flags(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["--init", str(tmp_path / "file")]) == 1
    assert capsys.readouterr().err == f"error: --init {tmp_path / 'file'}: exists and is not a " \
                                      "folder\n"
    assert main(["--init", "-g", "AUDIT"]) == 2


@pytest.mark.parametrize("link", ["components", "components/personas", "goal_map.json"])
def test_init_never_writes_through_a_link(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          link: str) -> None:
    target, victim = tmp_path / "target", tmp_path / "victim"
    victim.mkdir()
    (victim / "kept.txt").write_text("mine\n")
    (target / link).parent.mkdir(parents=True, exist_ok=True)
    (target / link).symlink_to(victim / "x" if link.endswith(".json") else victim,
                               target_is_directory=not link.endswith(".json"))
    code = main(["--init", str(target)])
    err = capsys.readouterr().err
    assert os.listdir(victim) == ["kept.txt"]
    assert code == 1 and err == (f"error: --init {target}: {target / link} is a symbolic "
                                 "link; --init never writes through a link: remove it, or "
                                 "choose another folder\n")


def test_init_into_a_folder_named_through_a_link_works(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "named").symlink_to(tmp_path / "real", target_is_directory=True)
    assert main(["--init", str(tmp_path / "named"), "-q"]) == 0
    assert (tmp_path / "real/goal_map.json").is_file()
    assert main(["--init", str(tmp_path / "new/deeper"), "-q"]) == 0  # made, as before
    assert (tmp_path / "new/deeper/components/personas").is_dir()


# A real install


def _copy_source(to: Path) -> None:
    for name in ("pyproject.toml", "README.md", "goal_map.json", "generation_jobs.json",
                 "orchestrator.py"):
        shutil.copy(REPO / name, to / name)
    for folder in ("meta_prompting", "components"):
        # What a checkout holds: its .gitignore files, not what runs left (locks).
        shutil.copytree(REPO / folder, to / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".locks", ".*.lock",
                                                      ".*.tmp", ".mypy_cache"))


@pytest.mark.slow
def test_pip_install_then_build_from_an_empty_folder(tmp_path: Path) -> None:
    """`pip install .` into a fresh venv; `meta-prompting` then works from anywhere.

    The venv sees this interpreter's packages through a .pth file (so no dependency is
    downloaded), but the tool itself comes from the wheel pip built, package data and
    all. pip fetches setuptools to build it: from the package registry in CI.
    """
    source = tmp_path / "source"
    source.mkdir()
    _copy_source(source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()
    Path(site, "parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q",
                             str(source)], capture_output=True, text=True, timeout=300,
                            env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run([str(bindir / "meta-prompting"), "--goal", "AUDIT", "--project",
                             "x"], capture_output=True, text=True, timeout=120, cwd=empty,
                            env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Built output/x/ for goal AUDIT (complete)")
    assert (empty / "output/x/00_PERSONA.md").read_text().startswith("You are")
    assert sorted(p.name for p in empty.iterdir()) == ["output"]
    # The built-in library came from the wheel, not from this checkout.
    where = subprocess.run([str(python), "-c", "from meta_prompting.library.layers import "
                            "builtin_root; print(builtin_root())"], capture_output=True,
                           text=True, timeout=60, cwd=empty, env=env).stdout.strip()
    assert Path(where).is_relative_to(Path(site)), where
    assert Path(where, "components/personas/meticulous_auditor.txt").is_file()
    # --init from the installed package.
    result = subprocess.run([str(bindir / "meta-prompting"), "--init", "lib"],
                            capture_output=True, text=True, timeout=120, cwd=empty, env=env)
    assert result.returncode == 0, result.stderr
    assert (empty / "lib/components/protocols/code_review_pass.txt").is_file()
    assert (empty / "lib/components/.gitignore").is_file()  # shipped in the wheel too
    assert not (empty / "lib/orchestrator.py").exists()
