"""booksync's OpenAPI document against the public accounting API it mirrors (``tests/contracts/``).

``divergences(reference, ours, extensions)`` lists every way a client written against the reference
would find booksync different, except those ``docs/api-extensions.md`` lists as deliberate:

- every reference operation exists (paths with ``-`` where the reference has ``_``), with each response
  status the reference documents;
- every reference parameter exists where the reference has it (its entity header is our
  ``X-Organization-Id``; ``x-monite-version`` is accepted and ignored), takes every value the reference
  allows (type, format, enum values, range) and is required only where the reference requires it;
- every reference response field exists with the same type and format, required where the reference
  requires it, never nullable, with no enum value the reference lacks;
- and everything booksync has beyond that (operations, parameters, request bodies, response fields, enum
  values) is in the extensions list — and everything in the list still is such a difference.

Keys of the list: ``METHOD /path`` (an operation), ``METHOD /path ?name`` (a parameter),
``METHOD /path body`` (a request body the reference has not), ``Schema.field`` (a response field,
by the reference schema's name), ``Schema = value`` (an enum value).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.support.processes import PROJECT_ROOT

REFERENCE_PATH = PROJECT_ROOT / "tests" / "contracts" / "accounting-api.reference.json"
EXTENSIONS_PATH = PROJECT_ROOT / "docs" / "api-extensions.md"

#: The reference's headers: its entity header is ours, its version header is not needed (sent, ignored).
HEADERS = {"x-monite-entity-id": "X-Organization-Id"}
IGNORED_HEADERS = frozenset({"x-monite-version"})
METHODS = ("get", "put", "post", "patch", "delete")

Direction = Literal["request", "response"]
_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def load_reference(path: Path = REFERENCE_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


def load_extensions(path: Path = EXTENSIONS_PATH) -> set[str]:
    """The keys of the table under ``## The list`` (first column, in backticks)."""
    keys: set[str] = set()
    in_list = False
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            in_list = line.strip() == "## The list"
            continue
        match = _KEY.match(line) if in_list else None
        if match:
            keys.add(match.group(1).strip())
    return keys


def with_listed_values(reference: Mapping[str, Any], extensions: set[str]) -> dict[str, Any]:
    """A copy of the reference whose enums also take the listed values (``Platform = tryton``), so that
    booksync's answers can be validated with the reference's schemas and nothing else."""
    document = json.loads(json.dumps(reference))
    for key in sorted(extensions):
        name, equals, value = key.partition(" = ")
        if equals and name in document["components"]["schemas"]:
            document["components"]["schemas"][name]["enum"].append(value)
    return document


def our_path(reference_path: str) -> str:
    """``/accounting_synced_records/{synced_record_id}`` → ``/accounting-synced-records/{synced_record_id}``."""
    return "/".join(part if part.startswith("{") else part.replace("_", "-") for part in reference_path.split("/"))


