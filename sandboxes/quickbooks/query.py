"""The part of Intuit's query language the adapter needs, parsed and run over one company's entities.

    SELECT * | COUNT(*) | Field, ... FROM Entity
      [WHERE cond AND cond ...]        cond: Field (= | < | > | <= | >=) value | Field IN (v, ...) | Field LIKE '%x%'
      [ORDERBY Field [ASC|DESC], ...]
      [STARTPOSITION n] [MAXRESULTS n]

As Intuit documents it: keywords and property names are case-insensitive (``Metadata.LastUpdatedTime``
names ``MetaData.LastUpdatedTime``); string values are single-quoted (``\\'`` escapes a quote); there is
no ``OR``, no ``!=``, no parentheses around conditions; ``LIKE`` knows only ``%``; only some properties
of each entity can be filtered on (else ``QueryValidationError``); ``MAXRESULTS`` defaults to 100 and is
at most 1000; ``STARTPOSITION`` is 1-based. List entities (``Active`` ones) answer only active objects
unless the query filters on ``Active``. Anything else answers ``QueryParserError`` (4000).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.quickbooks import faults
from sandboxes.quickbooks.clock import parse_time

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 1000

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)"
    r"|(?P<punct>[(),*])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<other>\S))"
)
_KEYWORDS = {"select", "from", "where", "and", "or", "not", "in", "like", "orderby", "order", "by", "asc", "desc",
             "startposition", "maxresults", "count", "true", "false", "null", "is"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    column: int


@dataclass(frozen=True, slots=True)
class Condition:
    path: str
    op: str
    values: tuple[Any, ...]


@dataclass
class Query:
    entity: str
    count: bool = False
    fields: tuple[str, ...] = ()
    conditions: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def _tokens(text: str) -> list[Token]:
    out = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        kind = match.lastgroup or "other"
        out.append(Token(kind, match.group(kind), match.start(kind) + 1))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def error(self, token: Token | None = None, expected: str = "") -> faults.QuickBooksFault:
        if token is None:
            return faults.query_parser(f"Encountered \"<EOF>\" at line 1, column {len(self.text) + 1}."
                                       + (f" Was expecting {expected}" if expected else ""))
        return faults.query_parser(f"Encountered \" {token.text} \" at line 1, column {token.column}."
                                   + (f" Was expecting {expected}" if expected else ""))

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self, expected: str = "") -> Token:
        token = self.peek()
        if token is None:
            raise self.error(None, expected)
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        token = self.peek()
        if not self.keyword(word):
            raise self.error(token, word.upper())

    def expect_punct(self, char: str) -> None:
        token = self.next(f'"{char}"')
        if token.kind != "punct" or token.text != char:
            raise self.error(token, f'"{char}"')

    def identifier(self) -> str:
        token = self.next("<IDENTIFIER>")
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise self.error(token, "<IDENTIFIER>")
        return token.text

    def value(self) -> Any:
        token = self.next("a value")
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "number":
            return Decimal(token.text)
        if token.kind == "word" and token.text.lower() in ("true", "false"):
            return token.text.lower() == "true"
        raise self.error(token, "a value")

    def integer(self) -> int:
        token = self.next("<INTEGER>")
        text = token.text.strip("'") if token.kind == "string" else token.text
        if not text.isdigit():
            raise self.error(token, "<INTEGER>")
        return int(text)

    def parse(self) -> Query:
        self.expect_keyword("select")
        count = False
        fields: list[str] = []
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == "*":
            self.index += 1
        elif self.keyword("count"):
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            count = True
        else:
            fields.append(self.identifier())
            while (token := self.peek()) is not None and token.kind == "punct" and token.text == ",":
                self.index += 1
                fields.append(self.identifier())
        self.expect_keyword("from")
        query = Query(self.identifier(), count=count, fields=tuple(fields))
        if self.keyword("where"):
            query.conditions.append(self.condition())
            while self.keyword("and"):
                query.conditions.append(self.condition())
        if self.keyword("order"):
            self.expect_keyword("by")
            ordered = True
        else:
            ordered = self.keyword("orderby")
        if ordered:
            query.order.append(self.order())
            while (token := self.peek()) is not None and token.kind == "punct" and token.text == ",":
                self.index += 1
                query.order.append(self.order())
        if self.keyword("startposition"):
            query.start = max(1, self.integer())
        if self.keyword("maxresults"):
            query.max_results = min(MAX_RESULTS, self.integer())
        token = self.peek()
        if token is not None:
            raise self.error(token)
        return query

    def condition(self) -> Condition:
        path = self.identifier()
        token = self.next("an operator")
        if token.kind == "op" and token.text in ("=", "<", ">", "<=", ">="):
            return Condition(path, token.text, (self.value(),))
        if token.kind == "word" and token.text.lower() == "in":
            self.expect_punct("(")
            values = [self.value()]
            while (following := self.next('")"')).kind == "punct" and following.text == ",":
                values.append(self.value())
            if following.kind != "punct" or following.text != ")":
                raise self.error(following, '")"')
            return Condition(path, "in", tuple(values))
        if token.kind == "word" and token.text.lower() == "like":
            pattern = self.value()
            if not isinstance(pattern, str):
                raise self.error(token, "<STRING>")
            return Condition(path, "like", (pattern,))
        raise self.error(token, '"=", "<", ">", "<=", ">=", "IN" or "LIKE"')

    def order(self) -> tuple[str, bool]:
        path = self.identifier()
        descending = False
        if self.keyword("desc"):
            descending = True
        else:
            self.keyword("asc")
        return path, descending


def parse(text: str) -> Query:
    if not text or not text.strip():
        raise faults.query_parser("Encountered \"<EOF>\" at line 1, column 1. Was expecting SELECT")
    return _Parser(text).parse()


def lookup(body: dict[str, Any], path: str) -> Any:
    """A dotted property, case-insensitively; a reference compares by its ``value``."""
    current: Any = body
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        lowered = part.lower()
        current = next((value for key, value in current.items() if key.lower() == lowered), None)
        if current is None:
            return None
    if isinstance(current, dict) and "value" in current:
        return current["value"]
    return current


def _comparable(stored: Any, literal: Any, path: str) -> tuple[Any, Any]:
    if isinstance(stored, bool) or isinstance(literal, bool):
        if isinstance(literal, str) and literal.lower() in ("true", "false"):
            literal = literal.lower() == "true"
        return stored, literal
    if isinstance(stored, (int, float)):
        try:
            return Decimal(str(stored)), Decimal(str(literal))
        except InvalidOperation:
            raise faults.query_validation(f"{literal!r} is not a number for {path}") from None
    if path.lower().startswith("metadata."):
        try:
            return parse_time(str(stored)), parse_time(str(literal))
        except ValueError:
            raise faults.query_validation(f"{literal!r} is not a dateTime for {path}") from None
    if path.lower() == "id":
        if str(stored).isdigit() and str(literal).isdigit():
            return int(stored), int(literal)
    return str(stored), str(literal) if not isinstance(literal, Decimal) else str(literal)


def _matches(body: dict[str, Any], condition: Condition) -> bool:
    stored = lookup(body, condition.path)
    if stored is None:
        return False
    if condition.op == "like":
        pattern = "^" + ".*".join(re.escape(part) for part in str(condition.values[0]).split("%")) + "$"
        return re.match(pattern, str(stored), re.IGNORECASE | re.DOTALL) is not None
    if condition.op == "in":
        return any(a == b for a, b in (_comparable(stored, value, condition.path) for value in condition.values))
    left, right = _comparable(stored, condition.values[0], condition.path)
    try:
        return {"=": left == right, "<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[condition.op]
    except TypeError:
        return False


def _sort_key(value: Any, path: str) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, Decimal(str(value)))
    if path.lower().startswith("metadata."):
        return (1, parse_time(str(value)))
    if path.lower() == "id" and str(value).isdigit():
        return (1, int(value))
    return (2, str(value).lower())


def run(query: Query, entities: list[dict[str, Any]], queryable: frozenset[str], has_active: bool) -> list[dict[str, Any]] | int:
    """The page (or the count) a query selects from ``entities`` (one company's objects of one entity)."""
    for path in [c.path for c in query.conditions] + [path for path, _ in query.order]:
        if path.lower() not in queryable:
            raise faults.query_validation(f"property '{path}' is not queryable")
    conditions = list(query.conditions)
    if has_active and not any(c.path.lower() == "active" for c in conditions):
        conditions.append(Condition("Active", "=", (True,)))
    selected = [body for body in entities if all(_matches(body, c) for c in conditions)]
    if query.count:
        return len(selected)
    for path, descending in reversed(query.order):
        selected.sort(key=lambda body, p=path: _sort_key(lookup(body, p), p), reverse=descending)
    page = selected[query.start - 1: query.start - 1 + query.max_results]
    if query.fields:
        keep = {f.split(".")[0].lower() for f in query.fields} | {"id", "synctoken", "metadata", "domain", "sparse"}
        page = [{k: v for k, v in body.items() if k.lower() in keep} for body in page]
    return page
