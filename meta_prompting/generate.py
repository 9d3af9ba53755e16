"""The seam around Gemini: what we ask for a part, and what we accept back.

The prompt and the checks on the answer are pure. `GeminiGenerator` is the only code
that touches google-genai, imported there and only there (it costs ~1 s), and it
turns every SDK failure into a GenerationError whose message a person can act on.
The key never leaves: `scrub_secrets` and `check_no_key` are for every caller that
prints, writes or keeps text the model or the SDK gave back.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from meta_prompting.errors import GenerationError
from meta_prompting.keys import NO_KEY, check_no_key, find_key, key_blocker, scrub_secrets
from meta_prompting.library import Goal, Part

MIN_WORDS = 5  # fewer, once the preamble, titles and fences are gone, is no part
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


class Answer(NamedTuple):
    """A model's answer to one fresh session, with what is worth recording about it."""

    text: str
    model: str  # the model version that answered
    finish_reason: str
    usage: dict[str, int | None]  # prompt, answer, thinking and total token counts


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
    """The part's text from a generateContent response, or GenerationError saying why not."""
    text = clean_answer(raw_answer(response))
    if not text.strip():
        raise GenerationError("the model returned an empty answer")
    check_substance(text)
    return text


def raw_answer(response: Any, text: str | None = None) -> str:
    """The answer's literal text, or GenerationError saying why there is none.

    `response.text` is None when blocked and *truncated* at MAX_TOKENS, so the finish
    reason is checked first: a cut-off answer must never be kept as if it were whole.
    For a stream, `response` is the last chunk and `text` what the chunks carried.
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
    if text is None:
        text = text_of(response)
    check_no_key(text)
    if not text.strip():
        raise GenerationError("the model returned an empty answer")
    return text


def text_of(response: Any) -> str:
    """The text parts of a response (or a streamed chunk), without "thought" parts:
    a thinking model's reasoning is not the answer."""
    candidates = getattr(response, "candidates", None) or []
    content = getattr(candidates[0], "content", None) if candidates else None
    parts = getattr(content, "parts", None) or []
    return "".join(p.text for p in parts if getattr(p, "text", None) and not getattr(
        p, "thought", False))


# Lines that say nothing by themselves: a heading, a line in bold, a lead-in ending in a
# colon, a fence; a lone "Sure, here is the persona." or "Okay!".
_EMPTY_LINE = re.compile(
    r"^\s*(?:#.*|([*_]{1,3})[^*_]+\1[:.]?|[^.!?]*:|```.*|\W*"
    r"|\W*(?:sure|certainly|of course|okay|ok|absolutely|great|done)\b\W*"
    r"|.{0,40}\b(?:here(?:'s| is| are)|below is|this is)\b.{0,60}"
    r"\b(?:persona|protocol|constraint|part|text|draft|version|revision)\b[^.!?]{0,30}\W*)"
    r"\s*$",
    re.IGNORECASE)
_WORD = re.compile(r"\w*[^\W\d_]\w*")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s*$")


def check_substance(text: str) -> None:
    """Refuse a cleaned answer that says nothing: a lone preamble, title or fence.

    Substance is one sentence, or MIN_WORDS words, beyond such lines. Checked after
    `clean_answer`, which strips a preamble only when text follows it: a reply that is
    only "Sure, here is the persona:" survives cleaning, and is no persona.
    """
    lines = [line for line in text.splitlines() if not _EMPTY_LINE.match(line)]
    words = sum(len(_WORD.findall(line)) for line in lines)
    sentence = any(_WORD.search(line) and _SENTENCE_END.search(line) for line in lines)
    if words < MIN_WORDS and not sentence:
        raise GenerationError("the answer says nothing: no sentence beyond a preamble, a "
                              "title or a code fence")


def _name(value: Any) -> str:
    return str(getattr(value, "name", value))


def retry_delay() -> float:
    """Seconds before the first retry ($META_PROMPTING_RETRY_DELAY; doubles each time)."""
    try:
        return max(0.0, float(os.environ.get("META_PROMPTING_RETRY_DELAY", "1.0")))
    except ValueError:
        return 1.0


