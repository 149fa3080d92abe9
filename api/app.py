"""The HTTP API: ``uvicorn api.app:app`` (or ``booksync api``)."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, ErrorDetail, field_path
from config import get_settings

log = structlog.get_logger(__name__)

DESCRIPTION = """\
booksync keeps each organization's accounting system (Tryton, Xero, QuickBooks Online) in step with the
platform's bills, invoices and tax rates.

Every request carries `Authorization: Bearer <API key>`; organization-scoped calls carry
`X-Organization-Id`. Errors are `{"error": {"message": ...}}`; a 422 names the field at fault.
Amounts are integers in minor units of their currency; tax rates in hundredths of a percent.
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


async def _on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = [_detail(error) for error in exc.errors()]
    message = "; ".join(f"{d.field}: {d.message}" for d in details[:5]) or "invalid request"
    return JSONResponse(ApiError(422, message, details=details).body(), status_code=422)


async def _on_api_error(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


async def _on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    return JSONResponse(ApiError(exc.status_code, message).body(), status_code=exc.status_code, headers=exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("api.unhandled_error", method=request.method, path=request.url.path)
    return JSONResponse(ApiError(500, "internal error; it has been logged").body(), status_code=500)


def create_app() -> FastAPI:
    from api.ops import router as ops_router
    from api.routes import (
        accounting_documents,
        connections,
        intake,
        ledger_accounts,
        organizations,
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
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
    app.include_router(ops_router)
    routers = (organizations, connections, synced_records, accounting_documents, tax_rates, ledger_accounts, intake)
    for module in routers:
        app.include_router(module.router)
    return app


app = create_app()
