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
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from meta_prompting.errors import GenerationError
from meta_prompting.library.goals import Goal, Part
from meta_prompting.models.keys import (
    NO_KEY,
    check_no_key,
    find_key,
    key_blocker,
    scrub_secrets,
    use_vertex,
)

T = TypeVar("T")

MIN_WORDS = 5  # fewer, once the preamble, titles and fences are gone, is no part
# The SDK's retry list without 429: it would retry a 429 on its own schedule, ignoring
# the delay the service asks for (googleapis/python-genai#1875); _send does that one.
RETRY_STATUSES = [408, 500, 502, 503, 504]
# google-genai 3.x defaults to v1, where the -latest aliases (our default model) do not
# exist (v3.0.0 release notes) and systemInstruction, responseMimeType and
# responseJsonSchema are unknown fields (python-genai #1837, js-genai #1746).
DEVELOPER_API_VERSION = "v1beta"

# What the parser and the renderer rely on is spelled out, not left to the examples: the
# title line (the renderer makes it a heading), "Output format" and its "## " headings
# (a grader and a chain find sections by them), and a rubric's "Criterion N:" and
# "Final question:" lines (--grade reads them). No word caps: the house parts exceed any.
KIND_INSTRUCTIONS = {
    "persona": (
        "A persona defines a role and a voice: who the model is, its expertise, how it "
        "speaks, what it values, and what it refuses to do. Write it in the second person. "
        "A persona has no title line: its first line begins \"You are\". End with what it "
        "refuses to do, as a short list."
    ),
    "protocol": (
        "A protocol defines the steps of the interaction. Its first line is a short title "
        "(at most 60 characters, no \"#\", no final period), then a blank line, then the "
        "numbered steps: what the model must produce at each, when to stop, and which "
        "headings a stop still writes. It ends with a line reading exactly \"Output "
        "format\", then the headings the answer must use, in order, each on a line \"## "
        "Heading\" followed by a line saying what the section holds. Every heading one of "
        "the goal's rules asks for (such as \"Assumptions\" or \"Open Questions\") must be "
        "among them; no other line of the protocol starts with \"#\"."
    ),
    "constraint": (
        "A constraint states exactly one non-negotiable rule. Its first line is a short "
        "title (at most 60 characters, no \"#\", no final period), then a blank line, then "
        "the rule, what to do instead of breaking it, and a last sentence beginning "
        "\"Check:\" saying how a reader can tell that the rule was followed. In the "
        "rendered prompt these parts are called rules; \"constraints\" are the user's own."
    ),
}

RUBRIC_INSTRUCTION = (
    "This protocol is a rubric: the code that grades reads it. Name each criterion on a "
    "line of its own reading exactly \"Criterion 1: Name\", \"Criterion 2: Name\", and "
    "so on, numbered from 1 without gaps, no two names alike, each followed by a line "
    "\"- Poor: ...\" and a line \"- Excellent: ...\". Ask one question answered YES or NO "
    "on a line beginning exactly \"Final question: \". The criteria hold an answer to the "
    "output format of the protocol it grades, shown below; put the final question before "
    "the overall verdict, and reasoning before every verdict."
)

SYSTEM_INSTRUCTION = (
    "You write parts for a library of reusable prompts that senior engineers send to LLM "
    "sessions. Each part is one plain-text file. Write original, specific, actionable "
    "text; no filler, no marketing, no mention of being an AI. Answer with the text of the "
    "part and nothing else: its title line as the library's parts have (a persona starts "
    "\"You are\" instead), then its body; no preamble, no code fence, no closing remarks, "
    "no template placeholders, and no file names."
)


class PartRequest(NamedTuple):
    """Everything the model is told about one part; one fresh request each."""

    goal: Goal
    part: Part
    description: str
    examples: tuple[tuple[str, str], ...] = ()  # (file name, text) of same-kind parts
    draft: str | None = None  # only when a person asks for a revision
    comment: str | None = None
    # (the part's key, its text or None when not written yet) for the goal's other parts
    siblings: tuple[tuple[str, str | None], ...] = ()
    # (goal name, its protocol's text) of each goal this goal is the rubric of
    grades: tuple[tuple[str, str], ...] = ()


