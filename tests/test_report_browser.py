"""--report in a real browser: headless Chromium runs the page from file:// and dumps
the DOM after its scripts ran. Skipped where Chromium is absent; CI installs it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from meta_prompting.face.cli import main
from tests.conftest import MakeLibrary
from tests.fake_gemini import FakeGemini
from tests.report_chain import QUOTE, make_chain
from tests.test_chain import GOALS, PARTS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# .ci/run installs Chromium and sets this: there a missing browser fails, never skips.
REQUIRED = os.environ.get("META_PROMPTING_REQUIRE_CHROMIUM") == "1"
pytestmark = [pytest.mark.usefixtures("fast_retries"), pytest.mark.skipif(
    CHROMIUM is None and not REQUIRED,
    reason="no chromium on PATH (apt-get install chromium); CI installs it")]


class Listener:
    """A server on 127.0.0.1 that only counts what asks it for anything: every hostile
    answer points at it, so any request the page makes shows up here."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.server.shutdown()
    found.server.server_close()


def chromium(tmp_path: Path, url: str, *extra: str) -> str:
    """The DOM after the page's scripts ran (or, with --screenshot, Chromium's words)."""
    assert CHROMIUM is not None, "META_PROMPTING_REQUIRE_CHROMIUM=1 and no chromium on PATH"
    profile = tmp_path / "profile"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", *extra, url],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def made(make_library: MakeLibrary, tmp_path: Path, fake_gemini: FakeGemini,
         listener: Listener, capsys: pytest.CaptureFixture[str]) -> Path:
    lib = make_library(GOALS, PARTS)
    make_chain(lib, tmp_path / "work", fake_gemini, listener.port)
    assert main(["--root", str(lib), "--report", "-p", "p"]) == 0
    capsys.readouterr()
    return lib / "output/p/report.html"


def test_every_stage_the_graph_and_the_matrix_render_and_the_script_ran(
        made: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, made.as_uri(), "--dump-dom")
    assert re.search(r'<html lang="en" data-styled="yes" data-ready="\d+">', dom), dom[:300]
    assert "data-csp-violations=" not in dom  # the pinned script and style are the page's
    assert dom.count('class="node"') == 4 and dom.count('<section class="stage"') == 4
    assert 'data-status="failed grade"' in dom and 'data-status="blocked"' in dom
    assert '<table class="matrix">' in dom and f'<mark class="quote">{QUOTE}</mark>' in dom
    assert dom.count("<button") == 3  # made by the script: it ran


def test_a_hostile_answer_runs_nothing_and_the_page_requests_nothing(
        made: Path, tmp_path: Path, listener: Listener) -> None:
    dom = chromium(tmp_path, made.as_uri(), "--dump-dom")
    assert "<title>Report: p</title>" in dom and "pwned</title>" not in dom
    for element in ("<img", "<iframe", "<link", 'href="javascript:', 'href="data:'):
        assert element not in dom
    assert dom.count("<script") == 1
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    assert listener.paths == []
    # The listener hears a page that does ask: this check can fail.
    control = tmp_path / "control.html"
    control.write_text(f'<img src="http://127.0.0.1:{listener.port}/control.png">')
    chromium(tmp_path, control.as_uri(), "--dump-dom")
    assert listener.paths == ["/control.png"]


def test_a_screenshot_for_people_to_look_at(made: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, made.as_uri(), f"--screenshot={shot}", "--window-size=1280,2000",
             "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
