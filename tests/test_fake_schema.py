"""The fake's structured output (JSON shaped by a response schema), through the REAL client.

Each test proves the SDK reacts to a scripted reply as it would to the real API,
so product tests built on the fake exercise the same code paths.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pydantic
import pytest
from google import genai

from tests.fake_gemini import (  # noqa: F401  (fake_gemini is a fixture)
    FAKE_API_KEY,
    KEEP,
    FakeGemini,
    RequestRecord,
    blocked,
    cut_stream,
    drop,
    empty_candidates,
    error,
    fake_gemini,
    finish,
    hang,
    invalid_key,
    json_reply,
    malformed,
    ok,
    schema_instance,
    split_text,
    stream_error,
)
from tests.test_fake_gemini import generate, on_v1beta, stream  # noqa: F401  (a fixture)

# --- structured output -------------------------------------------------------

GRADE_SCHEMA: dict[str, Any] = {
    "$defs": {
        "Finding": {
            "type": "object",
            "properties": {
                "criterion": {"type": "string"},
                "verdict": {"enum": ["PASS", "FAIL"]},
                "quote": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "score": {"type": "number", "minimum": 0, "maximum": 10},
                "weight": {"type": "integer", "minimum": 3},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            },
            "required": ["criterion", "verdict", "quote", "score"],
        }
    },
    "type": "object",
    "properties": {
        "findings": {"type": "array", "items": {"$ref": "#/$defs/Finding"}},
        "passed": {"type": "boolean"},
        "summary": {"type": ["string", "null"], "maxLength": 8},
    },
    "required": ["findings", "passed"],
}


def validate(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> None:
    """Just enough JSON Schema for GRADE_SCHEMA (no dependency added for it)."""
    if "$ref" in schema:
        return validate(value, root["$defs"][schema["$ref"].split("/")[-1]], root)
    if "enum" in schema:
        assert value in schema["enum"]
    if "anyOf" in schema:
        assert any(_valid(value, s, root) for s in schema["anyOf"])
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    py = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if kinds and not any(
        isinstance(value, (int, float)) and not isinstance(value, bool)
        if k == "number"
        else isinstance(value, int) and not isinstance(value, bool)
        if k == "integer"
        else isinstance(value, py[k])
        for k in kinds
    ):
        raise AssertionError(f"{value!r} is not {kinds}")
    if isinstance(value, dict):
        assert set(schema.get("required", [])) <= set(value)
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                validate(value[name], sub, root)
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0)
        for item in value:
            validate(item, schema.get("items", {}), root)
    if isinstance(value, (int, float)):
        assert schema.get("minimum", value) <= value <= schema.get("maximum", value)
    if isinstance(value, str):
        assert len(value) <= schema.get("maxLength", len(value))


def _valid(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    try:
        validate(value, schema, root)
    except AssertionError:
        return False
    return True


def test_validator_can_fail() -> None:
    bad = {"findings": [{"criterion": "c", "verdict": "MAYBE", "quote": None, "score": 1}]}
    assert not _valid({**bad, "passed": True}, GRADE_SCHEMA, GRADE_SCHEMA)
    assert not _valid({"findings": []}, GRADE_SCHEMA, GRADE_SCHEMA)


def test_response_json_schema_answer_validates(fake_gemini: FakeGemini) -> None:
    resp = generate(
        genai.Client(),
        "grade this",
        response_mime_type="application/json",
        response_json_schema=GRADE_SCHEMA,
    )
    answer = json.loads(resp.text or "")
    validate(answer, GRADE_SCHEMA, GRADE_SCHEMA)
    assert answer == {
        "findings": [
            {
                "criterion": "fake criterion",
                "verdict": "PASS",
                "quote": "fake quote",
                "score": 1,
                "weight": 3,
                "tags": ["fake tags", "fake tags"],
            }
        ],
        "passed": True,
        "summary": "fake sum",
    }
    [rec] = fake_gemini.requests
    assert rec.response_schema == GRADE_SCHEMA
    assert rec.generation_config["responseMimeType"] == "application/json"


class Finding(pydantic.BaseModel):
    criterion: str
    verdict: Literal["PASS", "FAIL"]
    quote: str | None = None
    score: float = pydantic.Field(ge=2, le=5)


class Scorecard(pydantic.BaseModel):
    findings: list[Finding] = pydantic.Field(min_length=2)
    passed: bool
    kind: Finding | Scorecard | None = None  # any_of and a recursive reference on the wire


def test_response_schema_pydantic_gives_parsed(fake_gemini: FakeGemini) -> None:
    resp = generate(
        genai.Client(), response_mime_type="application/json", response_schema=Scorecard
    )
    card = resp.parsed
    assert isinstance(card, Scorecard) and card.passed is True
    assert [f.verdict for f in card.findings] == ["PASS", "PASS"]  # min_items 2 respected
    assert card.findings[0].score == 2  # clamped to ge=2
    schema = fake_gemini.requests[0].response_schema
    assert schema and schema["type"] == "OBJECT"  # the SDK's OpenAPI shape, not JSON Schema


def test_streamed_json_answer(fake_gemini: FakeGemini) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}
    chunks = stream(
        genai.Client(), response_mime_type="application/json", response_json_schema=schema
    )
    assert json.loads("".join(c.text or "" for c in chunks)) == {"a": "fake a", "b": "fake b"}


def test_overrides_shape_the_answer(fake_gemini: FakeGemini) -> None:
    def fail_all(path: tuple[str | int, ...], sub: dict[str, Any]) -> Any:
        if path[-1:] == ("verdict",):
            return "FAIL"
        if path == ("findings", 0, "quote"):
            return "line 3: x = 1"
        return KEEP

    fake_gemini.schema_overrides = fail_all
    resp = generate(
        genai.Client(), response_mime_type="application/json", response_schema=Scorecard
    )
    card = resp.parsed
    assert isinstance(card, Scorecard)
    assert [f.verdict for f in card.findings] == ["FAIL", "FAIL"]
    assert [f.quote for f in card.findings] == ["line 3: x = 1", "fake quote"]
    by_name = schema_instance(GRADE_SCHEMA, {"verdict": "FAIL", "passed": False})
    assert by_name["passed"] is False and by_name["findings"][0]["verdict"] == "FAIL"


def test_schema_answer_only_when_nothing_else_chose(fake_gemini: FakeGemini) -> None:
    client = genai.Client()
    cfg: dict[str, Any] = {"response_mime_type": "application/json"}
    cfg["response_json_schema"] = {"type": "object", "properties": {"n": {"type": "integer"}}}
    fake_gemini.enqueue(json_reply({"n": 7}))
    assert json.loads(generate(client, **cfg).text or "") == {"n": 7}
    fake_gemini.responder = lambda rec: None
    assert json.loads(generate(client, **cfg).text or "") == {"n": 1}
    fake_gemini.default = ok("not json")
    assert generate(client, **cfg).text == "not json"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "STRING", "enum": ["b", "a"]}, "b"),
        ({"const": 5}, 5),
        ({"type": "ARRAY", "items": {"type": "INTEGER"}, "min_items": 3}, [1, 1, 1]),
        ({"type": "array", "maxItems": 0}, []),
        ({"type": "array", "prefixItems": [{"type": "boolean"}, {"type": "null"}]}, [True, None]),
        ({"allOf": [{"properties": {"a": {"type": "integer"}}}, {"required": ["b"]}]},
         {"a": 1, "b": "fake b"}),
        ({"oneOf": [{"type": "null"}, {"type": "number", "maximum": 0.5}]}, 0.5),
        ({"properties": {"x": {"$ref": "#/definitions/X"}}, "definitions": {"X": {"const": 1}}},
         {"x": 1}),
        ({"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}},
         {"kids": [{"kids": []}]}),  # one level, then an empty list ends the recursion
        ({}, "fake text"),
    ],
    ids=["enum", "const", "min_items", "maxItems0", "prefix", "allOf", "oneOf", "ref",
         "recursive", "any"],
)
def test_schema_instance_cases(schema: dict[str, Any], expected: Any) -> None:
    assert schema_instance(schema) == expected


# --- failures for one prompt ------------------------------------------------


