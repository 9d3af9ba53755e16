"""A JUnit file checked against tests/junit-10.xsd with xml.etree alone.

The suite has no XML Schema library (xmlschema is not a dependency), so this reads the
subset of XSD the schema uses: global elements, each with its attributes (required or
not, typed xs:string or a pattern type), its child elements by ref, and text allowed
(mixed or xs:string) or not. A document is valid when every element is a global one
the schema names, under a parent that allows it, with only the attributes it declares,
every required one present and every pattern matched. When xmlschema is installed,
the test validates with it as well.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

XS = "{http://www.w3.org/2001/XMLSchema}"
XSD = Path(__file__).with_name("junit-10.xsd")


class Rule(NamedTuple):
    attributes: dict[str, tuple[bool, str | None]]  # name -> (required, pattern)
    children: frozenset[str]
    text: bool


def rules(xsd: Path = XSD) -> dict[str, Rule]:
    schema = ET.parse(xsd).getroot()
    patterns = {t.get("name"): t.find(f"{XS}restriction/{XS}pattern").get("value")  # type: ignore[union-attr]
                for t in schema.findall(f"{XS}simpleType")}
    types = {t.get("name"): t for t in schema.findall(f"{XS}complexType")}
    found: dict[str, Rule] = {}
    for element in schema.findall(f"{XS}element"):
        name = element.get("name")
        assert name is not None
        kind = element.get("type")
        body = element.find(f"{XS}complexType")
        if body is None and kind in types:
            body = types[kind]
        if body is None:  # xs:string: text, no attributes, no children
            found[name] = Rule({}, frozenset(), True)
            continue
        attributes = {a.get("name", ""): (a.get("use") == "required",
                                          patterns.get(a.get("type", "")))
                      for a in body.iter(f"{XS}attribute")}
        children = frozenset(r.get("ref", "") for r in body.iter(f"{XS}element") if r.get("ref"))
        children |= frozenset(e.get("name", "") for e in body.iter(f"{XS}element")
                              if e.get("name"))
        found[name] = Rule(attributes, children, body.get("mixed") == "true")
    return found


def problems(document: bytes, root: str = "testsuites") -> list[str]:
    """Every way the document breaks the schema; [] when it is valid."""
    tree = ET.fromstring(document)
    schema = rules()
    out: list[str] = []
    if tree.tag != root:
        out.append(f"root is <{tree.tag}>, not <{root}>")

    def check(node: ET.Element, where: str) -> None:
        rule = schema.get(node.tag)
        if rule is None:
            out.append(f"{where}: <{node.tag}> is not in the schema")
            return
        for name, value in node.attrib.items():
            if name not in rule.attributes:
                out.append(f"{where}: attribute {name} is not allowed")
            elif (pattern := rule.attributes[name][1]) and not re.fullmatch(pattern, value):
                out.append(f"{where}: {name}={value!r} does not match {pattern}")
        for name, (required, _) in rule.attributes.items():
            if required and name not in node.attrib:
                out.append(f"{where}: required attribute {name} is missing")
        if not rule.text and (node.text or "").strip():
            out.append(f"{where}: text is not allowed")
        for i, child in enumerate(node):
            if child.tag not in rule.children:
                out.append(f"{where}: <{child.tag}> is not allowed in <{node.tag}>")
            if not rule.text and (child.tail or "").strip():
                out.append(f"{where}: text is not allowed")
            check(child, f"{where}/{child.tag}[{i}]")

    check(tree, tree.tag)
    return out
