"""The flags: every capability's group with an example, and checks on their values.

Parsing only; `cli` decides what runs. A bad value is a usage error (exit 2), raised,
so that one place maps it (and reports it as JSON under --json).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import NoReturn

from meta_prompting import __version__
from meta_prompting.core.context import DEFAULT_JOBS, DEFAULT_TIMEOUT
from meta_prompting.errors import UsageError
from meta_prompting.runs import MAX_SAMPLES

MAX_JOBS = 64  # more threads than this only queue on the service and exhaust descriptors
MAX_TIMEOUT = 24 * 3600.0  # seconds; beyond it a thread wait overflows

EXAMPLES = """\
examples:
  build output/payments-review/ from the AUDIT goal's parts:
    %(prog)s --goal AUDIT --project payments-review
  show what a build would do, writing nothing:
    %(prog)s --goal debug --project crash --dry-run
  the interactive wizard:
    %(prog)s
  every goal and its parts; validate the whole library (for CI):
    %(prog)s --list
    %(prog)s --check
  a project's kept runs, newest first; then one of them whole; run its last task again:
    %(prog)s --runs --project payments-review
    %(prog)s --runs 4db4e82dbeb0 --project payments-review
    %(prog)s --project payments-review --run
  start your own library here from the built-in one, to edit and extend:
    %(prog)s --init
  generate every missing part of the library, five at a time:
    GEMINI_API_KEY=... %(prog)s --generate-missing --jobs 5

exit codes: 0 done, 1 error, 2 bad flags, 3 incomplete (a part, a run,
a grade or a stage could not be made: run the same command again), 4 a
graded answer failed the scorecard, 5 submitted to the Batch service (run
the same command again to collect), 130 interrupted, 141 output closed.
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        # argparse makes a formatter for every add_argument() and, with no width, imports
        # shutil (~4 ms, 0.2x a bare start-up) to ask the terminal's. Ask it ourselves.
        if width is None:
            try:
                width = int(os.environ.get("COLUMNS") or os.get_terminal_size().columns)
            except (ValueError, OSError):
                width = 80
            width = min(width if width > 0 else 80, 1000) - 2  # COLUMNS=0 or 100000
        super().__init__(prog, indent_increment, max_help_position, max(width, 40))


MODEL_HELP = "the model"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One place maps errors to exits (and --json must report usage errors too).
        raise UsageError(message)

    def format_help(self) -> str:
        # --model's help names the providers and the default model, which only the
        # model seam knows: asked for here, so that a build never loads a provider.
        for action in self._actions:
            if action.help == MODEL_HELP:
                action.help = _model_help()
        return super().format_help()


def _model_help() -> str:
    from meta_prompting.models import DEFAULT_PROVIDER, PROVIDERS, provider_module

    default = provider_module(DEFAULT_PROVIDER).default_name(DEFAULT_PROVIDER)
    others = ", ".join(f"{p}:NAME" for p in sorted(PROVIDERS) if p != DEFAULT_PROVIDER)
    return (f"the model: a {DEFAULT_PROVIDER.capitalize()} model, or {others} (default: "
            f"$META_PROMPTING_MODEL or {default})")


