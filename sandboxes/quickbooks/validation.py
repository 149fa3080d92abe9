"""QuickBooks Online JSON bodies checked against Intuit's XML Schema (``schema/``, Intuit's Java SDK, Apache-2.0).

Intuit's v3 JSON API is generated from the same XSD as its XML API, with the same element names. A JSON
body is mapped onto xmlschema's dict form, walking the schema's own types, and encoded with
``xmlschema.UnorderedConverter`` under ``validation="strict"``:

- a key of a JSON object is a child element, or an attribute of that element's type (``"domain"``,
  ``"sparse"``, a ``QueryResponse``'s ``"startPosition"``, an ``Error``'s ``"code"``, a response's ``"time"``,
  a batch item's ``"bId"``/``"operation"``) which becomes ``"@name"``;
- a type with simple content, such as ``ReferenceType`` (``{"value": "56", "name": "Bob"}``), takes
  ``"value"`` as its text (``"$"``) and its other keys as attributes;
- a repeated element (``maxOccurs`` above 1: ``Line``, ``LinkedTxn``, ``TaxLine``, ``BatchItemRequest``) is a
  JSON array; an array where the schema allows one element is an error;
- ``IntuitObject`` is an abstract head: ``"Invoice"`` inside ``IntuitResponse``, ``QueryResponse``,
  ``BatchItemRequest`` or ``BatchItemResponse`` is one of its substitutes;
- JSON ``null`` is "not sent" (Intuit's deserializer treats it so) and is dropped.

A key the schema does not know is reported by its JSON path (``Bill.Lines``) before xmlschema runs; a
value xmlschema rejects (a malformed date, a ``DetailType`` outside the enumeration, a non-decimal
``Amount``) is reported by the element xmlschema names. Loading the schema takes about half a second, so it
is loaded once per process (:func:`intuit_schema`).

xmlschema spends 1.5-3 ms on an invoice. For benchmarks, :func:`set_mode` ``"fast"`` first builds the same
dict as ordered XML (children in the schema's declaration order) and lets libxml2 (lxml) validate it against
the same XSD in microseconds; only a body libxml2 refuses goes through xmlschema, which stays the judge and
writes the message. ``"both"`` runs both on every body and raises :class:`ValidatorDisagreement` when they
differ (the tests run the server so, to keep the fast path honest).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from decimal import Decimal
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import xmlschema
from xmlschema.validators import XsdComplexType, XsdElement

SCHEMA_DIR = Path(__file__).with_name("schema")
ROOT_XSD = SCHEMA_DIR / "IntuitRestServiceDef.xsd"
NAMESPACE = "http://schema.intuit.com/finance/v3"
_NS_PREFIX = "{" + NAMESPACE + "}"


_MODES = ("xmlschema", "fast", "both")
_mode = "xmlschema"


def set_mode(mode: str) -> None:
    """``xmlschema`` (the default), ``fast`` (libxml2 first) or ``both`` (cross-checked)."""
    global _mode
    if mode not in _MODES:
        raise ValueError(f"validation mode must be one of {', '.join(_MODES)}")
    _mode = mode


class ValidatorDisagreement(AssertionError):
    """libxml2 and xmlschema judged one body differently (``both`` mode)."""


class SchemaValidationError(ValueError):
    """A body Intuit's schema rejects. ``element`` names the offending element (its JSON path when known)."""

    def __init__(self, element: str, reason: str) -> None:
        super().__init__(f"{element}: {reason}")
        self.element = element
        self.reason = reason


@lru_cache(maxsize=1)
def intuit_schema() -> xmlschema.XMLSchema:
    """Intuit's schema, parsed once per process (about half a second)."""
    return xmlschema.XMLSchema(str(ROOT_XSD))


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a complex type's JSON object may hold."""

    attributes: frozenset[str]
    children: dict[str, tuple[XsdElement, bool]]  # name -> (element, repeats)
    simple_content: bool
    open_content: bool


@lru_cache(maxsize=4096)
def _shape(xsd_type: XsdComplexType) -> _Shape:
    attributes = frozenset(name for name in xsd_type.attributes if isinstance(name, str))
    children: dict[str, tuple[XsdElement, bool]] = {}
    open_content = False
    if not xsd_type.has_simple_content() and xsd_type.content is not None and not xsd_type.is_empty():
        for element in xsd_type.content.iter_elements():
            if not isinstance(element, XsdElement):
                open_content = True  # an xs:any wildcard (IntuitAnyType)
                continue
            repeats = element.max_occurs != 1 or _in_repeated_group(element)
            if element.abstract or element.name == _NS_PREFIX + "IntuitObject":
                for substitute in element.iter_substitutes():
                    children.setdefault(substitute.local_name, (substitute, repeats))
                if element.abstract:
                    continue
            children.setdefault(element.local_name, (element, repeats))
    return _Shape(attributes, children, xsd_type.has_simple_content(), open_content)


