"""For maintainers: one request of every shape we send, to the real service.

    python -m meta_prompting.models.livecheck [--model M] [--timeout S]

A part, a run, a streamed run, a judge with a JSON schema and a count of tokens, each
through the same `GeminiGenerator` the commands use; one line each saying what came
back. Without a key (or Vertex AI settings) it says so and sends nothing. CI never runs
it: the tests run it against the strict fake instead (tests/test_service.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from meta_prompting.errors import GenerationError

EXIT_OK, EXIT_FAILED = 0, 1


def shapes(generator: Any) -> list[tuple[str, Callable[[], str]]]:
    """(name, send) for each request shape; `send` returns what to print after "ok"."""
    from meta_prompting.grading.grade import Rubric, schema
    from meta_prompting.library.goals import Goal, Part
    from meta_prompting.models.gemini import SYSTEM_INSTRUCTION, PartRequest, build_prompt
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
        return f"{answer.model}, {answer.finish_reason}, tokens: {tokens or 'none'}: {first}"

    def streamed() -> str:
        pieces: list[str] = []
        answer = generator.complete(run_system, run_prompt, on_text=pieces.append)
        return f"{len(pieces)} pieces, " + answered(answer)

    return [
        ("part", lambda: answered(generator.complete(SYSTEM_INSTRUCTION, part_prompt))),
        ("run", lambda: answered(generator.complete(run_system, run_prompt))),
        ("streamed run", streamed),
        ("judge", lambda: answered(generator.complete(rubric.system, judge_prompt,
                                                      json_schema=schema(rubric)))),
        ("count tokens", lambda: f"{generator.count_tokens(run_system + chr(10) + run_prompt)}"
                                 " tokens"),
    ]


def main(argv: list[str] | None = None) -> int:
    from meta_prompting.models.keys import access_note, key_blocker
    from meta_prompting.toolkit.build import DEFAULT_TIMEOUT, default_model

    parser = argparse.ArgumentParser(
        prog="python -m meta_prompting.models.livecheck",
        description="Send one request of every shape we use to the real Gemini service.")
    parser.add_argument("--model", help="the model to check (default: the one commands use)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    args = parser.parse_args(argv)
    access = access_note()
    blocker = key_blocker() or (None if access else "no API key")
    if blocker:
        print(f"live check skipped: {blocker}")
        return EXIT_OK

    from meta_prompting.face.show import printable, retries_told
    from meta_prompting.models.gemini import GeminiGenerator
    from meta_prompting.models.keys import scrub_secrets

    model = args.model or default_model()
    try:
        generator = GeminiGenerator(model, args.timeout)
    except GenerationError as e:
        print(f"live check skipped: {e}")
        return EXIT_OK
    print(f"live check: {model}, API version {generator.api_version}, {access}")
    failed = 0
    with retries_told(lambda note: print(f"  {note}", file=sys.stderr), named=False):
        for name, send in shapes(generator):
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
