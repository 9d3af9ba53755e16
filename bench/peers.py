"""Peers, for context: cookiecutter and copier rendering an equivalent two-file job.

A throwaway virtual environment (in a temp dir, never the project's) gets cookiecutter
and copier from the package registry; if that fails or takes over ~2 minutes, the
peers are skipped with a note. Each tool renders two files from a couple of variables,
non-interactively; ours builds a two-file toolkit (plus its manifest) into a new
project. All are reported as ratios to a bare `python -c pass`, paired round by round.
No bar: this is context, not a requirement.
Usage: python bench/peers.py [--quick] [--rounds N]
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ORCH,
    PY,
    Row,
    Table,
    base_env,
    command_line,
    copy_library,
    finish,
    median,
    ms,
    paired,
    parse_args,
    run,
)

INSTALL_TIMEOUT = 120
PERSONA = "You are the {goal} expert for {project}. Cite evidence for every claim.\n"
TEMPLATE = "# {goal} prompt template for {project}\n\n<task>\nREPLACE THIS LINE\n</task>\n"


def install(venv: Path) -> tuple[dict[str, str], str]:
    """Versions installed (empty on failure) and a note saying what happened."""
    start = time.monotonic()
    try:
        subprocess.run([PY, "-m", "venv", str(venv)], check=True, capture_output=True,
                       timeout=60)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "cookiecutter", "copier"], check=True, capture_output=True,
                       timeout=INSTALL_TIMEOUT)
        out = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('cookiecutter'),"
                              " m.version('copier'))"],
                             check=True, capture_output=True, text=True, timeout=60).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        detail = getattr(e, "stderr", b"") or b""
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        return {}, f"peers skipped: could not install cookiecutter and copier ({e}; " \
                   f"{detail.strip()[-200:]})"
    cc, cp = out.split()
    return ({"cookiecutter": cc, "copier": cp},
            f"installed cookiecutter {cc} and copier {cp} in {time.monotonic() - start:.0f} s "
            "into a throwaway venv")


def make_templates(tmp: Path) -> tuple[Path, Path]:
    """The same two files from the same two variables, in each tool's template format."""
    cc = tmp / "cc"
    body = cc / "{{cookiecutter.project}}"
    body.mkdir(parents=True)
    (cc / "cookiecutter.json").write_text(json.dumps({"project": "demo", "goal": "AUDIT"}))
    jinja = {k: "{{cookiecutter." + k + "}}" for k in ("project", "goal")}
    (body / "00_PERSONA.md").write_text(PERSONA.format(**jinja))
    (body / "01_PROMPT_TEMPLATE.md").write_text(TEMPLATE.format(**jinja))
    cp = tmp / "cp"
    cp.mkdir()
    (cp / "copier.yml").write_text("project: demo\ngoal: AUDIT\n")
    jinja = {k: "{{" + k + "}}" for k in ("project", "goal")}
    (cp / "00_PERSONA.md.jinja").write_text(PERSONA.format(**jinja))
    (cp / "01_PROMPT_TEMPLATE.md.jinja").write_text(TEMPLATE.format(**jinja))
    return cc, cp


def measure(rounds: int) -> Table:
    env = base_env()
    table = Table(f"Peers: a two-file job, ratio to python -c pass (median of {rounds} "
                  "paired rounds)", command_line())
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        venv = tmp / "peers-venv"
        versions, note = install(venv)
        table.notes.append(note)
        root = copy_library(tmp / "lib")
        n = itertools.count()
        tasks = {
            "python -c pass": lambda: run([PY, "-c", "pass"], env)[0],
            "meta-prompting build (new project)": lambda: run(
                [PY, ORCH, "--root", str(root), "-g", "AUDIT", "-p", f"p{next(n)}", "-q"],
                env)[0],
        }
        if versions:
            cc, cp = make_templates(tmp)
            bin_ = venv / "bin"
            tasks[f"cookiecutter {versions['cookiecutter']} --no-input"] = lambda: run(
                [str(bin_ / "cookiecutter"), "--no-input", "-f", "-o",
                 str(tmp / "cc-out" / str(next(n))), str(cc)], env)[0]
            tasks[f"copier {versions['copier']} copy --defaults --overwrite"] = lambda: run(
                [str(bin_ / "copier"), "copy", "--defaults", "--overwrite", "--quiet",
                 str(cp), str(tmp / "cp-out" / str(next(n)))], env)[0]
        samples = paired(tasks, rounds, warmup=2)
        if versions:  # a peer that rendered nothing would look fast: check what it wrote
            for tool, out in (("cookiecutter", tmp / "cc-out"), ("copier", tmp / "cp-out")):
                files = sorted(out.glob("**/0*.md"))
                runs = len({f.parent for f in files})
                good = bool(files) and all("AUDIT" in f.read_text() and "demo" in f.read_text()
                                           for f in files)
                table.notes.append(f"{tool} wrote {len(files)} files in {runs} runs, "
                                   f"variables substituted: {'yes' if good else 'NO'}")
    base = median(samples["python -c pass"])
    table.rows += [Row(name, ms(median(xs)), median(xs) / base) for name, xs in samples.items()]
    return table


def main() -> int:
    args = parse_args(__doc__)
    rounds = args.rounds or (5 if args.quick else 15)
    return finish([measure(rounds)], args.json_out)


if __name__ == "__main__":
    sys.exit(main())
