"""examples/ci/: the GitHub Actions workflow people copy."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

WORKFLOW = REPO / "examples/ci/prompt-review.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+(\.\d+)*$")


def uses(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^\s*(?:- )?uses:\s*(.+)$", text, re.M)]


def test_every_action_is_pinned_to_a_full_commit_with_its_tag() -> None:
    found = uses(WORKFLOW.read_text())
    assert {u.split("@")[0] for u in found} == {
        "actions/checkout", "actions/setup-python", "actions/cache", "actions/upload-artifact"}
    assert [u for u in found if not PINNED.match(u)] == []


def test_the_workflow_is_well_formed_yaml_in_structure() -> None:
    text = WORKFLOW.read_text()
    assert "\t" not in text
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert all((len(ln) - len(ln.lstrip())) % 2 == 0 for ln in lines)  # two-space steps
    assert re.search(r"^on:\n  pull_request:\n", text, re.M)
    assert re.search(r"^jobs:\n  audit:\n", text, re.M)
    assert ("if: github.event.pull_request.head.repo.full_name == github.repository"
            in text)
    assert 'GEMINI_API_KEY: ${{ secrets.GEMINI_API_KEY }}' in text
    assert '--evidence-diff "origin/${{ github.base_ref }}"' in text
    assert "--grade --junit junit.xml" in text and "exit 4" in text
    assert "output/*/report.html" in text and "fetch-depth: 0" in text


def test_the_workflow_parses_as_yaml_when_pyyaml_is_here() -> None:
    yaml = pytest.importorskip("yaml")  # not a dependency; the structural test stands alone
    data = yaml.safe_load(WORKFLOW.read_text())
    job = data["jobs"]["audit"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert "pull_request" in data[True]  # YAML 1.1 reads the key `on` as true
    steps = job["steps"]
    audit = next(s for s in steps if s.get("id") == "audit")
    assert audit["env"] == {"GEMINI_API_KEY": "${{ secrets.GEMINI_API_KEY }}"}
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()" and "junit.xml" in upload["with"]["path"]


def test_the_readme_says_how_to_keep_output_between_runs() -> None:
    text = (REPO / "examples/ci/README.md").read_text()
    assert "actions/cache" in text and "hashFiles" in text and "no calls" in text