@dataclass
class _Document:
    raw: Mapping[str, Any]

    def resolve(self, schema: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The schema with ``$ref`` and one-element ``allOf`` followed; the component's name if it was one."""
        name = None
        schema = dict(schema)
        while True:
            if "$ref" in schema:
                name = schema["$ref"].rsplit("/", 1)[-1]
                target = dict(self.raw["components"]["schemas"][name])
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                schema = {**target, **rest}
            elif "allOf" in schema and len(schema["allOf"]) == 1:
                inner = schema["allOf"][0]
                schema = {**{k: v for k, v in schema.items() if k != "allOf"}, **inner}
            else:
                return schema, name


def _nullable(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind) or any(
        branch.get("type") == "null" for branch in [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
    )


def _without_null(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A parameter's schema without its ``anyOf: [X, null]`` (a query parameter is never null on the wire)."""
    branches = [b for b in schema.get("anyOf", ()) if b.get("type") != "null"]
    if "anyOf" in schema and len(branches) == 1:
        return {**{k: v for k, v in schema.items() if k != "anyOf"}, **branches[0]}
    return dict(schema)


@dataclass
class Checker:
    reference: _Document
    ours: _Document
    extensions: set[str]
    problems: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    def extension(self, key: str, problem: str) -> None:
        if key in self.extensions:
            self.used.add(key)
        else:
            self.problems.append(f"{problem} (not in docs/api-extensions.md as `{key}`)")

    # -- schemas ------------------------------------------------------------------------------
    def compare(self, ref: Mapping[str, Any], ours: Mapping[str, Any], where: str, direction: Direction) -> None:
        ref, ref_name = self.reference.resolve(ref)
        if direction == "request":
            ours = _without_null(ours)
        ours, _ = self.ours.resolve(ours)
        if direction == "response" and _nullable(ours) and not _nullable(ref):
            self.problems.append(f"{where}: may be null in booksync, never in the reference")
            ours = _without_null(ours)
        if "anyOf" in ref:
            self._compare_any_of(ref, ours, where, direction)
            return
        ref_type, our_type = ref.get("type"), ours.get("type")
        if ref_type is not None and our_type != ref_type:
            self.problems.append(f"{where}: booksync's type is {our_type or ours}, the reference's {ref_type}")
            return
        if "format" in ref and ours.get("format") != ref["format"]:
            self.problems.append(f"{where}: booksync's format is {ours.get('format')}, the reference's {ref['format']}")
        if "enum" in ref:
            self._compare_enum(ref, ref_name or where, ours, where, direction)
        if direction == "request":
            self._compare_range(ref, ours, where)
        if ref_type == "array":
            self.compare(ref.get("items", {}), ours.get("items", {}), f"{where}[]", direction)
        elif ref_type == "object" and "properties" in ref:
            self._compare_object(ref, ref_name or where, ours, where, direction)

    def _fits(self, ref: Mapping[str, Any], ours: Mapping[str, Any], where: str, direction: Direction) -> bool:
        probe = Checker(self.reference, self.ours, self.extensions)
        probe.compare(ref, ours, where, direction)
        if probe.problems:
            return False
        self.used |= probe.used
        return True

    def _compare_any_of(self, ref: Mapping[str, Any], ours: Mapping[str, Any], where: str, direction: Direction) -> None:
        """A response must be one of the reference's branches; a request must take each of them."""
        our_branches = [b for b in ours.get("anyOf", [ours]) if b.get("type") != "null"]
        if direction == "response":
            pairs = [(our, [r for r in ref["anyOf"] if self._fits(r, our, where, direction)]) for our in our_branches]
            misfits = [our for our, fits in pairs if not fits]
        else:
            pairs = [(r, [our for our in our_branches if self._fits(r, our, where, direction)]) for r in ref["anyOf"]]
            misfits = [r for r, fits in pairs if not fits]
        if misfits:
            self.problems.append(f"{where}: {misfits} has no counterpart in {ref['anyOf']} ({direction})")

    def _compare_enum(
        self, ref: Mapping[str, Any], ref_name: str, ours: Mapping[str, Any], where: str, direction: Direction
    ) -> None:
        ref_values, our_values = set(ref["enum"]), set(ours.get("enum") or ())
        if not our_values:
            if direction == "response":
                self.problems.append(f"{where}: booksync sends any string, the reference one of {sorted(ref_values)}")
            return
        if direction == "request":
            for value in sorted(ref_values - our_values):
                self.problems.append(f"{where}: booksync refuses the reference's value {value!r}")
        for value in sorted(our_values - ref_values):
            what = "sends" if direction == "response" else "accepts"
            self.extension(f"{ref_name} = {value}", f"{where}: booksync {what} {value!r}, the reference has no such value")

    def _compare_range(self, ref: Mapping[str, Any], ours: Mapping[str, Any], where: str) -> None:
        for bound, narrower in (("minimum", lambda o, r: o > r), ("maximum", lambda o, r: o < r)):
            if bound in ref and bound in ours and narrower(ours[bound], ref[bound]):
                self.problems.append(f"{where}: booksync's {bound} is {ours[bound]}, the reference allows {ref[bound]}")

    def _compare_object(
        self, ref: Mapping[str, Any], ref_name: str, ours: Mapping[str, Any], where: str, direction: Direction
    ) -> None:
        ref_properties: Mapping[str, Any] = ref.get("properties", {})
        our_properties: Mapping[str, Any] = ours.get("properties", {})
        for name, schema in ref_properties.items():
            if name not in our_properties:
                self.problems.append(f"{where}.{name}: missing in booksync ({ref_name}.{name})")
                continue
            self.compare(schema, our_properties[name], f"{where}.{name}", direction)
        if direction == "response":
            for name in sorted(set(ref.get("required", ())) - set(ours.get("required", ()))):
                if name in our_properties:
                    self.problems.append(f"{where}.{name}: required by the reference, optional in booksync")
            for name in sorted(set(our_properties) - set(ref_properties)):
                self.extension(f"{ref_name}.{name}", f"{where}.{name}: booksync sends a field the reference has not")

    # -- operations -----------------------------------------------------------------------------
    def compare_operation(self, path: str, method: str, ref_op: Mapping[str, Any], our_op: Mapping[str, Any]) -> None:
        where = f"{method.upper()} {our_path(path)}"
        ours_by_key = {(p["in"], p["name"].lower()): p for p in our_op.get("parameters", ())}
        seen: set[tuple[str, str]] = set()
        for parameter in ref_op.get("parameters", ()):
            name = parameter["name"]
            if parameter["in"] == "header" and name.lower() in IGNORED_HEADERS:
                continue
            key = (parameter["in"], HEADERS.get(name, name).lower() if parameter["in"] == "header" else name.lower())
            ours = ours_by_key.get(key)
            if ours is None:
                self.problems.append(f"{where}: no {parameter['in']} parameter {HEADERS.get(name, name)!r}")
                continue
            seen.add(key)
            if ours.get("required") and not parameter.get("required"):
                self.problems.append(f"{where} ?{ours['name']}: required in booksync, optional in the reference")
            self.compare(parameter.get("schema", {}), ours.get("schema", {}), f"{where} ?{ours['name']}", "request")
        for key, ours in ours_by_key.items():
            if key not in seen:
                self.extension(f"{where} ?{ours['name']}", f"{where}: booksync takes a parameter {ours['name']!r}")
        if "requestBody" in our_op and "requestBody" not in ref_op:
            self.extension(f"{where} body", f"{where}: booksync takes a request body, the reference none")
        for status, response in ref_op.get("responses", {}).items():
            our_response = our_op.get("responses", {}).get(status)
            if our_response is None:
                self.problems.append(f"{where}: no {status} response documented")
                continue
            ref_schema = (response.get("content") or {}).get("application/json", {}).get("schema")
            our_schema = (our_response.get("content") or {}).get("application/json", {}).get("schema")
            if ref_schema is not None:
                if our_schema is None:
                    self.problems.append(f"{where} {status}: no JSON body documented")
                else:
                    self.compare(ref_schema, our_schema, f"{where} {status}", "response")


def _operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def divergences(reference: Mapping[str, Any], ours: Mapping[str, Any], extensions: set[str]) -> list[str]:
    """Every difference a reference client would meet that the extensions list does not name (and every
    entry of the list that names no difference)."""
    checker = Checker(_Document(reference), _Document(ours), extensions)
    covered: set[tuple[str, str]] = set()
    for path, method, operation in _operations(reference):
        mapped = our_path(path)
        our_op = ours["paths"].get(mapped, {}).get(method)
        if our_op is None:
            checker.problems.append(f"{method.upper()} {mapped}: missing in booksync ({operation.get('operationId')})")
            continue
        covered.add((mapped, method))
        checker.compare_operation(path, method, operation, our_op)
    for path, method, _ in _operations(ours):
        if (path, method) not in covered:
            checker.extension(f"{method.upper()} {path}", f"{method.upper()} {path}: booksync has an operation the "
                              "reference has not")
    stale = sorted(extensions - checker.used)
    checker.problems += [f"docs/api-extensions.md lists `{key}`, which is no longer a difference" for key in stale]
    return checker.problems