class GeminiGenerator:
    """Generator over the real google-genai client, built the standard way."""

    def __init__(self, model: str, timeout: float, attempts: int = 4) -> None:
        blocker, found = key_blocker(), find_key()
        if blocker or found is None:
            raise GenerationError(blocker or NO_KEY)
        self.key_variable = found[0]
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
                    # google-genai 2.x (the line for Python 3.10) defaults to v1beta and 3.x
                    # to v1: named, so every Python sends the same requests to the same API.
                    api_version="v1beta",
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
        except GenerationError as e:  # its words may quote the service: scrub them too
            raise GenerationError(scrub_secrets(str(e))) from e
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a reason
            raise GenerationError(scrub_secrets(self.explain(e))) from e
        # Kept in the provenance record and shown: the service's words, so scrubbed.
        version = getattr(response, "model_version", None) or self.model
        return Generated(text, _first_line(str(version)) or self.model)

    def complete(self, system: str, prompt: str, *, max_tokens: int | None = None,
                 json_schema: dict[str, Any] | None = None,
                 on_text: Callable[[str], None] | None = None) -> Answer:
        """One fresh session: `system` as the system instruction, `prompt` as the one
        user turn, no history. With `on_text`, the answer streams to it as it comes;
        a stream that ends without STOP is refused like a cut-off answer."""
        try:
            from google.genai import types

            client = self._get_client()
            config = types.GenerateContentConfig(
                system_instruction=system, max_output_tokens=max_tokens,
                response_mime_type="application/json" if json_schema else None,
                response_json_schema=json_schema)
            if on_text is None:
                last = client.models.generate_content(model=self.model, contents=prompt,
                                                      config=config)
                text = raw_answer(last)
            else:
                last, pieces = None, []
                for chunk in client.models.generate_content_stream(
                        model=self.model, contents=prompt, config=config):
                    last, piece = chunk, text_of(chunk)
                    if piece:
                        pieces.append(piece)
                        on_text(scrub_secrets(piece))  # shown before the whole is checked
                if last is None:
                    raise GenerationError("the model returned no answer (an empty stream)")
                text = raw_answer(last, "".join(pieces))
        except GenerationError as e:  # its words may quote the service: scrub them too
            why = scrub_secrets(str(e))
            if "MAX_TOKENS" in why:
                why += (f": raise the limit with --max-tokens (now "
                        f"{max_tokens or 'the model default'})")
            raise GenerationError(why) from e
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a reason
            raise GenerationError(scrub_secrets(self.explain(e))) from e
        usage = getattr(last, "usage_metadata", None)
        counts = {name: getattr(usage, field, None) for name, field in (
            ("prompt", "prompt_token_count"), ("answer", "candidates_token_count"),
            ("thinking", "thoughts_token_count"), ("total", "total_token_count"))}
        version = getattr(last, "model_version", None) or self.model
        return Answer(text, _first_line(str(version)) or self.model, "STOP", counts)

    def explain(self, e: Exception) -> str:
        """One line a person can act on, for any failure the SDK or its transport raises."""
        try:
            from google.genai import errors
        except Exception:  # noqa: BLE001 - e.g. out of file descriptors: say what failed
            return f"{type(e).__name__}: {_first_line(str(e))}"

        variable = self.key_variable
        if isinstance(e, errors.APIError):
            code, status = e.code, e.status or ""
            said = f"{e.details} {e.message}"
            if code in (400, 401) and ("API_KEY_INVALID" in said
                                       or "api key not valid" in said.lower()):
                return f"the API key was refused (API_KEY_INVALID): fix {variable}"
            if "API_KEY_EXPIRED" in said or "api key expired" in said.lower():
                return f"the API key has expired (API_KEY_EXPIRED): renew it in {variable}"
            if code in (401, 403):
                return (f"access denied ({code} {status}): check {variable} "
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
        if "Illegal header value" in str(e) or isinstance(e, UnicodeEncodeError):
            # The key goes in a header: a line break or a non-ASCII letter cannot.
            return (f"the API key in {variable} holds a character an HTTP header cannot "
                    f"carry (a line break, a non-ASCII letter): fix {variable}")
        return f"{kind}: {_first_line(str(e))}"


def _first_line(text: str | None) -> str:
    """The first line of the service's words, scrubbed of the key *before* it is cut."""
    text = scrub_secrets(text or "").strip()
    return text.splitlines()[0][:200] if text else ""
