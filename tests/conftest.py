"""Every test gets its own library and an environment with no keys and no network."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fake_gemini import fake_gemini  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parent.parent

# Variables that would let a test reach the real service or another library.
SCRUBBED = (
    "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "META_PROMPTING_ROOT",
    "META_PROMPTING_HOME", "XDG_CONFIG_HOME",
    "META_PROMPTING_MODEL", "NO_COLOR", "CI", "EDITOR", "VISUAL",
    "GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_VERTEX_BASE_URL", "CLOUDSDK_CONFIG", "OPENAI_API_KEY", "OPENAI_BASE_URL",
    "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("COLUMNS", "100")
    from meta_prompting.models import ratelimit

    ratelimit.forget()  # a test is one command: it starts with the model's full pace
    # The user library: a private, empty one (not yet made, as on a first run).
    monkeypatch.setenv("META_PROMPTING_HOME", str(tmp_path / "user-library"))
    # A working folder with no goal_map.json, so only --root finds a library.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's retries, with 10 ms before the first instead of a second."""
    monkeypatch.setenv("META_PROMPTING_RETRY_DELAY", "0.01")


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A private copy of the library this repository ships."""
    root = tmp_path / "shipped"
    root.mkdir()
    shutil.copy(REPO / "goal_map.json", root)
    if (REPO / "generation_jobs.json").exists():
        shutil.copy(REPO / "generation_jobs.json", root)
    shutil.copytree(REPO / "components", root / "components")
    return root


MakeLibrary = Callable[..., Path]


@pytest.fixture
def make_library(tmp_path: Path) -> MakeLibrary:
    """Write a small library: a goal map (dict or raw text) and parts by "folder/file"."""
    count = 0

    def make(goals: dict | str, parts: dict[str, str | bytes] | None = None) -> Path:
        nonlocal count
        count += 1
        root = tmp_path / f"lib{count}"
        for folder in ("personas", "protocols", "constraints"):
            (root / "components" / folder).mkdir(parents=True)
        text = goals if isinstance(goals, str) else json.dumps(goals, indent=2)
        (root / "goal_map.json").write_text(text, encoding="utf-8")
        for key, content in (parts or {}).items():
            path = root / "components" / key
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return root

    return make


AUDIT = {
    "AUDIT": {
        "description": "Review a change",
        "persona": "auditor.txt",
        "protocol": "review.txt",
        "constraints": ["evidence.txt", "brief.md"],
    },
}
AUDIT_PARTS = {
    "personas/auditor.txt": "You are an auditor.\n",
    "protocols/review.txt": "1. Read.\n2. Judge.\n",
    "constraints/evidence.txt": "Cite file:line.\n",
    "constraints/brief.md": "Be brief.\n",
}


@pytest.fixture
def audit_lib(make_library: MakeLibrary) -> Path:
    return make_library(AUDIT, AUDIT_PARTS)