class Answer(NamedTuple):
    """A model's answer to one fresh session, with what is worth recording about it."""

    text: str
    model: str  # the model version that answered
    finish_reason: str
    usage: dict[str, int | None]  # prompt, answer, thinking, total and cached token counts


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
    if part.kind == "protocol" and request.grades:
        lines += ["", RUBRIC_INSTRUCTION]
    written = [(key, text) for key, text in request.siblings if text]
    if written:
        lines += ["", "The goal's other parts, as written: this part must agree with them "
                      "(the headings its rules ask for, the steps its persona expects):"]
        for key, text in written:
            lines += ["", f'<part file="{key}">', text.strip(), "</part>"]
    for name, protocol in request.grades:
        lines += ["", f"The protocol of the {name} goal, whose answers this rubric grades:",
                  f'<graded goal="{name}">', protocol.strip(), "</graded>"]
    if request.examples:
        lines += ["", f"The nearest existing {part.kind} parts of the same library, to show "
                      "its voice and level of detail (do not copy them):"]
        for name, text in request.examples:
            lines += ["", f'<example file="{name}">', text.strip(), "</example>"]
    if request.draft is not None:
        lines += ["", "Revise this draft:", "<draft>", request.draft.strip(), "</draft>",
                  "", f"What to change: {request.comment or 'make it better'}"]
    lines += ["", f"Answer with the text of {part.name} only, starting with its "
                  + ("\"You are\" line." if part.kind == "persona" else "title line.")]
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


def api_version() -> str:
    """The API version requests go to: $GOOGLE_GENAI_API_VERSION, else the one our
    requests need (v1beta; on Vertex AI the SDK's own v1beta1, which takes them too)."""
    chosen = os.environ.get("GOOGLE_GENAI_API_VERSION")
    if use_vertex():
        return "v1beta1" if not chosen or chosen == "beta" else chosen  # the SDK's rule
    return DEVELOPER_API_VERSION if not chosen or chosen == "beta" else chosen


def larger_limit(command: str, reasons: list[str]) -> str:
    """Pure: `command` with --max-tokens doubled when an answer was cut off by it."""
    if not any("MAX_TOKENS" in r for r in reasons):
        return command
    return re.sub(r"--max-tokens (\d+)", lambda m: f"--max-tokens {int(m[1]) * 2}", command)


