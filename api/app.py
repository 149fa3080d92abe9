"""The HTTP API: ``uvicorn api.app:app`` (or ``booksync api``)."""

from __future__ import annotations

import json
import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, ErrorDetail, ValidationErrorItem, field_path
from config import get_settings

log = structlog.get_logger(__name__)

DESCRIPTION = """\
booksync keeps each organization's accounting system (Tryton, Xero, QuickBooks Online) in step with the
platform's bills, invoices and tax rates.

It mirrors a public accounting-integration API (docs/api-extensions.md lists what it adds): paths use `-`
where that API uses `_`, and its entity header is `X-Organization-Id`; requests in that API's spelling
(`/accounting_synced_records`, `x-monite-entity-id`) are answered the same. Every request carries
`Authorization: Bearer <API key>`; organization-scoped calls carry `X-Organization-Id`.

**Units.** The accounting system's documents (`/accounting/payables`, `/accounting/receivables`) carry
amounts as JSON numbers in the document's currency, with the currency's exact digits (`144.00` USD,
`1000` JPY, `1.234` KWD). booksync's own intake (`PUT /payables|receivables/{id}`) takes integers in
minor units of the currency (12.50 EUR is 1250), as the platform's documents are. Tax rates are integers
in hundredths of a percent (20% is 2000) everywhere.

**No nulls.** A field without a value is left out, never `null`.

**Errors** are `{"error": {"message": ...}}`; a 422 names the field at fault and also carries the
reference's `{"detail": [{"loc", "msg", "type"}]}`.

**Pages.** `limit` defaults to 250. With `pagination_token`, every other parameter except `limit` is
ignored and taken from the token.
"""


class BodySizeLimit:
    """Refuse bodies over ``api_max_body_bytes`` (413) before anything parses them, chunked ones included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().api_max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await _too_large(limit)(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        ApiError(413, f"request body larger than {limit} bytes").body(),
        status_code=413,
        headers={"Connection": "close"},
    )


def _detail(error: dict[str, Any]) -> ErrorDetail:
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return ErrorDetail(field="body", message=f"is not valid JSON ({reason})".replace(" ()", ""))
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "field required"
    else:
        message = message[:1].lower() + message[1:]
    return ErrorDetail(field=field_path(error.get("loc", ())), message=message)


def _reference_item(error: dict[str, Any]) -> ValidationErrorItem:
    loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())] or ["body"]
    return ValidationErrorItem(loc=loc, msg=str(error.get("msg", "is invalid")), type=str(error.get("type", "")))


async def _on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    details = [_detail(error) for error in errors]
    message = "; ".join(f"{d.field}: {d.message}" for d in details[:5]) or "invalid request"
    error = ApiError(422, message, details=details, validation=[_reference_item(e) for e in errors])
    return JSONResponse(error.body(), status_code=422)


async def _on_api_error(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route of this path takes. Starlette's 405 names only the first route that
    matched the path (``/accounting-connections`` has a GET route and a POST route: it said ``GET``).
    FastAPI (0.163, pinned) nests included routers; ``iter_route_contexts`` lists their routes flat."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(request.app.state, "route_methods", None)
    if table is None:
        table = [
            (compile_path(context.path)[0], set(context.methods))
            for context in iter_route_contexts(request.app.routes)
            if context.path and context.methods
        ]
        request.app.state.route_methods = table
    path = request.url.path
    return {method for pattern, methods in table if pattern.match(path) for method in methods}


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(sorted(allowed))
    return JSONResponse(ApiError(exc.status_code, message).body(), status_code=exc.status_code, headers=headers)


DATABASE_RETRY_AFTER_SECONDS = 5


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that is away answers 503 (the client retries); any other database error is ours: 500."""
    from models.db import is_outage

    if is_outage(exc):
        log.warning("api.database_unavailable", method=request.method, path=request.url.path,
                    error=type(getattr(exc, "orig", None) or exc).__name__)
        return JSONResponse(
            ApiError(503, "the database is unavailable; nothing was changed, try again shortly").body(),
            status_code=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    return await _on_unexpected(request, exc)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("api.unhandled_error", method=request.method, path=request.url.path)
    return JSONResponse(ApiError(500, "internal error; it has been logged").body(), status_code=500)


def create_app() -> FastAPI:
    from api.reference_spelling import ReferenceSpelling
    from api.ops import router as ops_router
    from api.routes import (
        accounting_documents,
        connection_defaults,
        connections,
        intake,
        ledger_accounts,
        oauth,
        organizations,
        payments,
        synced_records,
        tax_rates,
    )

    app = FastAPI(
        title="booksync",
        version="1",
        description=DESCRIPTION,
        generate_unique_id_function=lambda route: route.name,
    )
    app.add_middleware(BodySizeLimit)
    app.add_middleware(ReferenceSpelling)
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(SQLAlchemyError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.include_router(ops_router)
    routers = (organizations, connections, connection_defaults, synced_records, accounting_documents, tax_rates,
               ledger_accounts, intake, payments)
    for module in routers:
        app.include_router(module.router)
    app.include_router(oauth.router)
    app.include_router(oauth.callback_router)
    from api.routes import webhook_deliveries, webhook_subscriptions

    app.include_router(webhook_subscriptions.router)
    app.include_router(webhook_deliveries.router)
    return app


app = create_app()
