"""--report: one self-contained page, read structurally (html.parser), no browser."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.conftest import MakeLibrary
from tests.fake_gemini import FakeGemini
from tests.report_chain import QUOTE, make_chain
from tests.test_chain import GOALS, PARTS

pytestmark = pytest.mark.usefixtures("fast_retries")


class Page(HTMLParser):
    """Every element with its attributes, each text with the elements it is inside."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[tuple[str, tuple[str, ...]]] = []
        self.raw: dict[str, list[str]] = {"script": [], "style": []}
        self._open: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "hr", "path", "rect", "input"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] in self.raw:
            self.raw[self._open[-1]].append(data)
        self.texts.append((data, tuple(self._open)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and all(
            a.get(k.rstrip("_")) == v for k, v in attrs.items())]

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.texts)


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library(GOALS, PARTS)


def report(capsys: pytest.CaptureFixture[str], lib: Path, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what the chain said
    code = main(["--root", str(lib), "--report", "-p", "p", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def page(lib: Path) -> Page:
    return Page((lib / "output/p/report.html").read_text(encoding="utf-8"))


def test_a_chain_report_shows_every_stage_the_graph_and_the_matrix_and_calls_nothing(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    chain = make_chain(lib, tmp_path / "work", fake_gemini)
    calls = fake_gemini.count
    code, out, err = report(capsys, lib, "--chain", str(chain))
    assert (code, err) == (0, "")
    assert out == f"Report (3 runs, {(lib / 'output/p/report.html').stat().st_size:,} " \
                  f"bytes): {lib / 'output/p/report.html'}\n"
    assert fake_gemini.count == calls  # no model call, and no key in the environment
    doc = page(lib)
    nodes = {a["data-status"] for a in doc.find("a", class_="node")}
    assert nodes == {"ran", "failed grade", "blocked"}
    assert len(doc.find("a", class_="node")) == 4 and len(doc.find("svg")) == 1
    stages = [a["id"] for a in doc.find("section", class_="stage")]
    assert stages == ["stage-0", "stage-1", "stage-2", "stage-3"]
    svg_text = [t for t, inside in doc.texts if "svg" in inside]
    assert {"state", "retries", "recovery", "synthesis", "Decision", "whole answer"} <= set(
        svg_text)
    assert len(doc.find("table", class_="matrix")) == 1
    cells = [t for t, inside in doc.texts if "td" in inside and "summary" in inside]
    assert cells.count("PASS ") == 2 and cells.count("FAIL ") == 1
    assert "Flaw Analysis " in doc.text and "Simulate state." in doc.text
    assert [t for t, inside in doc.texts if "mark" in inside] == [QUOTE]
    assert "no answer passed the scorecard in 1 fresh session(s)" in doc.text


def test_a_hostile_answer_is_shown_as_text_and_nothing_in_it_is_markup(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    make_chain(lib, tmp_path / "work", fake_gemini)
    assert report(capsys, lib)[0] == 0  # the chain file found from CHAIN.md
    doc = page(lib)
    assert len(doc.find("script")) == 1 and not doc.find("img") and not doc.find("iframe")
    assert not [t for t, a in doc.elements if t == "link"]
    assert not any(k.startswith("on") for _, a in doc.elements for k in a)
    hrefs = [a["href"] for t, a in doc.elements if t == "a"]
    assert not any(h and h.startswith(("javascript:", "data:")) for h in hrefs)
    assert "http://127.0.0.1:9/pixel.png" in hrefs  # an image only as a link: no fetch
    for shown in ("<script>document.title='pwned'</script>", "<iframe src=",
                  "[click me](javascript:document.title='pwned')", "<img src=x onerror="):
        assert shown in doc.text
    assert "document.title" not in "".join(doc.raw["script"])


def test_the_policy_forbids_everything_but_the_pages_own_script_and_style(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    make_chain(lib, tmp_path / "work", fake_gemini)
    report(capsys, lib)
    doc = page(lib)
    [policy] = [a["content"] for a in doc.find("meta")
                if a.get("http-equiv") == "Content-Security-Policy"]
    assert policy is not None and policy.startswith("default-src 'none'; ")

    def pinned(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src {pinned(''.join(doc.raw['script']))}'" in policy
    assert f"style-src {pinned(''.join(doc.raw['style']))}'" in policy
    assert "unsafe-inline" not in policy and "http" not in policy


def test_hand_edits_and_broken_records_are_shown_as_such(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    make_chain(lib, tmp_path / "work", fake_gemini)
    [state] = (lib / "output/p/state/runs").glob("*/answer.md")
    state.write_text(state.read_text() + "\nA line of mine.\n")
    [card] = (lib / "output/p/retries/runs").glob("*/scorecard.json")
    data = json.loads(card.read_text())
    data["judgments"][0]["verdicts"][1]["verdict"] = "PASS"
    card.write_text(json.dumps(data))
    [record] = (lib / "output/p/recovery/runs").glob("*/run.json")
    record.write_text("{ not json")
    (lib / "output/p/synthesis/runs/0123456789ab-1").mkdir(parents=True)  # empty: a stray
    assert report(capsys, lib)[0] == 0
    text = page(lib).text
    assert "answer edited by hand" in text and "verdict edited by hand" in text
    assert "run.json: not JSON" in text and "answer.md: missing" in text
    assert "A line of mine." in text


def test_the_key_never_reaches_the_page(capsys: pytest.CaptureFixture[str], lib: Path,
                                        tmp_path: Path, fake_gemini: FakeGemini,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    make_chain(lib, tmp_path / "work", fake_gemini)
    key = "AIzaSyReportKey0123456789abcdefXYZ"
    monkeypatch.setenv("GEMINI_API_KEY", key)
    [state] = (lib / "output/p/state/runs").glob("*/answer.md")
    state.write_text(f"The key is {key} here.\n")
    assert report(capsys, lib)[0] == 0
    html = (lib / "output/p/report.html").read_text()
    assert "The key is" in html and key[:8] not in html and key[-8:] not in html


def test_a_plain_toolkit_shows_its_parts_prompt_and_samples_side_by_side(
        capsys: pytest.CaptureFixture[str], lib: Path, fake_gemini: FakeGemini) -> None:
    from tests.test_grade import grading

    grading(fake_gemini)
    assert main(["--root", str(lib), "-g", "SIMULATE", "-p", "p", "--task", "Pick a cache.",
                 "--samples", "3", "--grade", "-q"]) == 0
    code, out, _ = report(capsys, lib, "--json")
    assert code == 0 and json.loads(out)["runs"] == 3
    doc = page(lib)
    assert len(doc.find("article", class_="sample")) == 3
    assert {a["data-pass"] for a in doc.find("article", class_="sample")} == {"pass"}
    assert "personas/architect.txt" in doc.text and "The prompt as sent" in doc.text
    assert re.search(r"<task>\nPick a cache.\n</task>", doc.text)
    heads = [t for t, inside in doc.texts if "thead" in inside and "table" in inside]
    assert heads.count("sample 1") == 1 and "sample 3" in heads


@pytest.mark.parametrize("extra, code, message", [
    ((), 2, "--report needs --project"),
    (("-p", "p", "--run"), 2, "--report only shows what the project keeps; it takes no --run"),
    (("-p", "nothing"), 1, "does not exist: build the toolkit"),
    (("-p", "../x"), 1, "must be a bare name"),
    (("-p", "p", "--list"), 2, "not allowed with argument"),
], ids=["no-project", "with-run", "no-folder", "unsafe-name", "with-list"])
def test_bad_report_flags_write_nothing(capsys: pytest.CaptureFixture[str], lib: Path,
                                        extra: tuple[str, ...], code: int, message: str) -> None:
    assert main(["--root", str(lib), "--report", *extra]) == code
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert not list(lib.rglob("report.html"))