def _in_repeated_group(element: XsdElement) -> bool:
    group = element.parent
    while group is not None and not isinstance(group, XsdComplexType):
        if getattr(group, "max_occurs", 1) != 1:
            return True
        group = group.parent
    return False


def _local(tag: str | None) -> str:
    if not tag:
        return "?"
    return tag.rsplit("}", 1)[-1]


def _convert(xsd_type: Any, value: Any, path: str) -> Any:
    if xsd_type.is_simple():
        if isinstance(value, (dict, list)):
            raise SchemaValidationError(path, f"a {type(value).__name__} where the schema wants a simple value")
        if isinstance(value, bool) and xsd_type.primitive_type.local_name != "boolean":
            raise SchemaValidationError(path, f"boolean {json.dumps(value)} where the schema wants {xsd_type.primitive_type.local_name}")
        return value
    shape = _shape(xsd_type)
    if not isinstance(value, dict):
        if shape.simple_content and not isinstance(value, list):
            raise SchemaValidationError(path, 'a bare value where the schema wants an object ({"value": ...})')
        raise SchemaValidationError(path, f"a {type(value).__name__} where the schema wants an object")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            continue
        if shape.simple_content and key == "value":
            out["$"] = _convert(xsd_type.content, item, f"{path}.value")
        elif key in shape.attributes:
            if isinstance(item, (dict, list)):
                raise SchemaValidationError(f"{path}.{key}", "an attribute takes a simple value")
            out["@" + key] = item
        elif key in shape.children:
            element, repeats = shape.children[key]
            child_path = f"{path}.{key}"
            if isinstance(item, list):
                if not repeats:
                    raise SchemaValidationError(child_path, "an array where the schema allows one element")
                out[key] = [_convert(element.type, entry, f"{child_path}[{index}]") for index, entry in enumerate(item)]
            else:
                out[key] = _convert(element.type, item, child_path)
        elif shape.open_content:
            out[key] = item
        else:
            raise SchemaValidationError(f"{path}.{key}", "not an element or attribute of this type in Intuit's schema")
    return out


def to_xmlschema_dict(element_name: str, body: Any) -> dict[str, Any]:
    """``body`` (QuickBooks JSON) in xmlschema's dict form for the global element ``element_name``."""
    element = _element(element_name)
    return _convert(element.type, body, element_name)


def _element(name: str) -> XsdElement:
    try:
        return intuit_schema().elements[name]
    except KeyError:
        raise SchemaValidationError(name, "no such global element in Intuit's schema") from None


def validate_element(element_name: str, body: Any) -> None:
    """Raise :class:`SchemaValidationError` unless ``body`` is a valid ``element_name`` in Intuit's schema."""
    element = _element(element_name)
    data = _convert(element.type, body, element_name)
    if _mode == "xmlschema":
        _xmlschema_check(element, element_name, data)
        return
    fast_ok = _libxml2_accepts(element, data)
    if _mode == "fast":
        if not fast_ok:
            _xmlschema_check(element, element_name, data)
        return
    try:
        _xmlschema_check(element, element_name, data)
    except SchemaValidationError:
        if fast_ok:
            raise ValidatorDisagreement(f"libxml2 accepted a {element_name} xmlschema rejects") from None
        raise
    if not fast_ok:
        raise ValidatorDisagreement(f"libxml2 rejected a {element_name} xmlschema accepts: {_libxml2_error(element, data)}")


def _xmlschema_check(element: XsdElement, element_name: str, data: dict[str, Any]) -> None:
    try:
        element.encode(data, converter=xmlschema.UnorderedConverter, validation="strict", namespaces={"": NAMESPACE})
    except xmlschema.XMLSchemaValidationError as exc:
        tag = getattr(exc.elem, "tag", None)
        name = _local(tag) if isinstance(tag, str) else element_name
        reason = str(exc.reason or exc.message).replace(_NS_PREFIX, "")
        raise SchemaValidationError(name, reason) from None


@lru_cache(maxsize=1)
def _libxml2_schema() -> Any:
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(ROOT_XSD)))


