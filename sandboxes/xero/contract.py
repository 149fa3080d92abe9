"""Xero's official OpenAPI definitions as the local Xero's contract: every request and answer is checked here.

The definitions (``spec/xero_accounting.yaml``, ``spec/xero-identity.yaml``, Xero's own, unchanged) are
checked with openapi-core, with three settings that make the check mean something for this file:

- openapi-core's own check *of the definition* is off: the file has string defaults on booleans
  (``default: "false"``), which that check rejects although request and response checking works.
- ``additionalProperties`` is treated as ``false`` where the definition says nothing, so a misspelled
  field (``"Refrence"``) is refused instead of silently ignored. Answers are checked the same strict way,
  after taking off the envelope that Xero puts on every answer (``Id``, ``Status``, ``ProviderName``,
  ``DateTimeUTC``: in the definition's examples, not in its schemas).
- Xero's dates are strings with a vendor mark instead of a ``format`` (``x-is-msdate``,
  ``x-is-msdate-time``); a keyword of our own enforces what the mark means (a ``YYYY-MM-DD[Thh:mm:ss]``
  date or Xero's ``/Date(ms+zzzz)/``), so a malformed date is refused as Xero refuses it.

Requests are checked with the definition's *write* rules (``readOnly`` fields such as ``Total`` or
``UpdatedDateUTC`` are refused) and answers with its *read* rules. ``validate_request`` and
``validate_response`` are public so the Xero adapter's own tests can check what it sends.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from openapi_core.validation.schemas.factories import SchemaValidatorsFactory
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sandboxes.xero.formats import is_xero_date, is_xero_datetime

SPEC_DIR = Path(__file__).with_name("spec")
ACCOUNTING_PREFIX = "/api.xro/2.0"
ENVELOPE = ("Id", "Status", "ProviderName", "DateTimeUTC")


class SpecViolation(ValueError):
    """A request or answer that does not conform to Xero's definition; ``problems`` say where and why."""

    def __init__(self, summary: str, problems: list[str]) -> None:
        super().__init__(summary + (": " + "; ".join(problems) if problems else ""))
        self.summary = summary
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the definition, found from a request's method and (case-insensitive) path."""

    api: str  # "accounting" | "identity"
    method: str
    template: str  # the definition's path, e.g. "/Invoices/{InvoiceID}"
    path: str  # the request's path spelled as the definition spells it, e.g. "/Invoices/9c1f..."
    params: Mapping[str, str]
    operation_id: str
    scopes: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.template


