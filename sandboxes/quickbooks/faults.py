"""QuickBooks ``Fault`` answers, shaped as Intuit's JSON API sends them.

    {"Fault": {"Error": [{"Message": ..., "Detail": ..., "code": "610", "element": ""}], "type": "ValidationFault"},
     "time": "2026-01-02T03:04:05.678-08:00"}

Codes and messages follow Intuit's "Error codes" and "Handling common errors" pages (610 Object Not Found,
5010 Stale Object Error, 6240 Duplicate Name Exists, 6140 Duplicate Document Number, 2010 invalid or
unsupported property, 2020 required parameter missing, 2500 invalid reference, 4000/4001 query errors,
401 ``AuthenticationFailed`` 003200, 429 ``ThrottleExceeded`` 003001). Where Intuit documents no code for a
case the sandbox has to answer, the sandbox picks one and the detail says what is wrong: 1001 (a batch over
30 items), 2030 (CDC parameters, older than 30 days), 4005 (``Accept`` not JSON), 4006 (``minorversion``),
6000 (a business rule the sandbox enforces), 6540 (a document with payments applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VALIDATION = "ValidationFault"
SYSTEM = "SystemFault"
AUTHENTICATION = "AUTHENTICATION"
THROTTLE = "SERVICE"


@dataclass(frozen=True, slots=True)
class FaultError:
    message: str
    detail: str
    code: str
    element: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}


class QuickBooksFault(Exception):
    """An answer the API gives as a Fault: HTTP ``status`` with Intuit's body."""

    def __init__(self, status: int, fault_type: str, errors: list[FaultError], *, reason: str = "") -> None:
        super().__init__(errors[0].detail if errors else fault_type)
        self.status = status
        self.fault_type = fault_type
        self.errors = errors
        self.reason = reason or (errors[0].code if errors else fault_type)

    def fault_json(self) -> dict[str, Any]:
        return {"Error": [error.to_json() for error in self.errors], "type": self.fault_type}

    def body(self, time: str) -> dict[str, Any]:
        return {"Fault": self.fault_json(), "time": time}


def validation(message: str, detail: str, code: str, element: str = "", status: int = 400) -> QuickBooksFault:
    return QuickBooksFault(status, VALIDATION, [FaultError(message, detail, code, element)])


def schema_rejected(element: str, reason: str) -> QuickBooksFault:
    """A body Intuit's schema does not accept (Intuit answers 2010 for unknown properties and bad values)."""
    return validation(
        "Request has invalid or unsupported property",
        f"Property Name:{element} specified is unsupported or invalid: {reason}",
        "2010",
        element,
    )


def not_found(entity: str, entity_id: str) -> QuickBooksFault:
    return validation(
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, "
        f"customers, items, vendors or employees. ({entity} {entity_id})",
        "610",
    )


def stale_object(entity: str, entity_id: str, sent: str, current: str) -> QuickBooksFault:
    return validation(
        "Stale Object Error",
        f"Stale Object Error : You and another user were working on this at the same time. The other user finished "
        f"before you did, so your work was not saved. ({entity} {entity_id}: SyncToken {sent} sent, {current} current)",
        "5010",
    )


def required(element: str, what: str = "") -> QuickBooksFault:
    return validation(
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request{': ' + what if what else ''}",
        "2020",
        element,
    )


def invalid_reference(element: str, entity: str, ref: str) -> QuickBooksFault:
    return validation(
        "Invalid Reference Id",
        f"Invalid Reference Id : {entity} assigned to this transaction has been deleted or made inactive, or does "
        f"not exist ({element} = {ref!r}).",
        "2500",
        element,
    )


def business(detail: str, code: str = "6000", element: str = "") -> QuickBooksFault:
    return validation("A business validation error has occurred while processing your request", detail, code, element)


def duplicate_name(name: str) -> QuickBooksFault:
    return validation(
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Another customer, vendor or employee is already using this name "
        f"({name!r}). Please use a different name.",
        "6240",
        "DisplayName",
    )


def duplicate_doc_number(number: str) -> QuickBooksFault:
    return validation(
        "Duplicate Document Number Error",
        f"Duplicate Document Number Error : You must specify a different number. This number has already been "
        f"used. DocNumber={number}",
        "6140",
        "DocNumber",
    )


def unsupported_operation(detail: str) -> QuickBooksFault:
    return validation("Unsupported Operation", f"Operation {detail} is not supported.", "500")


def query_parser(detail: str) -> QuickBooksFault:
    return validation("Error parsing query", f"QueryParserError: {detail}", "4000")


def query_validation(detail: str) -> QuickBooksFault:
    return validation("Invalid query", f"QueryValidationError: {detail}", "4001")


def authentication(detail: str) -> QuickBooksFault:
    return QuickBooksFault(
        401,
        AUTHENTICATION,
        [FaultError("message=AuthenticationFailed; errorCode=003200; statusCode=401", detail, "3200")],
        reason="authentication",
    )


def throttled(reason: str) -> QuickBooksFault:
    return QuickBooksFault(
        429,
        THROTTLE,
        [FaultError("message=ThrottleExceeded; errorCode=003001; statusCode=429",
                    f"The request limit was reached ({reason}).", "003001")],
        reason=reason,
    )


def system(status: int = 500, detail: str = "An application error has occurred while processing your request") -> QuickBooksFault:
    return QuickBooksFault(
        status, SYSTEM, [FaultError("An application error has occurred while processing your request", detail, "10000")],
        reason="system",
    )