def make_parser(name: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=name or prog(),
        description="Assemble a prompt toolkit for a goal from the parts bin, generating "
                    "missing parts with Gemini. With no --goal/--project, in a terminal, "
                    "a wizard asks what it needs.",
        epilog=EXAMPLES,
        formatter_class=_HelpFormatter,
        allow_abbrev=False,  # --js must not quietly mean --json: flags are a contract
    )
    parser.add_argument("--goal", "-g", metavar="GOAL",
                        help="the goal to build, e.g. AUDIT (any case)")
    parser.add_argument("--project", "-p", metavar="NAME",
                        help="the toolkit's folder name under output/")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true",
                      help="list every goal, its parts and their status (with --project: "
                           "the project's goal)")
    mode.add_argument("--check", action="store_true",
                      help="validate goal_map.json and every part; exit 1 on a problem")
    mode.add_argument("--generate-missing", action="store_true",
                      help="generate every missing part the map names (or --goal's), "
                           "without building a toolkit")
    mode.add_argument("--spent", action="store_true",
                      help="the ledger: tokens and cost by day, goal and model, summed from "
                           "the records under output/ (or --project's)")
    mode.add_argument("--runs", nargs="?", const="", metavar="RUN",
                      help="--project's kept runs, newest first: date, task, model, verdict, "
                           "samples passed, tokens, seconds, cost; with RUN, what it was "
                           "asked and where its answers are")
    mode.add_argument("--init", nargs="?", const=".", metavar="DIR",
                      help="copy the built-in library into DIR (default: here) to start "
                           "your own; never overwrites a file")
    mode.add_argument("--report", action="store_true",
                      help="write output/<project>/report.html: every run, scorecard and "
                           "stage of --project (and --chain FILE's graph) in one page that "
                           "opens offline; calls no model")
    parser.add_argument("--dry-run", action="store_true",
                        help="show what a build would do; write nothing")
    parser.add_argument("--force", action="store_true",
                        help="overwrite toolkit files edited by hand")
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON document on stdout")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print nothing but errors")
    parser.add_argument("--non-interactive", action="store_true",
                        help="never ask questions (also when CI is set or there is no "
                             "terminal); --goal and --project are then required")
    parser.add_argument("--root", metavar="DIR",
                        help="the project library: a folder with goal_map.json, "
                             "components/ and output/ (default: $META_PROMPTING_ROOT, else "
                             "the current folder if it has a goal_map.json). What it lacks "
                             "comes from $META_PROMPTING_HOME's library, then the built-in "
                             "one")
    parser.add_argument("--version", action="version", version=f"meta-prompting {__version__}")
    gen = parser.add_argument_group("generating missing parts (Gemini)")
    gen.add_argument("--no-generate", action="store_true",
                     help="never call the model; missing parts become placeholders")
    gen.add_argument("--model", metavar="[PROVIDER:]NAME",
                     help=MODEL_HELP)  # said in full by format_help: see _Parser
    gen.add_argument("--base-url", metavar="URL",
                     help="where an OpenAI-compatible model is asked (default: "
                          "$OPENAI_BASE_URL; ollama: http://localhost:11434/v1)")
    gen.add_argument("--jobs", "-j", metavar="N", type=_jobs, default=DEFAULT_JOBS,
                     help=f"parts generated at once (default: {DEFAULT_JOBS})")
    gen.add_argument("--timeout", metavar="SECONDS", type=_timeout,
                     default=DEFAULT_TIMEOUT,
                     help=f"give up on a part after this long, retries included "
                          f"(default: {DEFAULT_TIMEOUT:g})")
    gen.add_argument("--describe", metavar="FILE=TEXT", action="append", default=[],
                     type=_description,
                     help="what a missing part is for, told to the model (repeatable)")
    gen.add_argument("--regenerate", metavar="FILE", action="append", default=[],
                     help="generate this part again even though it exists (repeatable)")
    run = parser.add_argument_group(
        "filling and running the toolkit (each run a fresh session)",
        "e.g. %(prog)s -g DEBUG -p crash --task-file bug.md --evidence src/ --run")
    run.add_argument("--task", metavar="TEXT",
                     help="fill the <task> block: what you want done (also writes 02_PROMPT.md)")
    run.add_argument("--task-file", metavar="FILE", help="the task from a file (- = stdin)")
    run.add_argument("--evidence", metavar="PATH", action="append", default=[],
                     help="a file or folder for the <evidence> block (repeatable; - = stdin)."
                          " A folder's walk stays in it and leaves out hidden files, files "
                          "that may hold secrets, this tool's output and what .gitignore "
                          "leaves out")
    run.add_argument("--evidence-all", action="store_true",
                     help="walk folders without .gitignore: send what it leaves out too")
    run.add_argument("--evidence-diff", metavar="REV",
                     help="a change as evidence: the work tree's diff against REV (or A..B), "
                          "and each changed file as it now stands (e.g. origin/main)")
    run.add_argument("--run", action="store_true",
                     help="send the filled prompt to the model; keep the answer in runs/")
    run.add_argument("--samples", metavar="N", type=_samples,
                     help="make sure N independent answers exist (default 1, at most "
                          f"{MAX_SAMPLES}; implies --run)")
    run.add_argument("--again", action="store_true",
                     help="one more answer beside those kept (implies --run)")
    run.add_argument("--fresh", metavar="N", type=_samples,
                     help="make sample N again in a fresh session; the kept one is moved "
                          "aside to runs/<id>.replaced-<date>/, never deleted (implies --run)")
    run.add_argument("--max-tokens", metavar="N", type=_positive_int,
                     help="the longest answer the model may give (default: the model's)")
    grade = parser.add_argument_group(
        "grading answers with the scorecard (exit 4 when one fails)",
        "e.g. %(prog)s -g SIMULATE -p cache --task-file task.md --evidence src/ --grade")
    grade.add_argument("--grade", action="store_true",
                       help="grade every answer kept for this task (running it first if need "
                            "be): a PASS/FAIL per criterion")
    grade.add_argument("--answer", metavar="FILE",
                       help="grade this answer, made elsewhere, against the filled toolkit")
    grade.add_argument("--grade-with", metavar="GOAL",
                       help="the goal whose protocol holds the rubric (default: the one the "
                            "goal names in the map; a goal naming none is not graded)")
    grade.add_argument("--judge-model", metavar="[PROVIDER:]NAME",
                       help="the judges' model (default: the model that answered, on the "
                            "same server)")
    grade.add_argument("--judges", metavar="K", type=_odd_int, default=1,
                       help="independent judgments per answer, verdicts by majority "
                            "(odd; default 1)")
    grade.add_argument("--junit", metavar="FILE",
                       help="also write the grades as JUnit XML for CI: a test case per "
                            "answer (or stage) and per criterion")
    grade.add_argument("--min-pass-rate", metavar="R", type=_rate,
                       help="exit 4 only when the share of answers (or graded stages) "
                            "passing is below R, from 0 to 1 (default: any failure)")
    grade.add_argument("--budget", metavar="USD", type=budget,
                       help="refuse work whose estimate passes USD dollars, and send no "
                            "call past it (also META_PROMPTING_BUDGET)")
    grade.add_argument("--refine", metavar="N", type=_refine,
                       help="after a FAIL, run again in a fresh session whose request carries "
                            "the judge's failing criteria and fixes, until a PASS, N attempts, "
                            "or no progress; every attempt kept (implies --grade)")
    chain = parser.add_argument_group(
        "chains of fresh sessions (one stage's answer feeds the next)",
        "e.g. %(prog)s --chain examples/batch-recovery/chain.json --project batch")
    chain.add_argument("--chain", metavar="FILE",
                       help="run the stages of a chain file into output/<project>/<stage>/; "
                            "running it again runs only what is missing or changed")
    chain.add_argument("--fresh-stage", metavar="NAME", action="append", default=[],
                       help="ask this stage again in fresh sessions (the kept ones moved "
                            "aside, never deleted); the stages after it follow (repeatable)")
    many = parser.add_argument_group(
        "many tasks at once (each row a fresh session, kept as --run keeps one)",
        "e.g. %(prog)s -g AUDIT -p reviews --tasks examples/tasks/tasks.jsonl --grade")
    many.add_argument("--tasks", metavar="FILE",
                      help="fill and run the toolkit once per row of a JSONL or CSV file "
                           "(id, task or task_file, evidence), rows side by side (--jobs); "
                           "running it again makes only what is missing. Writes "
                           "output/<project>/RESULTS.md and results.jsonl")
    batch = parser.add_argument_group(
        "Gemini's Batch service (the batch price; results within 24 hours)",
        "e.g. %(prog)s -g AUDIT -p reviews --tasks tasks.jsonl --batch  (again to collect)")
    batch.add_argument("--batch", action="store_true",
                       help="send what --run, --samples, --grade, --tasks or --chain lacks "
                            "to the Batch service as one job, then exit 5; the same command "
                            "again collects it (and submits the next wave: judgments, later "
                            "stages). A request is never submitted twice")
    batch.add_argument("--wait", action="store_true",
                       help="with --batch: stay and poll (a progress line on stderr) until "
                            "every wave is collected")
    batch.add_argument("--no-batch", action="store_true",
                       help="make what is missing with interactive calls; refused while a "
                            "batch job of the project holds any of it")
    batch.add_argument("--batches", action="store_true",
                       help="list --project's batch jobs: name, state, requests, created, "
                            "collected")
    batch.add_argument("--cancel-batch", metavar="NAME",
                       help="cancel --project's batch job NAME (batches/ID); the next "
                            "--batch run submits its requests again")
    return parser


