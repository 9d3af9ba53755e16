"""The package's shape: its packages are layered, and the face sits on top of them all.

Read from the source (tests/import_graph.py), every import counted, those inside
functions and under TYPE_CHECKING too: an import that is hidden or typing-only still
ties two packages together.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.import_graph import (
    Import,
    all_imports,
    cycles,
    face_imported_by,
    package_edges,
    package_of,
)

REPO = Path(__file__).resolve().parent.parent

# Lowest first; a package imports only from the layers below its own (never across).
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(x.split()) for x in (
    "meta_prompting errors",  # the version, the error tree and the exit codes
    "store",  # files, records, steps, locks
    "library models",  # the library; the model seam (which knows nothing of the library)
    "parts",  # missing parts, made just in time
    "toolkit",  # build a toolkit: plan, parts, assemble
    "evidence",  # the task's documents
    "runs",  # answers
    "grading",  # scorecards, refinement
    "chains tasks",  # stages in graph order; a tasks file's rows
    "batch",  # the missing work of a run, a tasks file or a chain, through the Batch service
    "core report",  # the one core (typed requests, one context); the HTML report
    "face",  # the command line, its output, the wizard
    "__main__",
))


def layer_of(package: str) -> int:
    found = [i for i, layer in enumerate(LAYERS) if package in layer]
    assert found, f"package {package} is in no layer: add it to LAYERS"
    return found[0]


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return all_imports(REPO)


def test_no_package_imports_one_that_imports_it_back(imports: list[Import]) -> None:
    assert cycles(package_edges(imports, typing=True)) == []


def test_every_import_goes_down_the_layers(imports: list[Import]) -> None:
    upward = sorted(f"{i.source} -> {i.target}" for i in imports
                    if package_of(i.source) != package_of(i.target)
                    and layer_of(package_of(i.target)) >= layer_of(package_of(i.source)))
    assert upward == []


def test_nothing_below_the_face_imports_it(imports: list[Import]) -> None:
    assert face_imported_by(imports) == []


def test_the_checker_finds_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The graph is read as it should be: a planted cycle through a function-level
    import, and an import of the face from below, are both found."""
    package = tmp_path / "meta_prompting"
    for name, text in {
        "__init__.py": "",
        "store/__init__.py": "",
        "store/files.py": "def f():\n    from meta_prompting.library import goals\n",
        "library/__init__.py": "",
        "library/goals.py": "from meta_prompting.store.files import f\n",
        "face/__init__.py": "",
        "face/show.py": "",
        "runs/__init__.py": "",
        "runs/run.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                       "    from meta_prompting.face import show\n",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    found = all_imports(tmp_path)
    assert cycles(package_edges(found)) == [["library", "store"]]
    assert cycles(package_edges(found, typing=True)) == [["library", "store"]]
    assert [(i.source, i.target) for i in face_imported_by(found)] == [
        ("meta_prompting.runs.run", "meta_prompting.face.show")]


def test_every_package_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages by name: one left out installs, and then fails
    with ModuleNotFoundError the first time a command reaches it."""
    listed = re.search(r"^packages = \[(.*?)\]", (REPO / "pyproject.toml").read_text(),
                       re.MULTILINE | re.DOTALL)
    assert listed is not None
    named = set(re.findall(r'"([a-z_.]+)"', listed.group(1))) - {"meta_prompting.builtin"}
    on_disk = {".".join(p.parent.relative_to(REPO).parts)
               for p in (REPO / "meta_prompting").rglob("__init__.py")}
    assert named == on_disk


def test_the_figures_print(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.import_graph import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert "package cycles (run time): []" in out
    assert re.search(r"^core\s+\d+\s+\d+", out, re.MULTILINE)
