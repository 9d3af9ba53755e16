"""JSON that fits a response schema: how the fake answers a structured-output request.

`schema_instance(schema, overrides)` builds a value valid for a JSON Schema
(responseJsonSchema) or an OpenAPI-style one (responseSchema, upper-case types, the
SDK's snake_case keys too): every property, arrays of one item (minItems respected),
the first enum value, "fake <property>" strings, 1 for numbers, $ref/$defs resolved,
the first option of anyOf/oneOf. `overrides` shapes it: a mapping from property name to
value, or a callable (path, subschema) -> value or KEEP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # an override's answer for "build this value as usual"
Overrides = Callable[[tuple[str | int, ...], dict[str, Any]], Any] | Mapping[str, Any]


def schema_instance(schema: dict[str, Any], overrides: Overrides | None = None) -> Any:
    """A JSON value valid for `schema` (JSON Schema or the SDK's OpenAPI-style Schema)."""
    if isinstance(overrides, Mapping):
        table = overrides

        def by_name(path: tuple[str | int, ...], sub: dict[str, Any]) -> Any:
            name = path[-1] if path else None
            return table[name] if isinstance(name, str) and name in table else KEEP

        return _Builder(schema, by_name).build(schema, (), frozenset())
    return _Builder(schema, overrides).build(schema, (), frozenset())


def _key(schema: dict[str, Any], camel: str) -> Any:
    # The SDK sends a pydantic response_schema with snake_case keys (min_items, any_of).
    snake = re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m[1].lower(), camel)
    return schema.get(camel, schema.get(snake))


class _Builder:
    def __init__(self, root: dict[str, Any], overrides: Overrides | None) -> None:
        self.root = root
        self.overrides = overrides

    def resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.root
        pointer = ref.lstrip("#").strip("/")
        for token in pointer.split("/") if pointer else []:
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def build(self, schema: Any, path: tuple[str | int, ...], refs: frozenset[str]) -> Any:
        if not isinstance(schema, dict):
            schema = {}  # `true` / missing items: anything goes
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref in refs:  # a recursive schema: stop here
                return None
            return self.build(self.resolve(ref), path, refs | {ref})
        if callable(self.overrides):
            value = self.overrides(path, schema)
            if value is not KEEP:
                return value
        if "const" in schema:
            return schema["const"]
        if _key(schema, "enum"):
            return _key(schema, "enum")[0]
        options = _key(schema, "anyOf") or _key(schema, "oneOf")
        if options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return self.build((usable or options)[0], path, refs)
        if _key(schema, "allOf"):
            merged: dict[str, Any] = {}
            for part in _key(schema, "allOf"):
                part = self.resolve(part["$ref"]) if "$ref" in part else part
                for k, v in part.items():
                    if isinstance(v, dict) and isinstance(merged.get(k), dict):
                        merged[k] = {**merged[k], **v}
                    elif isinstance(v, list) and isinstance(merged.get(k), list):
                        merged[k] = merged[k] + v
                    else:
                        merged[k] = v
            return self.build(merged, path, refs)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if str(k).lower() != "null"), "null")
        kind = str(kind).lower() if kind is not None else None
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else ""
        if kind == "object":
            return self.build_object(schema, path, refs)
        if kind == "array":
            return self.build_array(schema, path, refs)
        if kind in ("number", "integer"):
            return self.build_number(schema, kind)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        names = [p for p in path if isinstance(p, str)]
        text = f"fake {names[-1] if names else 'text'}"
        low, high = _key(schema, "minLength"), _key(schema, "maxLength")
        if low is not None and len(text) < int(low):
            text = text.ljust(int(low), "x")
        return text[: int(high)] if high is not None else text

    def build_object(
        self, schema: dict[str, Any], path: tuple[str | int, ...], refs: frozenset[str]
    ) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties") or {}
        order = list(_key(schema, "propertyOrdering") or [])
        names = order + [n for n in props if n not in order]
        names += [n for n in schema.get("required") or [] if n not in names]
        return {n: self.build(props.get(n), (*path, n), refs) for n in names}

    def build_array(
        self, schema: dict[str, Any], path: tuple[str | int, ...], refs: frozenset[str]
    ) -> list[Any]:
        prefix = _key(schema, "prefixItems") or []
        items = [self.build(s, (*path, i), refs) for i, s in enumerate(prefix)]
        want = max(1, int(_key(schema, "minItems") or 0))
        high = _key(schema, "maxItems")
        if high is not None:
            want = min(want, int(high))
        item = schema.get("items")
        if item is False:
            return items
        ref = item.get("$ref") if isinstance(item, dict) else None
        if ref in refs and not _key(schema, "minItems"):
            return items  # a recursive schema: an empty list ends it
        while len(items) < want:
            items.append(self.build(item, (*path, len(items)), refs))
        return items

    @staticmethod
    def build_number(schema: dict[str, Any], kind: str) -> int | float:
        value: float = 1
        low = _key(schema, "minimum")
        high = _key(schema, "maximum")
        if low is not None:
            value = max(value, float(low))
        if high is not None:
            value = min(value, float(high))
        return int(value) if kind == "integer" else value