def _odd_int(text: str) -> int:
    value = _positive_int(text)
    if value % 2 == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be odd, so a majority always exists")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text!r} must be from 0 to 1, e.g. 0.8")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def budget(text: str) -> float:
    try:
        value = float(text.strip().lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of US dollars") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more US dollars")
    return value


def _samples(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most {MAX_SAMPLES} (each "
                                         "sample is a full session with the model)")
    return value


def _refine(text: str) -> int:
    from meta_prompting.grading.refine import MAX_REFINE

    value = _positive_int(text)
    if value > MAX_REFINE:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most {MAX_REFINE} (each "
                                         "attempt is a full session and a judgment)")
    return value


def _jobs(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most {MAX_JOBS}")
    return value


def _timeout(text: str) -> float:
    value = _positive_float(text)
    if value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most {MAX_TIMEOUT:g} seconds "
                                         "(24 hours)")
    return value


def _description(text: str) -> tuple[str, str]:
    name, sep, description = text.partition("=")
    if not sep or not name.strip() or not description.strip():
        raise argparse.ArgumentTypeError(f"{text!r} must look like FILE=TEXT, e.g. "
                                         "'protocols/x.txt=what it is for'")
    return name.strip(), " ".join(description.split())


def prog() -> str:
    """How the user invoked us, so hints name a command they can paste."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(argv0)
    if name == "meta-prompting":
        return "meta-prompting"
    if name == "__main__.py" and os.path.basename(os.path.dirname(argv0)) == "meta_prompting":
        return "python -m meta_prompting"
    return "python orchestrator.py"


def check_ci_flags(args: argparse.Namespace, wizard: bool = False) -> None:
    given = [f for f, v in (("--evidence-diff", args.evidence_diff if wizard else None),
                            ("--junit", args.junit), ("--min-pass-rate", args.min_pass_rate))
             if v is not None]
    if given and wizard:
        raise UsageError(f"{' and '.join(given)}: give --goal and --project too (the wizard "
                         "does not ask for them)")
    if given and not args.grade:
        raise UsageError(f"{' and '.join(given)} report grades: add --grade (or use --chain)")
    if args.junit:
        from meta_prompting.report.junit import check_junit_path

        check_junit_path(args.junit)


def ci_suffix(args: argparse.Namespace) -> str:
    """--junit and --min-pass-rate, said again in the command that finishes the job."""
    return ((f" --junit {shlex.quote(args.junit)}" if args.junit else "")
            + (f" --min-pass-rate {args.min_pass_rate:g}" if args.min_pass_rate is not None
               else ""))


def check_base_url(given: str | None) -> None:
    """Refuse a --base-url holding a key: it is in every "run this again" hint."""
    if given is None:
        return
    from meta_prompting.errors import UserError
    from meta_prompting.models.keys import holds_key

    if holds_key(given):
        raise UserError("--base-url holds the API key (or part of it); pass the key in "
                        "OPENAI_API_KEY: nothing was written or sent")


def check_model(given: str | None, flag: str = "--model") -> None:
    """Refuse a model name that holds the API key: it is kept in every record and sent.

    Only what was given is looked at: the default is the model seam's, resolved when a
    model is first needed (a build from a complete library needs none).
    """
    from meta_prompting.errors import GenerationError, UserError

    if given is not None:
        from meta_prompting.models import parse_spec

        try:  # "ollama:" names no model: refused before anything is built
            parse_spec(given)
        except GenerationError as e:
            raise UserError(str(e).replace("--model", flag, 1)) from e
    named = given if given is not None else (
        os.environ.get("META_PROMPTING_MODEL") if flag == "--model" else None)
    if named:
        from meta_prompting.models.keys import holds_key

        if holds_key(named):
            where = flag if given else "META_PROMPTING_MODEL"
            raise UserError(f"{where} holds the API key (or part of it), not a model name; "
                            "nothing was written or sent")
