"""For maintainers: one request of every shape we send, to the real service.

    python -m meta_prompting.face.livecheck [--model M] [--timeout S]

A part, a run, a streamed run, a judge with a JSON schema and a count of tokens, each
through `open_model`, as the commands get their model; one line each saying what came
back. Without a key (or Vertex AI settings) it says so and sends nothing. CI never runs
it: the tests run it against the strict fake instead (tests/test_service.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meta_prompting.errors import GenerationError

if TYPE_CHECKING:
    from meta_prompting.models import LazyModel

EXIT_OK, EXIT_FAILED = 0, 1


def shapes(model: LazyModel) -> list[tuple[str, Callable[[], str]]]:
    """(name, send) for each request shape; `send` returns what to print after "ok"."""
    from meta_prompting.grading.grade import Rubric, schema
    from meta_prompting.library.goals import Goal, Part
    from meta_prompting.models.base import ModelRequest
    from meta_prompting.parts.prompt import SYSTEM_INSTRUCTION, PartRequest, build_prompt
    from meta_prompting.toolkit.prompt import Sections

    brief = Part("constraint", "brief.txt")
    goal = Goal("CHECK", "Say whether a change is safe", Part("persona", "auditor.txt"),
                Part("protocol", "review.txt"), (brief,))
    part_prompt = build_prompt(PartRequest(goal, brief, "Keep every answer under 100 words."))
    run_system, run_prompt = "You are a careful reviewer.", "Name one risk of a global lock."
    rubric = Rubric("CHECK", ("names_a_risk",), "Does the answer name a risk?",
                    "You are a strict judge.", Sections("", ()), "")
    judge_prompt = ("Judge this answer against the criterion names_a_risk.\n\n"
                    "<answer>A global lock serialises every request.</answer>")

    def answered(answer: Any) -> str:
        tokens = ", ".join(f"{k} {v}" for k, v in answer.usage.items() if v is not None)
        first = answer.text.strip().splitlines()[0][:80] if answer.text.strip() else ""
        return (f"{answer.model_version}, {answer.finish_reason}, tokens: {tokens or 'none'}: "
                f"{first}")

    def streamed() -> str:
        pieces: list[str] = []
        answer = model.complete(ModelRequest(run_system, run_prompt), on_text=pieces.append)
        return f"{len(pieces)} pieces, " + answered(answer)

    return [
        ("part", lambda: answered(model.complete(ModelRequest(SYSTEM_INSTRUCTION,
                                                              part_prompt)))),
        ("run", lambda: answered(model.complete(ModelRequest(run_system, run_prompt)))),
        ("streamed run", streamed),
        ("judge", lambda: answered(model.complete(ModelRequest(
            rubric.system, judge_prompt, json_schema=schema(rubric))))),
        ("count tokens", lambda: f"{model.count_tokens(run_system + chr(10) + run_prompt)}"
                                 " tokens"),
    ]


def main(argv: list[str] | None = None) -> int:
    from meta_prompting.core.context import DEFAULT_TIMEOUT
    from meta_prompting.models import model_access, model_blocker, open_model

    parser = argparse.ArgumentParser(
        prog="python -m meta_prompting.face.livecheck",
        description="Send one request of every shape we use to the real Gemini service.")
    parser.add_argument("--model", help="the model to check (default: the one commands use)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    args = parser.parse_args(argv)
    access = model_access(args.model)
    blocker = model_blocker(args.model) or (None if access else "no API key")
    if blocker:
        print(f"live check skipped: {blocker}")
        return EXIT_OK

    from meta_prompting.face.show import printable
    from meta_prompting.models.gemini import api_version
    from meta_prompting.models.keys import scrub_secrets

    model = open_model(args.model, timeout=args.timeout,
                       on_notice=lambda note: print(f"  {note}", file=sys.stderr))
    why = model.connect()
    if why is not None:
        print(f"live check skipped: {why}")
        return EXIT_OK
    print(f"live check: {model.spec}, API version {api_version()}, {access}")
    failed = 0
    for name, send in shapes(model):
        try:
            said = f"ok: {send()}"
        except GenerationError as e:
            failed += 1
            said = f"failed: {e}"
        print(printable(scrub_secrets(f"{name}: {said}")))
    print("all shapes answered" if not failed else f"{failed} of 5 shapes failed")
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