class GeminiGenerator:
    """Generator over the real google-genai client, built the standard way."""

    def __init__(self, model: str, timeout: float, attempts: int = 4) -> None:
        blocker, found = key_blocker(), find_key()
        self.vertex = use_vertex()
        if blocker or (found is None and not self.vertex):
            raise GenerationError(blocker or NO_KEY)
        self.key_variable = found[0] if found else "GEMINI_API_KEY"
        self.model = model
        self.timeout = timeout
        self.attempts = attempts
        self.api_version = api_version()
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._client_lock:  # one client, one connection pool, for all threads
            if self._client is None:
                from google import genai
                from google.genai import types

                delay = retry_delay()
                options = types.HttpOptions(
                    # Always named, never left to the SDK: 2.x (the line for Python 3.10)
                    # defaults to v1beta and 3.x to v1, which lacks what we send and our
                    # default model, and 2.x does not read GOOGLE_GENAI_API_VERSION; the
                    # version a user chose still wins (api_version()).
                    api_version=self.api_version,
                    timeout=int(self.timeout * 1000),  # milliseconds
                    retry_options=types.HttpRetryOptions(
                        attempts=self.attempts, initial_delay=delay, max_delay=max(delay, 16.0),
                        exp_base=2, jitter=min(delay, 1.0), http_status_codes=RETRY_STATUSES),
                )
                if self.vertex:
                    # Named, not left to the SDK: with a base URL of its own (a proxy,
                    # the tests' fake) the SDK drops a project and location read from
                    # the environment and posts to the bare base URL (_api_client.py).
                    self._client = genai.Client(
                        vertexai=True, http_options=options,
                        project=os.environ.get("GOOGLE_CLOUD_PROJECT") or None,
                        location=os.environ.get("GOOGLE_CLOUD_LOCATION") or None)
                else:
                    # No api_key argument: the SDK reads GEMINI_API_KEY/GOOGLE_API_KEY and
                    # GOOGLE_GEMINI_BASE_URL itself, so its own settings keep working.
                    self._client = genai.Client(http_options=options)
            return self._client

    def _send(self, attempt: Callable[[], T], retryable: Callable[[], bool] = lambda: True
              ) -> T:
        """`attempt()` through the model's limiter; on 429 wait as the service asks and
        try again, within --timeout, unless `retryable()` says part was already shown."""
        from google.genai import errors

        from meta_prompting.models.ratelimit import Waited, asked_delay, backoff, limiter_for

        limiter = limiter_for(self.model)
        deadline = time.monotonic() + self.timeout
        tries = 0
        while True:
            try:
                with limiter.slot(deadline) as ticket:
                    try:
                        result = attempt()
                    except errors.APIError as e:
                        if e.code != 429 or not retryable():
                            raise
                        tries += 1
                        asked = asked_delay(e)
                        wait = backoff(tries) if asked is None else asked
                        limiter.rate_limited(ticket, wait, _first_line(e.message))
                        if time.monotonic() + wait > deadline:
                            why = "as the service asked" if asked is not None else "to back off"
                            raise GenerationError(
                                f"the service answered 429 {e.status or ''}: "
                                f"{_first_line(e.message)}; waiting {wait:g} s, {why}, "
                                f"would pass --timeout {self.timeout:g}s") from e
                        continue
            except Waited as e:
                raise GenerationError(f"rate-limited: {e}, beyond --timeout "
                                      f"{self.timeout:g}s") from e
            limiter.succeeded()
            return result

    def generate(self, request: PartRequest) -> Generated:
        try:
            from google.genai import types

            client = self._get_client()
            response = self._send(lambda: client.models.generate_content(
                model=self.model,
                contents=build_prompt(request),
                config=types.GenerateContentConfig(system_instruction=SYSTEM_INSTRUCTION),
            ))
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
        pieces: list[str] = []
        try:
            from google.genai import types

            client = self._get_client()
            config = types.GenerateContentConfig(
                system_instruction=system, max_output_tokens=max_tokens,
                response_mime_type="application/json" if json_schema else None,
                response_json_schema=json_schema)
            if on_text is None:
                last = self._send(lambda: client.models.generate_content(
                    model=self.model, contents=prompt, config=config))
                text = raw_answer(last)
            else:
                from meta_prompting.models.keys import StreamScrubber

                # Shown before the whole is checked: scrubbed as one text, since a key
                # can arrive a few characters a piece.
                shown = StreamScrubber(on_text)

                def stream() -> Any:
                    last = None
                    for chunk in client.models.generate_content_stream(
                            model=self.model, contents=prompt, config=config):
                        last, piece = chunk, text_of(chunk)
                        if piece:
                            pieces.append(piece)
                            shown.feed(piece)
                    shown.close()
                    return last

                # A 429 once text was shown cannot be asked again without showing it twice.
                last = self._send(stream, retryable=lambda: not pieces)
                if last is None:
                    raise GenerationError("the model returned no answer (an empty stream)")
                text = raw_answer(last, "".join(pieces))
        except GenerationError as e:  # its words may quote the service: scrub them too
            why = scrub_secrets(str(e))
            if "MAX_TOKENS" in why:
                # A thinking model spends the limit on thoughts first (python-genai #811).
                now = (f"now {max_tokens}; try {max_tokens * 2}" if max_tokens
                       else "now the model's default")
                why += ("; thinking tokens count toward the limit too: give a larger "
                        f"--max-tokens ({now}), or ask for a shorter answer")
            raise GenerationError(why) from e
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a reason
            raise GenerationError(scrub_secrets(self.explain(e))) from e
        usage = getattr(last, "usage_metadata", None)
        counts = {name: getattr(usage, field, None) for name, field in (
            ("prompt", "prompt_token_count"), ("answer", "candidates_token_count"),
            ("thinking", "thoughts_token_count"), ("total", "total_token_count"),
            ("cached", "cached_content_token_count"))}
        version = getattr(last, "model_version", None) or self.model
        return Answer(text, _first_line(str(version)) or self.model, "STOP", counts)

    def count_tokens(self, text: str) -> int:
        """The service's count of tokens in `text` (one request; the live check uses it).

        The system text, if any, goes into `text`: the Developer API refuses a count
        with a system instruction or settings (models.py `_CountTokensConfig_to_mldev`).
        """
        try:
            client = self._get_client()
            counted = self._send(lambda: client.models.count_tokens(model=self.model,
                                                                    contents=text))
            return int(getattr(counted, "total_tokens", 0) or 0)
        except GenerationError as e:
            raise GenerationError(scrub_secrets(str(e))) from e
        except Exception as e:  # noqa: BLE001 - every SDK failure becomes a reason
            raise GenerationError(scrub_secrets(self.explain(e))) from e

    def explain(self, e: Exception) -> str:
        """One line a person can act on, for any failure the SDK or its transport raises."""
        try:
            from google.genai import errors
        except Exception:  # noqa: BLE001 - e.g. out of file descriptors: say what failed
            return f"{type(e).__name__}: {_first_line(str(e))}"

        variable = self.key_variable
        if isinstance(e, errors.APIError):
            return self._explain_api(e)
        kind = type(e).__name__
        if self.vertex and kind == "DefaultCredentialsError":
            return ("no Google Cloud credentials for Vertex AI: run `gcloud auth "
                    "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
                    f"key file ({_first_line(str(e))})")
        if self.vertex and kind == "RefreshError":
            return (f"the Google Cloud credentials were refused ({_first_line(str(e))}): run "
                    "`gcloud auth application-default login` again")
        if self.vertex and "Could not resolve project" in str(e):
            return "no Google Cloud project for Vertex AI: set GOOGLE_CLOUD_PROJECT"
        if isinstance(e, json.JSONDecodeError):
            return "the service sent an answer that is not JSON"
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

    def _explain_api(self, e: Any) -> str:
        """An error the service answered: its own words, and what to do about it."""
        variable = self.key_variable
        code, status = e.code, e.status or ""
        said = f"{e.details} {e.message}"
        if code in (400, 401) and ("API_KEY_INVALID" in said
                                   or "api key not valid" in said.lower()):
            return f"the API key was refused (API_KEY_INVALID): fix {variable}"
        if "API_KEY_EXPIRED" in said or "api key expired" in said.lower():
            return f"the API key has expired (API_KEY_EXPIRED): renew it in {variable}"
        words = _first_line(e.message)
        if code in (401, 403):
            check = ("the Google Cloud credentials and that the project may use Vertex AI"
                     if self.vertex else f"{variable} and that the key may use the Gemini API")
            return f"access denied ({code} {status}): check {check} (the service: {words})"
        if code == 404:
            other = ("" if self.api_version == DEVELOPER_API_VERSION or self.vertex else
                     f", or set GOOGLE_GENAI_API_VERSION={DEVELOPER_API_VERSION}")
            return (f"model {self.model!r} not found (404) on API version {self.api_version} "
                    f"({words}); choose another with --model or META_PROMPTING_MODEL{other}")
        if code == 400 and "Unknown name" in words and not self.vertex:
            return (f"the service answered 400 {status} on API version {self.api_version} "
                    f"({words}); set GOOGLE_GENAI_API_VERSION={DEVELOPER_API_VERSION}, "
                    "which takes what we send")
        tries = f" after {self.attempts} attempts" if code in RETRY_STATUSES else ""
        return f"the service answered {code} {status}{tries}: {words}"


def _first_line(text: str | None) -> str:
    """The first line of the service's words, scrubbed of the key *before* it is cut."""
    text = scrub_secrets(text or "").strip()
    return text.splitlines()[0][:200] if text else ""