@lru_cache(maxsize=4096)
def _declaration_order(xsd_type: XsdComplexType) -> dict[str, int]:
    order: dict[str, int] = {}
    if xsd_type.has_simple_content() or xsd_type.content is None or xsd_type.is_empty():
        return order
    for index, element in enumerate(xsd_type.content.iter_elements()):
        if not isinstance(element, XsdElement):
            continue
        if element.abstract or element.name == _NS_PREFIX + "IntuitObject":
            for substitute in element.iter_substitutes():
                order.setdefault(substitute.local_name, index)
        order.setdefault(element.local_name, index)
    return order


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def _fill(node: Any, xsd_type: Any, data: Any) -> None:
    from lxml import etree

    if xsd_type.is_simple() or not isinstance(data, dict):
        node.text = _text(data)
        return
    shape = _shape(xsd_type)
    order = _declaration_order(xsd_type)
    children = []
    for key, value in data.items():
        if key == "$":
            node.text = _text(value)
        elif key.startswith("@"):
            node.set(key[1:], _text(value))
        else:
            children.append((order.get(key, 1 << 30), key, value))
    children.sort(key=lambda child: child[0])
    for _, key, value in children:
        found = shape.children.get(key)
        for item in value if isinstance(value, list) else [value]:
            child = etree.SubElement(node, _NS_PREFIX + key)
            if found is None:
                child.text = _text(item) if not isinstance(item, (dict, list)) else None
            else:
                _fill(child, found[0].type, item)


def _root(element: XsdElement, data: dict[str, Any]) -> Any:
    from lxml import etree

    root = etree.Element(_NS_PREFIX + element.local_name, nsmap={None: NAMESPACE})
    _fill(root, element.type, data)
    return root


def _libxml2_accepts(element: XsdElement, data: dict[str, Any]) -> bool:
    return bool(_libxml2_schema().validate(_root(element, data)))


def _libxml2_error(element: XsdElement, data: dict[str, Any]) -> str:
    schema = _libxml2_schema()
    schema.validate(_root(element, data))
    return str(schema.error_log.last_error)


def validate_entity(name: str, json_body: Any) -> None:
    """Check one entity's JSON (a request body such as a Bill to create) against its element, e.g. ``Bill``.

    Raises :class:`SchemaValidationError` whose ``element`` names what is wrong.
    """
    validate_element(name, json_body)


def validate_response(json_body: Any) -> None:
    """Check a whole Accounting API answer (``{"Invoice": {...}, "time": ...}``) as an ``IntuitResponse``."""
    validate_element("IntuitResponse", json_body)


def validate_batch_request(json_body: Any) -> None:
    """Check a ``POST /batch`` body (``{"BatchItemRequest": [...]}``) as an ``IntuitBatchRequest``."""
    validate_element("IntuitBatchRequest", json_body)


class CachedEntityValidator:
    """Validates answers whose entities repeat (a query page re-sends stored objects) without re-encoding them.

    The validator is deterministic, so an entity whose exact JSON already passed passes again; the answer's
    own frame (``QueryResponse`` attributes, ``time``, ``Fault``) is still validated every time, with each
    entity replaced by its ``Id`` stub only after that entity itself was validated in full.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._max = max_entries

    def entity(self, name: str, body: dict[str, Any]) -> None:
        digest = hashlib.blake2b(f"{name}\0".encode() + json.dumps(body, sort_keys=True, default=str).encode(), digest_size=16).digest()
        if digest in self._seen:
            self._seen.move_to_end(digest)
            return
        validate_entity(name, body)
        self._seen[digest] = None
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)

    def response(self, body: dict[str, Any]) -> None:
        validate_response(_frame(body, self))


_CONTAINERS = ("QueryResponse", "CDCResponse", "BatchItemResponse")


@lru_cache(maxsize=1)
def entity_names() -> frozenset[str]:
    """The elements that substitute for ``IntuitObject``: the entities an answer can carry."""
    head = intuit_schema().elements["IntuitObject"]
    return frozenset(element.local_name for element in head.iter_substitutes())


def _frame(body: dict[str, Any], validator: CachedEntityValidator) -> dict[str, Any]:
    """``body`` with every entity validated on its own and replaced by an empty stub of the same element."""
    entities = entity_names()

    def strip(container: Any) -> Any:
        if isinstance(container, list):
            return [strip(item) for item in container]
        if not isinstance(container, dict):
            return container
        out: dict[str, Any] = {}
        for key, value in container.items():
            if key in _CONTAINERS:
                out[key] = strip(value)
            elif key in entities and isinstance(value, (dict, list)):
                items = value if isinstance(value, list) else [value]
                for item in items:
                    if isinstance(item, dict):
                        validator.entity(key, item)
                    else:
                        validate_entity(key, item)
                out[key] = [{} for _ in items] if isinstance(value, list) else {}
            else:
                out[key] = value
        return out

    return strip(body)
