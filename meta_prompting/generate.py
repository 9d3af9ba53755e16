"""The seam around Gemini: what we ask for a part, and what we accept back.

The prompt and the checks on the answer are pure. `GeminiGenerator` is the only code
that touches google-genai, imported there and only there (it costs ~1 s), and it
turns every SDK failure into a GenerationError whose message a person can act on.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, NamedTuple

from meta_prompting.errors import GenerationError
from meta_prompting.library import Goal, Part

KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # the SDK's order: the first wins
RETRY_STATUSES = [408, 429, 500, 502, 503, 504]

KIND_INSTRUCTIONS = {
    "persona": (
        "A persona defines a role and a voice: who the model is, its expertise, how it "
        "speaks, what it values, and what it refuses to do. Write it in the second person "
        "(\"You are ...\"), 120 to 250 words."
    ),
    "protocol": (
        "A protocol defines the steps and rules of the interaction: numbered steps, what "
        "the model must produce at each step, the output format (headings, tables), and "
        "when to stop and ask for missing evidence. 250 to 600 words."
    ),
    "constraint": (
        "A constraint states exactly one non-negotiable rule, crisply, with what to do "
        "instead and how to tell that the rule is being followed. 40 to 150 words."
    ),
}

SYSTEM_INSTRUCTION = (
    "You write parts for a library of reusable prompts that senior engineers paste into "
    "LLM sessions. Each part is one plain-text file. Write original, specific, actionable "
    "text; no filler, no marketing, no mention of being an AI. Answer with the bare text "
    "of the part and nothing else: no preamble, no title saying what it is, no code fence, "
    "no closing remarks, no template placeholders."
)


class PartRequest(NamedTuple):
    """Everything the model is told about one part; one fresh request each."""

    goal: Goal
    part: Part
    description: str
    examples: tuple[tuple[str, str], ...] = ()  # (file name, text) of same-kind parts
    draft: str | None = None  # only when a person asks for a revision
    comment: str | None = None


class Generated(NamedTuple):
    text: str
    model: str | None  # the model version that answered; None: a person wrote it
    description: str | None = None  # what the model was told, when a person changed it


def build_prompt(request: PartRequest) -> str:
    """Pure: the user prompt for one part."""
    goal, part = request.goal, request.part
    lines = [
        f"Write the {part.kind} `{part.name}` for the {goal.name} goal.",
        "",
        f"The goal: {goal.name} - {goal.description or 'no description given'}",
        f"This part: {request.description}",
        f"The goal's parts: persona {goal.persona.name}, protocol {goal.protocol.name}, "
        f"constraints {', '.join(c.name for c in goal.constraints) or 'none'}.",
        "",
        KIND_INSTRUCTIONS[part.kind],
    ]
    if request.examples:
        lines += ["", f"Existing {part.kind} parts from the same library, to show its voice "
                      "and level of detail (do not copy them):"]
        for name, text in request.examples:
            lines += ["", f'<example file="{name}">', text.strip(), "</example>"]
    if request.draft is not None:
        lines += ["", "Revise this draft:", "<draft>", request.draft.strip(), "</draft>",
                  "", f"What to change: {request.comment or 'make it better'}"]
    lines += ["", f"Answer with the text of {part.name} only."]
    return "\n".join(lines)


_FENCE = re.compile(r"^\s*```[\w-]*[ \t]*\n(?P<body>.*?)\n```\s*$", re.DOTALL)
_PREAMBLE = re.compile(
    r"^(sure|certainly|of course|okay|ok|absolutely|great|here(?:'s| is| are))\b[^\n]{0,200}"
    r"[:.!]\s*\n", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"\n\s*(let me know|i hope|feel free|hope this helps)[^\n]*\s*$", re.IGNORECASE)


def clean_answer(text: str) -> str:
    """Pure: strip a code fence around the whole answer and a chatty preamble/sign-off."""
    text = text.strip()
    for _ in range(2):  # a preamble may stand outside the fence, or inside it
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group("body").strip()
        text = _PREAMBLE.sub("", text, count=1).strip()
    text = _SIGN_OFF.sub("", text).strip()
    return text + "\n" if text else ""


def check_response(response: Any) -> str:
    """The part's text from a generateContent response, or GenerationError saying why not.

    `response.text` is None when blocked and *truncated* at MAX_TOKENS, so the finish
    reason is checked first: a cut-off part must never be saved as if it were whole.
    """
    feedback = getattr(response, "prompt_feedback", None)
    block = getattr(feedback, "block_reason", None)
    if block:
        raise GenerationError(f"the prompt was blocked ({_name(block)})")
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        raise GenerationError("the model returned no answer (no candidates)")
    reason = _name(getattr(candidates[0], "finish_reason", None))
    if reason == "MAX_TOKENS":
        raise GenerationError("the answer was cut off at the token limit (MAX_TOKENS)")
    if reason not in ("STOP", "None"):
        raise GenerationError(f"the model stopped without a usable answer ({reason})")
    content = getattr(candidates[0], "content", None)
    parts = getattr(content, "parts", None) or []
    # Skip "thought" parts: a thinking model's reasoning is not the answer.
    raw = "".join(p.text for p in parts if getattr(p, "text", None) and not getattr(
        p, "thought", False))
    text = clean_answer(raw)
    if not text.strip():
        raise GenerationError("the model returned an empty answer")
    return text


def _name(value: Any) -> str:
    return str(getattr(value, "name", value))


def find_key() -> tuple[str, str] | None:
    """(variable name, key) the SDK will use, or None."""
    for name in KEY_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None


def retry_delay() -> float:
    """Seconds before the first retry ($META_PROMPTING_RETRY_DELAY; doubles each time)."""
    try:
        return max(0.0, float(os.environ.get("META_PROMPTING_RETRY_DELAY", "1.0")))
    except ValueError:
        return 1.0


class GeminiGenerator:
    """Generator over the real google-genai client, built the standard way."""

    def __init__(self, model: str, timeout: float, attempts: int = 4) -> None:
        found = find_key()
        if found is None:
            raise GenerationError("no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)")
        self.key_variable, self._key = found
        self.model = model
        self.timeout = timeout
        self.attempts = attempts
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._client_lock:  # one client, one connection pool, for all threads
            if self._client is None:
                from google import genai
                from google.genai import types

                delay = retry_delay()
                options = types.HttpOptions(
                    timeout=int(self.timeout * 1000),  # milliseconds
                    retry_options=types.HttpRetryOptions(
                        attempts=self.attempts, initial_delay=delay, max_delay=max(delay, 16.0),
                        exp_base=2, jitter=min(delay, 1.0), http_status_codes=RETRY_STATUSES),
                )
                # No api_key argument: the SDK reads GEMINI_API_KEY/GOOGLE_API_KEY and
                # GOOGLE_GEMINI_BASE_URL itself, so its own settings keep working.
                self._client = genai.Client(http_options=options)
            return self._client

    def generate(self, request: PartRequest) -> Generated:
        try:
            from google.genai import types

            client = self._get_client()
            response = client.models.generate_content(
                model=self.model,
                contents=build_prompt(request),
                config=types.GenerateContentConfig(system_instruction=SYSTEM_INSTRUCTION),
            )
            text = check_response(response)
        except GenerationError:
            raise
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a reason
            raise GenerationError(self._scrub(self.explain(e))) from e
        version = getattr(response, "model_version", None) or self.model
        return Generated(text, str(version))

    def explain(self, e: Exception) -> str:
        """One line a person can act on, for any failure the SDK or its transport raises."""
        import json

        from google.genai import errors

        if isinstance(e, errors.APIError):
            code, status = e.code, e.status or ""
            if code == 400 and "API_KEY_INVALID" in str(e.details):
                return f"the API key was refused (API_KEY_INVALID): fix {self.key_variable}"
            if code in (401, 403):
                return (f"access denied ({code} {status}): check {self.key_variable} "
                        "and that the key may use the Gemini API")
            if code == 404:
                return (f"model {self.model!r} not found (404): choose another with --model "
                        "or META_PROMPTING_MODEL")
            tries = f" after {self.attempts} attempts" if code in RETRY_STATUSES else ""
            return f"the service answered {code} {status}{tries}: {_first_line(e.message)}"
        if isinstance(e, json.JSONDecodeError):
            return "the service sent an answer that is not JSON"
        kind = type(e).__name__
        if "Timeout" in kind or isinstance(e, TimeoutError):
            return f"no answer within {self.timeout:g}s ({kind})"
        if "Connect" in kind:
            return f"cannot reach the service ({_first_line(str(e)) or kind})"
        if "RemoteProtocol" in kind:
            return "the service dropped the connection without answering"
        return f"{kind}: {_first_line(str(e))}"

    def _scrub(self, message: str) -> str:
        # The key must never reach a terminal, a log or a manifest, whatever echoes it.
        return message.replace(self._key, "***") if self._key else message


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:200] if (text or "").strip() else ""