@dataclass(frozen=True, slots=True)
class _Request:
    """What openapi-core reads of a request (its Request protocol)."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(compare=False)


@dataclass(frozen=True, slots=True)
class _Response:
    data: bytes
    status_code: int
    content_type: str
    headers: Headers


def _msdate(check: Any, what: str) -> Any:
    def keyword(validator: Any, marked: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[ValidationError]:
        if marked and isinstance(instance, str) and not check(instance):
            yield ValidationError(f"{instance!r} is not a {what}")

    return keyword


_DATE_KEYWORDS = {
    "x-is-msdate": _msdate(is_xero_date, "date (YYYY-MM-DD or /Date(ms+zzzz)/)"),
    "x-is-msdate-time": _msdate(is_xero_datetime, "date-time (YYYY-MM-DDThh:mm:ss or /Date(ms+zzzz)/)"),
}


class _BearerToken(BaseProvider):
    """OAuth2 as far as a request shows it: an ``Authorization: Bearer …`` header (openapi-core only warns
    that it cannot check OAuth2). Whether the token is good, and its scopes, is the app's business."""

    def __call__(self, parameters: RequestParameters) -> str:
        scheme, _, token = str(parameters.header.get("Authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SecurityProviderError("Missing bearer token (Authorization: Bearer ...).")
        return token


class _SecurityProviders(SecurityProviderFactory):
    PROVIDERS = {**SecurityProviderFactory.PROVIDERS, "oauth2": _BearerToken}


class Contract:
    """The two definitions, loaded once, with the path index the app dispatches on."""

    def __init__(self) -> None:
        self.documents = {
            "accounting": _load(SPEC_DIR / "xero_accounting.yaml"),
            "identity": _load(SPEC_DIR / "xero-identity.yaml"),
        }
        self._servers = {name: doc["servers"][0]["url"] for name, doc in self.documents.items()}
        self._prefixes = {"accounting": ACCOUNTING_PREFIX, "identity": ""}
        self._requests = {
            name: OpenAPI.from_dict(doc, config=_config(OAS30WriteValidator)) for name, doc in self.documents.items()
        }
        self._responses = {
            name: OpenAPI.from_dict(doc, config=_config(OAS30ReadValidator)) for name, doc in self.documents.items()
        }
        self._index: list[tuple[str, re.Pattern[str], str, list[str]]] = []
        self._good: set[bytes] = set()  # digests of objects already found to conform (answers only)
        self._item_validators: dict[tuple[str, str], Any] = {}
        for api, doc in self.documents.items():
            # Literal paths before templated ones, and {…ID} before other templates (/Contacts/{ContactID}
            # and /Contacts/{ContactNumber} are both in the definition; a GUID is an id).
            for template in sorted(doc["paths"], key=lambda p: (p.count("{"), "ID}" not in p, p)):
                names = re.findall(r"{([^}]+)}", template)
                pattern = re.escape(self._prefixes[api] + template)
                for name in names:
                    pattern = pattern.replace(re.escape("{" + name + "}"), "([^/]+)")
                self._index.append((api, re.compile(f"^{pattern}$", re.IGNORECASE), template, names))

    def find(self, method: str, path: str) -> Operation | None:
        """The operation a request is for; Xero's paths are case-insensitive (``/connections``, ``/invoices``)."""
        method = method.lower()
        for api, pattern, template, names in self._index:
            match = pattern.match(path)
            if match is None:
                continue
            item = self.documents[api]["paths"][template]
            if method not in item:
                continue
            values = dict(zip(names, match.groups(), strict=True))
            spelled = template
            for name, value in values.items():
                spelled = spelled.replace("{" + name + "}", value)
            operation = item[method]
            scopes: tuple[str, ...] = ()
            for requirement in operation.get("security", []):
                scopes += tuple(requirement.get("OAuth2", []))
            return Operation(api, method.upper(), template, spelled, values, operation["operationId"], scopes)
        return None

    def validate_request(
        self,
        operation: Operation,
        *,
        query: Mapping[str, str] | list[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Raise ``SpecViolation`` unless the request conforms to the operation's parameters and body."""
        request = self._request(operation, query, headers or {}, body, content_type)
        try:
            self._requests[operation.api].validate_request(request)
        except OpenAPIError as exc:
            raise SpecViolation(
                f"{operation.method} {operation.template} does not conform to Xero's definition", _problems(exc)
            ) from None

    def validate_response(
        self,
        operation: Operation,
        status: int,
        body: Any,
        *,
        content_type: str = "application/json",
    ) -> bool:
        """Raise ``SpecViolation`` unless the answer conforms; False when the definition documents no such status.

        ``body`` is the JSON value about to be sent (the envelope is taken off before the strict check).
        A list of objects (``{"Invoices": [...]}``) is checked as two parts that together are the whole
        answer: the answer with the list emptied, through openapi-core, and each object against the
        definition's schema for it, remembering the objects already found good (a page of 1,000 invoices
        takes over a second to check, and a sync reads the same objects again and again).
        """
        responses = self.documents[operation.api]["paths"][operation.template][operation.method.lower()]["responses"]
        if str(status) not in responses and "default" not in responses:
            return False
        if isinstance(body, dict):
            body = {key: value for key, value in body.items() if key not in ENVELOPE}
            listed = self._listed_schema(operation.api, responses.get(str(status)), body)
            if listed is not None:
                key, item_schema = listed
                self._validate_items(operation, status, item_schema, key, body[key])
                body = {**body, key: []}
        data = b"" if body is None else json.dumps(body, default=str).encode()
        request = self._request(operation, (), {}, None, content_type)
        response = _Response(data, status, content_type if body is not None else "", Headers())
        try:
            self._responses[operation.api].validate_response(request, response)
        except OpenAPIError as exc:
            raise SpecViolation(
                f"answer {status} to {operation.method} {operation.template} does not conform to Xero's definition",
                _problems(exc),
            ) from None
        return True

    def _listed_schema(self, api: str, response: Any, body: dict[str, Any]) -> tuple[str, str] | None:
        """The key and item schema name of the answer's list of objects, e.g. ("Invoices", "Invoice")."""
        try:
            ref = response["content"]["application/json"]["schema"]["$ref"]
        except (KeyError, TypeError):
            return None
        schemas = self.documents[api]["components"]["schemas"]
        for key, prop in schemas[ref.rsplit("/", 1)[-1]].get("properties", {}).items():
            item_ref = prop.get("items", {}).get("$ref") if prop.get("type") == "array" else None
            if item_ref and isinstance(body.get(key), list) and body[key]:
                return key, item_ref.rsplit("/", 1)[-1]
        return None

    def _validate_items(self, operation: Operation, status: int, name: str, key: str, items: list[Any]) -> None:
        validator = self._item_validator(operation.api, name)
        problems: list[str] = []
        for index, item in enumerate(items):
            digest = hashlib.sha1(json.dumps(item, sort_keys=True, default=str).encode()).digest()  # noqa: S324
            if digest in self._good:
                continue
            errors = sorted(validator.iter_errors(item), key=lambda e: list(e.absolute_path))
            if errors:
                problems += [_describe(e, prefix=(key, index)) for e in errors]
            else:
                if len(self._good) > 500_000:
                    self._good.clear()
                self._good.add(digest)
        if problems:
            raise SpecViolation(
                f"answer {status} to {operation.method} {operation.template} does not conform to Xero's definition",
                problems,
            )

    def _item_validator(self, api: str, name: str) -> Any:
        cached = self._item_validators.get((api, name))
        if cached is None:
            spec = SchemaPath.from_dict(self.documents[api])
            factory = SchemaValidatorsFactory(_strict(OAS30ReadValidator))
            cached = factory.create(spec, spec / "components" / "schemas" / name,
                                    forbid_unspecified_additional_properties=True).validator
            self._item_validators[(api, name)] = cached
        return cached

    def validate_schema(self, api: str, name: str, value: Any) -> None:
        """Check a value against one of the definition's component schemas (read rules), e.g. ``AccessToken``."""
        schema = self.documents[api]["components"]["schemas"][name]
        validator = _strict(OAS30ReadValidator)(schema)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            raise SpecViolation(f"{name} does not conform to Xero's definition", [_describe(e) for e in errors])

    def _request(
        self,
        operation: Operation,
        query: Mapping[str, str] | list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes | None,
        content_type: str,
    ) -> _Request:
        items = list(query.items()) if isinstance(query, Mapping) else list(query)
        server = self._servers[operation.api]
        base = server[len("https://api.xero.com"):] if server.startswith("https://api.xero.com") else ""
        return _Request(
            host_url="https://api.xero.com",
            path=base + operation.path,
            method=operation.method.lower(),
            body=body,
            content_type=content_type,
            parameters=RequestParameters(
                query=ImmutableMultiDict(items), header=Headers(list(headers.items())), cookie=ImmutableMultiDict()
            ),
        )


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (a safe loader)


def _strict(base: type) -> Any:
    return extend(base, _DATE_KEYWORDS)


def _config(base: type) -> Config:
    return Config(
        spec_validator_cls=None,
        additional_properties_default_policy="forbid",
        schema_validators_factory=SchemaValidatorsFactory(_strict(base)),
        security_provider_factory=_SecurityProviders(),
    )


def _describe(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    path = (*prefix, *error.absolute_path)
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")
    return f"{where}: {error.message}" if where else error.message


def _problems(exc: BaseException) -> list[str]:
    """The schema errors under an openapi-core exception, each with the JSON path of the offending value."""
    problems: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        schema_errors = getattr(current, "schema_errors", None)
        if schema_errors:
            problems += [_describe(error) for error in schema_errors]
            name = getattr(exc, "name", None)
            if name:
                problems = [f"{name}: {problem}" for problem in problems]
            return problems
        current = current.__cause__ or current.__context__
    return [str(exc)]


@cache
def contract() -> Contract:
    """The process's one ``Contract`` (loading the definitions takes about 0.3 s)."""
    return Contract()


def validate_request(
    method: str,
    path: str,
    *,
    query: Mapping[str, str] | list[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> Operation:
    """Check a request as the local Xero does (``body`` as JSON-able data or bytes); raise ``SpecViolation``.

    ``path`` is the URL's path, e.g. ``/api.xro/2.0/Invoices`` or ``/connections``.
    """
    found = contract().find(method, path)
    if found is None:
        raise SpecViolation(f"{method} {path} is not an operation of Xero's definition", [])
    raw = body if body is None or isinstance(body, bytes) else json.dumps(body, default=str).encode()
    contract().validate_request(found, query=query, headers=headers, body=raw)
    return found


def validate_response(method: str, path: str, status: int, body: Any) -> bool:
    """Check an answer as the local Xero does before sending it; raise ``SpecViolation``."""
    found = contract().find(method, path)
    if found is None:
        raise SpecViolation(f"{method} {path} is not an operation of Xero's definition", [])
    return contract().validate_response(found, status, body)
