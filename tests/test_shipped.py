"""The library this repository ships, and `python orchestrator.py` run for real."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from meta_prompting.library.goals import load_library
from tests.conftest import REPO

SHIPPED_GOALS = list(json.loads((REPO / "goal_map.json").read_text()))


def orchestrator(*args: str | Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "orchestrator.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def test_the_shipped_library_checks_clean(shipped: Path) -> None:
    assert main(["--root", str(shipped), "--check", "--quiet"]) == 0


def test_the_shipped_library_has_the_goals_the_product_promises() -> None:
    library = load_library(REPO)
    assert len(library.goals) >= 8
    assert {"AUDIT", "DEBUG", "SIMULATE", "GRADE"} <= set(library.goals)
    assert library.goals["DEBUG"].protocol.name == "root_cause_analysis_drilldown.txt"
    for goal in library.goals.values():
        assert goal.description, goal.name
        assert goal.constraints, goal.name


@pytest.mark.parametrize("goal", SHIPPED_GOALS)
def test_every_shipped_goal_builds_offline(shipped: Path, goal: str) -> None:
    assert main(["--root", str(shipped), "--goal", goal, "--project", goal.lower(), "-q"]) == 0
    out = shipped / "output" / goal.lower()
    assert (out / "00_PERSONA.md").read_text().startswith("You are")
    template = (out / "01_PROMPT_TEMPLATE.md").read_text()
    assert "MISSING PART" not in template
    # The shape models read best: long material first, the task last, each block
    # tagged; nothing for people and no file names in what the model reads.
    blocks = re.findall(r"^<(\w+)>$", template, re.MULTILINE)
    assert blocks == ["evidence", "protocol", "rules", "output_format", "task"]
    assert "<!--" not in template and not re.search(r"\w\.(txt|md)\b", template)
    assert "Constraint 1" not in template and "paste" not in template.lower()
    output_format = template.split("<output_format>\n")[1].split("\n</output_format>")[0]
    assert len(re.findall(r"^## \S", output_format, re.MULTILINE)) >= 3


def test_orchestrator_builds_from_its_own_folder_by_default(shipped: Path) -> None:
    # Run from a folder without a map: the default root is the checkout beside the script,
    # so copy the script's library next to a copy of the code.
    result = orchestrator("--goal", "AUDIT", "--project", "e2e", "--root", shipped)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Built {shipped}/output/e2e/ for goal AUDIT (complete)")
    assert result.stderr == ""


def heavy_modules_after(*argv: str) -> list[str]:
    code = (
        "import sys\n"
        "from meta_prompting.face.cli import main\n"
        f"assert main({list(argv)!r}) in (0, 3)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('google', 'questionary', 'rich', 'filelock', 'httpx', 'httpx2', 'prompt_toolkit', "
        "'markdown_it', 'openai'))\n"
        "print(sorted({m.split('.')[0] for m in heavy}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout)  # a printed list of names


def test_a_build_imports_neither_genai_nor_questionary(shipped: Path) -> None:
    args = ("--root", str(shipped), "-g", "DEBUG", "-p", "x", "-q")
    # A first build writes under the project's lock, taken with flock directly on POSIX
    # (filelock's import alone was ~40 ms); a rebuild that changes nothing takes none.
    assert heavy_modules_after(*args) == []
    assert heavy_modules_after(*args) == []
    # Nor the openai client, for a local model: its provider is imported, not its SDK.
    assert heavy_modules_after(*args, "--model", "ollama:llama3.2") == []


def test_a_rebuild_loads_only_what_a_build_uses(shipped: Path) -> None:
    """A build from a complete library (the start-up bench's command) loads neither the
    model seam nor the supplying machinery, runs, grading, chains or the evidence reader:
    each is a few per cent of a bare Python start-up, and the goal is three of them."""
    args = ["--root", str(shipped), "-g", "AUDIT", "-p", "x", "-q"]
    assert orchestrator(*args).returncode == 0  # the first build, in a process of its own
    code = (
        "import sys\n"
        "from meta_prompting.face.cli import main\n"
        f"assert main({args!r}) == 0\n"  # a rebuild that changes nothing
        "print(sorted(m for m in sys.modules if m.startswith('meta_prompting.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = eval(result.stdout)  # a printed list of names
    unused = ("meta_prompting.models", "meta_prompting.parts.supply", "meta_prompting.store.step",
              "meta_prompting.runs.run", "meta_prompting.evidence", "meta_prompting.grading",
              "meta_prompting.chains", "meta_prompting.face.show")
    assert [m for m in loaded if m.startswith(unused)] == []
    assert "meta_prompting.toolkit.build" in loaded  # it did build


def test_a_bad_map_from_the_real_command_has_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "goal_map.json").write_text('{"AUDIT": ')
    result = orchestrator("--list", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: goal_map.json:1:11: invalid JSON: Expecting value\n"
    assert result.stdout == ""


def test_the_module_entry_point(shipped: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "meta_prompting", "--version"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert (result.returncode, result.stdout) == (0, "meta-prompting 0.2.0\n")


def test_requirements_and_the_package_ask_for_the_same_runtime() -> None:
    # requirements.txt is the README's install and pyproject.toml is `pip install .`:
    # the same packages, with the same per-Python markers (google-genai 2.x on 3.10).
    wanted = [line for line in (REPO / "requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    block = (REPO / "pyproject.toml").read_text().split("\ndependencies = [\n")[1]
    declared = re.findall(r"""^\s*(["'])(.+)\1,$""", block.split("\n]")[0], re.M)
    assert [requirement for _, requirement in declared] == wanted
    assert 'requires-python = ">=3.10"' in (REPO / "pyproject.toml").read_text()
