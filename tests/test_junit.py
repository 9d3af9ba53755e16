"""--junit FILE and --min-pass-rate R: grades in the form CI systems read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from meta_prompting.face.cli import main
from tests.conftest import MakeLibrary
from tests.fake_gemini import KEEP, FakeGemini, RequestRecord, ok
from tests.test_chain import write_chain
from tests.test_grade import GOALS, PARTS, QUOTE, grading, is_judge
from tests.xsd_check import XSD, problems

pytestmark = pytest.mark.usefixtures("fast_retries")


@pytest.fixture
def lib(make_library: MakeLibrary) -> Path:
    return make_library(GOALS, PARTS)


def valid(path: Path) -> ET.Element:
    data = path.read_bytes()
    assert problems(data) == []
    try:
        import xmlschema  # type: ignore[import-not-found]
    except ImportError:  # not a dependency: the etree check above stands alone
        pass
    else:
        xmlschema.XMLSchema(str(XSD)).validate(str(path))
    return ET.fromstring(data)


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in root.iter("testcase")}


def three_stages(folder: Path) -> Path:
    """A graded stage (one criterion will fail), one after it, one on its own."""
    stages = [{"name": "state", "goal": "SIMULATE", "task": "Simulate the state.",
               "grade": True},
              {"name": "next", "goal": "SIMULATE", "task": "Go on.", "after": ["state"]},
              {"name": "other", "goal": "SIMULATE", "task": "Something else."}]
    return write_chain(folder, {"description": "three", "stages": stages})


def test_a_chain_with_a_failing_criterion_gives_a_valid_junit_file(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    grading(fake_gemini, {"Solution": "FAIL"})
    path = three_stages(tmp_path / "c")
    junit = tmp_path / "results.xml"
    argv = ["--root", str(lib), "--chain", str(path), "-p", "p", "--junit", str(junit)]
    assert main(argv) == 4
    root = valid(junit)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "2", "0")
    assert [s.get("name") for s in root.iter("testsuite")] == [
        "SIMULATE state", "SIMULATE next", "SIMULATE other"]
    found = cases(root)
    assert set(found) == {"SIMULATE state › scorecard", "SIMULATE state › Structure",
                          "SIMULATE state › Flaw Analysis", "SIMULATE state › Solution",
                          "SIMULATE next › answer", "SIMULATE other › answer"}
    failure = found["SIMULATE state › Solution"].find("failure")
    assert failure is not None and failure.text is not None
    assert f"quote: {QUOTE}" in failure.text and "reasoning: " in failure.text
    assert "fix: " in failure.text and failure.get("message")
    assert found["SIMULATE state › Structure"].find("failure") is None
    assert found["SIMULATE next › answer"].find("skipped") is not None
    assert "1 of 3 criteria failed" in str(found["SIMULATE state › scorecard"]
                                           .find("failure").get("message"))  # type: ignore[union-attr]
    # Again: every result is kept, none is asked for, and the file says so.
    made = len(fake_gemini.requests)
    junit.unlink()
    assert main([*argv, "--min-pass-rate", "0"]) == 4  # a stage was held back: still 4
    assert len(fake_gemini.requests) == made
    out = cases(valid(junit))["SIMULATE state › scorecard"].find("system-out")
    assert out is not None and "grade kept from an earlier run: no call made" in str(out.text)
    capsys.readouterr()


def samples_half_passing(fake: FakeGemini) -> None:
    """Of the judgments, the first fails Solution and every later one passes it."""
    judged: list[RequestRecord] = []

    def respond(r: RequestRecord) -> Any:
        if is_judge(r):
            judged.append(r)
            return None
        return ok("## Decision\nUse a write-through cache, because keys expire together.\n")

    def shape(at: tuple[str | int, ...], _schema: dict[str, Any]) -> Any:
        if at and at[-1] == "quotes":
            return [QUOTE]
        if at[-1:] == ("verdict",) and at[0] == "criteria":
            return "FAIL" if at[1] == "Solution" and len(judged) == 1 else "PASS"
        if at == ("path_forward", "verdict"):
            return "YES"
        return KEEP

    fake.responder, fake.schema_overrides = respond, shape


@pytest.mark.parametrize(("rate", "code"), [(None, 4), ("0.5", 0), ("0.51", 4), ("1", 4),
                                            ("0", 0)])
def test_min_pass_rate_fails_only_below_the_share(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini, rate: str | None, code: int) -> None:
    samples_half_passing(fake_gemini)
    junit = tmp_path / "out" / "j.xml"
    junit.parent.mkdir()
    extra = ["--min-pass-rate", rate] if rate is not None else []
    argv = ["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task", "Pick a cache.",
            "--samples", "2", "--jobs", "1", "--grade", "--junit", str(junit), *extra]
    assert main(argv) == code
    err = capsys.readouterr().err
    if rate is not None:
        assert f"pass rate 1/2 (50%): --min-pass-rate {float(rate):g}" in err
    root = valid(junit)
    assert [s.get("name") for s in root.iter("testsuite")] == ["SIMULATE s #1", "SIMULATE s #2"]
    assert (root.get("tests"), root.get("failures")) == ("8", "2")


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "half"])
def test_a_rate_outside_0_to_1_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], lib: Path, value: str) -> None:
    assert main(["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task", "t", "--grade",
                 f"--min-pass-rate={value}"]) == 2
    assert "--min-pass-rate" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--junit", "j.xml"], ["--min-pass-rate", "0.5"]])
def test_junit_and_the_rate_need_grades(capsys: pytest.CaptureFixture[str], lib: Path,
                                        flag: list[str]) -> None:
    assert main(["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task", "t", "--run",
                 *flag]) == 2
    assert "add --grade (or use --chain)" in capsys.readouterr().err
    assert not (lib / "output/s").exists()


def test_an_unwritable_junit_file_is_one_line_and_the_grades_are_kept(
        capsys: pytest.CaptureFixture[str], lib: Path, tmp_path: Path,
        fake_gemini: FakeGemini) -> None:
    grading(fake_gemini)
    code = main(["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task", "t", "--grade",
                 "--junit", str(tmp_path / "no" / "such" / "j.xml")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "--junit" in err and "no folder" in err
    assert fake_gemini.requests == []  # refused before any call
    folder = tmp_path / "ro"
    folder.mkdir()
    junit = folder / "j.xml"
    junit.mkdir()  # where the file would go: a folder, found only when writing
    code = main(["--root", str(lib), "-g", "SIMULATE", "-p", "s", "--task", "t", "--grade",
                 "--junit", str(junit), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "is a folder" in err


def test_text_xml_cannot_hold_is_replaced_and_the_file_stays_valid(tmp_path: Path) -> None:
    from meta_prompting.report.junit import Case, Suite, write_junit

    path = write_junit(str(tmp_path / "j.xml"), [Suite("G p", (Case(
        "G p › c\x1b[31m", failure=("bad \x00 byte", "quote: \x07bell"),),))], "G p")
    root = valid(path)
    [case] = root.iter("testcase")
    assert case.get("name") == "G p › c\ufffd[31m"
